"""Golden tests: the seeds in three markups that share no class names → the expected text.

The portal layout goes through the site profile; the article-element layout (NFD) and the legacy
nested-table layout (windows-1258) must go through the generic extractor and still give the
same text, captions, title, author and date. A generated site sample covers the other block
kinds (lists, tables, migrated articles, every image form).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vksnd.fixtures.generator import build_site
from vksnd.fixtures.layouts import encode_page, render_article_element, render_legacy, render_portal
from vksnd.fixtures.model import SiteArticle, expected_captions, expected_text
from vksnd.fixtures.seed_articles import seed_articles
from vksnd.fixtures.urls import article_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.hashing import content_hash
from vksnd.parsers.records import Article

BASE = "https://vksndtc.gov.vn"
SEEDS = seed_articles()
LAYOUTS: dict[str, tuple[Callable[[SiteArticle, str], str], str, str]] = {
    "portal": (lambda a, u: render_portal(a, u), "utf-8", "profile:vksndtc"),
    "element": (render_article_element, "nfd", "generic"),
    "legacy": (render_legacy, "windows-1258", "generic"),
}


def _parse(article: SiteArticle, layout: str) -> Article:
    render, encoding, _ = LAYOUTS[layout]
    url = BASE + article_path(article)
    body, content_type = encode_page(render(article, url), encoding)  # type: ignore[arg-type]
    return parse_article(body, url, content_type)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", SEEDS, ids=lambda a: str(a.id))
def test_seed_in_every_layout(seed: SiteArticle, layout: str) -> None:
    got = _parse(seed, layout)
    assert got.text == expected_text(seed.blocks)
    assert got.captions == expected_captions(seed.blocks)
    assert got.title == seed.title
    assert got.author == seed.author
    assert got.extractor.label == LAYOUTS[layout][2]
    assert got.canonical_url == BASE + article_path(seed)
    assert got.content_hash == content_hash(got.text)  # the parser's shortcut == the definition
    assert got.category == seed.category.slug
    assert got.published_at is not None
    if layout == "legacy":  # the page prints the day only
        assert got.published_at.date() == seed.published_at.date()
    else:
        assert got.published_at == seed.published_at
    assert len(got.images) == sum(1 for b in seed.blocks if type(b).__name__ == "Image")
    assert all(src.startswith(BASE + "/Uploads/") for src in got.images)


def test_seed_text_matches_hand_written_expected_files() -> None:
    from importlib import resources

    folder = resources.files("vksnd.fixtures").joinpath("expected")
    expected = sorted(e.name for e in folder.iterdir())
    for seed, name in zip(SEEDS, expected, strict=True):
        assert _parse(seed, "portal").text == folder.joinpath(name).read_text(encoding="utf-8")


def test_same_hash_in_all_layouts() -> None:
    for seed in SEEDS:
        hashes = {_parse(seed, layout).content_hash for layout in LAYOUTS}
        assert len(hashes) == 1


def test_generated_site_sample_in_every_layout() -> None:
    site = build_site(120, seed=3)
    failures = []
    for article in site:
        for layout in LAYOUTS:
            got = _parse(article, layout)
            if (got.text, got.captions, got.title, got.author) != (
                expected_text(article.blocks),
                expected_captions(article.blocks),
                article.title,
                article.author,
            ) or got.content_hash != content_hash(got.text):
                failures.append((article.id, layout))
    assert failures == []
