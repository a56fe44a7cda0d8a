"""All site knowledge lives in profiles (issue #15): no host, slug, URL pattern, query-parameter
name, masthead line, title suffix or time zone of a built-in profile appears as a string literal
in the packages' code outside ``parsers/profiles/`` (fixtures/ is the replica: it may know).

The needles are built from the profiles' own values, so a new built-in profile or key widens the
scan by itself. Docstrings and comments are prose and not scanned; string literals are."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from vksnd.parsers.profiles.load import builtin_names, builtin_profile
from vksnd.parsers.profiles.model import SiteProfile

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("crawler", "parsers", "storage")
EXEMPT = ROOT / "parsers" / "profiles"
# Values too generic to be site knowledge (a CSS tag name, a one-word selector every site has).
GENERIC = frozenset({"script", "style", "noscript", "iframe", "form", "nav", "time", "h1", "page"})


def _needles(profile: SiteProfile) -> dict[str, str]:
    """needle (lowercase) -> the profile key it comes from."""
    found: dict[str, str] = {}
    for host in profile.hosts:
        found[host] = "hosts"
    found[profile.base_url] = "base_url"
    found[profile.article_path.pattern] = "urls.article"
    for form in profile.legacy:
        found[form.path.pattern] = "urls.legacy.path"
        found[form.id_param] = "urls.legacy.id_param"
        for name in form.keep:
            found[name] = "urls.legacy.keep"
        if form.category_param:
            found[form.category_param] = "urls.legacy.category_param"
    if profile.listing_page_param:
        found[profile.listing_page_param] = "listing.page_param"
    found[profile.listing_url_template] = "listing.template"
    for category in profile.categories:
        found[category.slug] = "listing.categories"
        for part in category.slug.split("/"):
            found[part] = "listing.categories"
    for line in profile.text.masthead:
        found[line] = "text.masthead"
    for line in profile.text.chrome_phrases:
        found[line] = "text.chrome_phrases"
    if profile.text.title_suffix is not None:
        found[profile.text.title_suffix.pattern] = "text.title_suffix"
    found[profile.time_zone] = "time_zone"
    for feed in profile.discovery.feeds:
        found[feed] = "discovery.feeds"
    return {k.lower(): v for k, v in found.items() if k.lower() not in GENERIC and len(k) >= 4}


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _is_word_hit(needle: str, text: str) -> bool:
    """``needle`` in ``text`` not as part of a longer word (``Cat`` is not in ``Category``)."""
    pattern = r"(?<![a-z0-9])" + re.escape(needle) + r"(?![a-z0-9])"
    return re.search(pattern, text) is not None


def site_literals() -> list[str]:
    needles: dict[str, str] = {}
    for name in builtin_names():
        for needle, key in _needles(builtin_profile(name)).items():
            needles.setdefault(needle, f"{name}.{key}")
    hits: list[str] = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(EXEMPT):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for lineno, value in _string_literals(tree):
                lowered = value.lower()
                hits.extend(
                    f"{path.relative_to(ROOT)}:{lineno}: {needle!r} ({key})"
                    for needle, key in needles.items()
                    if _is_word_hit(needle, lowered)
                )
    return hits


def test_no_site_knowledge_outside_profiles() -> None:
    hits = site_literals()
    assert not hits, "site knowledge outside parsers/profiles/:\n" + "\n".join(hits)


def test_the_scan_finds_a_planted_literal(tmp_path: Path) -> None:
    """The scan is not vacuous: the needles include the built-in portal's facts."""
    needles = _needles(builtin_profile("vksndtc"))
    for fact in ("vksndtc.gov.vn", "itemid", "tin-hoat-dong-vksnd-toi-cao", "asia/ho_chi_minh"):
        assert fact in needles, fact
    tree = ast.parse('X = "https://www.vks.gov.vn/x"\n"""a docstring: vks.gov.vn"""\n')
    literals = [value for _, value in _string_literals(tree)]
    assert any(_is_word_hit("www.vks.gov.vn", v.lower()) for v in literals)
    assert not _is_word_hit("cat", "category")
