"""One fetched page → ``Article``: the site profile first, the generic extractor when it fails.

    bytes ──decode──▶ NFC str ──lexbor──▶ tree ─┬─ metadata (title, canonical, date clues)
                                                ├─ profile selectors ─▶ blocks ─┐
                                                └─ generic scoring   ─▶ blocks ─┴▶ text rules

The profile result is kept only when it looks right: a non-trivial body and no page chrome found
inside it (the text rules report chrome they drop). Otherwise the generic extractor runs, and
``Article.extractor`` says which path produced the text, so a template change on the portal
shows up as a rising share of ``generic``. Only ``ParseError`` and its subclasses leave here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.cleanup import drop_leading_meta_lines, drop_repeated_lines, strip_inner_chrome
from vksnd.parsers.dates import (
    DateSignal,
    by_formats,
    from_listing,
    in_site_zone,
    parse_date_text,
    resolve_published_signal,
)
from vksnd.parsers.declared import (
    EARLIEST_YEAR,
    body_meta,
    declared_date_and_author,
    looks_like_name,
    title_window_date,
    url_date,
)
from vksnd.parsers.decoding import html_for_parser
from vksnd.parsers.dom import BR_MARK, DEFAULT_MAX_DEPTH, mark_breaks, walk_blocks
from vksnd.parsers.errors import NotAnArticle, PageTooComplex, ParseError
from vksnd.parsers.generic import find_main_content, link_density, strip_furniture
from vksnd.parsers.hashing import content_hash
from vksnd.parsers.metadata import (
    HEAD_META_KEYS,
    HeadInfo,
    canonical_url,
    category_of,
    dates_before,
    dates_in_blocks,
    first_match,
    head_dates,
    is_error_page,
    origin_and_path,
    page_title,
    profile_author,
    read_head,
    url_resolver,
)
from vksnd.parsers.profiles.vksndtc import PROFILE, SiteProfile
from vksnd.parsers.query import any_of, css
from vksnd.parsers.records import GENERIC_EXTRACTOR, Article, Extractor
from vksnd.parsers.signature import pop_signature, trailing_signature
from vksnd.parsers.textrules import CleanResult, apply_rules
from vksnd.parsers.urls import article_key_text

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEPTH_SCAN_MIN_TAGS = 3000  # below this many tags, nesting cannot hurt lexbor
MIN_PROFILE_TEXT = 200
LISTING_MIN_LINKS = 5

_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*?(/?)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr", "p", "li", "td", "th", "tr", "option", "dt", "dd"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


DEFAULT_LIMITS = ParseLimits()


def parse_article(
    body: bytes,
    url: str,
    content_type: str | None = None,
    *,
    profile: SiteProfile = PROFILE,
    listing_date: date | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> Article:
    """Parse one page. Raises ``NotAnArticle``, ``PageTooComplex`` or ``ParseError`` only."""
    try:
        return _parse(body, url, content_type, profile, listing_date, limits, now)
    except ParseError:
        raise
    except RecursionError as exc:
        raise PageTooComplex(url, "recursion limit reached") from exc
    except Exception as exc:  # the boundary: third-party failures become our typed error
        raise ParseError(url, f"parser failure ({type(exc).__name__}: {exc})") from exc


def _check_depth(html: str | bytes, url: str, max_depth: int) -> None:
    if isinstance(html, bytes):
        if html.count(b"<") < DEPTH_SCAN_MIN_TAGS:
            return
        html = html.decode("utf-8", errors="replace")
    elif html.count("<") < DEPTH_SCAN_MIN_TAGS:
        return
    depth = 0
    for match in _TAG_RE.finditer(html):
        closing, name, self_closing = match.groups()
        name = name.lower()
        if name in _VOID or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > max_depth * 4:
                raise PageTooComplex(url, f"nesting deeper than {max_depth * 4} tags")


def _parse(
    body: bytes,
    url: str,
    content_type: str | None,
    profile: SiteProfile,
    listing_date: date | None,
    limits: ParseLimits,
    now: datetime | None,
) -> Article:
    if len(body) > limits.max_bytes:
        raise PageTooComplex(url, f"body of {len(body)} bytes over the {limits.max_bytes} cap")
    html = html_for_parser(body, content_type)
    _check_depth(html, url, limits.max_depth)
    tree = LexborHTMLParser(html)
    if tree.body is None:
        raise NotAnArticle(url, "empty")
    head = read_head(tree)
    base = urljoin(url, head.base_href) if head.base_href else url
    title = page_title(tree, head, profile)
    if is_error_page(None, title, head.title):
        raise NotAnArticle(url, "error_page")
    signals: list[DateSignal] = []  # the page's date clues, the head's first (read below)
    canonical = canonical_url(head.canonical_href, url, profile)

    origin, path = origin_and_path(url)  # split once: the resolver and the category use it
    resolve = url_resolver(base, origin if base == url else None)

    result: CleanResult | None = None
    extractor = Extractor(profile.name)
    author: str | None = None
    container = first_match(tree, profile.selectors.body)
    if container is not None:
        # author and date sit next to the body: look around it before scanning the page
        scope = container.parent or tree
        author = profile_author(scope, tree, profile)
        _strip_chrome(container, profile.selectors.chrome)
        blocks = walk_blocks(container, resolve, url=url, max_depth=limits.max_depth)
        candidate = apply_rules(blocks, title=title, site=profile.text)
        if len(candidate.text) >= MIN_PROFILE_TEXT and candidate.chrome_dropped == 0:
            result = candidate
        date_node = first_match(scope, profile.selectors.date) or first_match(
            tree, profile.selectors.date
        )
        date_text = collapse(date_node.text()) if date_node is not None else ""
        found = (
            (by_formats(date_text, profile.date_formats) or parse_date_text(date_text))
            if date_node is not None
            else None
        )
        if found is not None:
            signals.append(DateSignal(found.value, "page", found.has_time))
        if result is None:
            author = None
    if result is None:
        extractor = GENERIC_EXTRACTOR
        result, signals, author = _generic(tree, url, resolve, limits, profile, head, signals)
    else:  # the generic path reads the head itself, with more keys
        signals = head_dates(tree, head) + signals
    if not result.text:
        raise NotAnArticle(url, "empty")
    if listing_date is not None:
        signals.append(from_listing(listing_date))
    published = resolve_published_signal(signals, now)
    return Article(
        url=url,
        canonical_url=canonical,
        title=unicodedata.normalize("NFC", title or ""),
        published_at=None if published is None else in_site_zone(published, profile.time_zone),
        published_date_only=published is not None and not published.has_time,
        author=author or (result.byline if not extractor.generic else None),
        category=category_of(url, tree, profile, path),
        text=result.text,
        captions=result.captions,
        images=result.images,
        content_hash=content_hash(result.text, lines_collapsed=True),
        extractor=extractor,
        key=article_key_text(url, profile) or article_key_text(canonical, profile),
    )


def _generic(
    tree: LexborHTMLParser,
    url: str,
    resolve: Callable[[str], str],
    limits: ParseLimits,
    profile: SiteProfile,
    head: HeadInfo,
    signals: list[DateSignal],
) -> tuple[CleanResult, list[DateSignal], str | None]:
    """The body by scoring, with the date and author the page declares (read before the
    furniture goes: a ``<header>`` holds them); text clues only when nothing is declared."""
    meta = head.meta | body_meta(tree, HEAD_META_KEYS)
    declared, author = declared_date_and_author(tree, meta)
    near_title = title_window_date(tree) if declared is None else None
    if is_error_page(tree):
        raise NotAnArticle(url, "error_page")
    strip_furniture(tree)
    container = find_main_content(tree)
    if container is None:
        raise NotAnArticle(url, "empty")
    # The page as a whole says what it is: a page declaring itself an article (its type, its
    # publication date in the head or JSON-LD, not a listing's per-item <time>) is one, however
    # many headline links its body holds (a news roundup).
    is_article = meta.get("og:type", "").lower() == "article" or (
        declared is not None and declared.source in ("meta", "json-ld")
    )
    if _looks_like_listing(container, profile, declared_article=is_article):
        raise NotAnArticle(url, "listing")
    if author is None:
        author = pop_signature(container)
    strip_inner_chrome(container)
    mark_breaks(container)
    blocks = walk_blocks(
        container, resolve, url=url, max_depth=limits.max_depth, drop_link_lists=True
    )
    blocks = drop_repeated_lines(blocks)
    title_text = page_title(tree, head, profile)
    if blocks and title_text and collapse(blocks[0].text or "") == title_text:
        blocks = blocks[1:]  # the title row of a table layout: the date line under it is meta
    dated = blocks  # a date line above the text is meta, yet the page's date
    blocks = drop_leading_meta_lines(blocks)
    result = apply_rules(blocks, title=title_text, marked_captions=True, site=profile.text)
    if author is None and result.byline is not None and looks_like_name(result.byline):
        author = result.byline
    if author is None:
        author = trailing_signature(container)
    if declared is not None:
        return result, [declared], author
    found = [*signals, *(dates_in_blocks(dated) or dates_before(container))]
    found = [s for s in found if s.value.year >= EARLIEST_YEAR]  # not a placeholder 0001-01-01
    if not found:
        found = [s for s in (url_date(url), near_title) if s is not None][:1]
    return result, found, author


def _looks_like_listing(
    container: LexborNode, profile: SiteProfile, *, declared_article: bool = False
) -> bool:
    """Links to the profile's article pages outnumber the paragraphs, or (on a page that does
    not declare itself an article) headline-long links dominate the text."""
    article_links = 0
    headline_links = 0
    for a in css(container, "a[href]"):
        parts = urlsplit(a.attributes.get("href") or "")
        path = parts.path
        legacy = profile.legacy_form(path)
        if profile.article_path.match(path) or (
            legacy is not None and f"{legacy.id_param.lower()}=" in parts.query.lower()
        ):
            article_links += 1
        if len(collapse(a.text())) >= 30:
            headline_links += 1
    paragraphs = len(css(container, "p")) or 1
    if article_links >= LISTING_MIN_LINKS and article_links * 2 >= paragraphs:
        return True
    if declared_article:
        return False
    return headline_links >= 2 * LISTING_MIN_LINKS and link_density(container) > 0.3


def _strip_chrome(container: LexborNode, chrome: tuple[str, ...]) -> None:
    """Remove the profile's chrome from the body, then swap its ``<br>`` for markers.

    One selector query finds both when the chrome selectors are plain tags and classes (each
    query walks the whole body): a ``<br>`` can then match the chrome only through a class,
    and any classed ``<br>`` sends the body down the two-query path, so the result is the same.
    Breaks are marked before the chrome goes, so no node is touched after its ancestor is freed.
    """
    combined = _with_breaks(chrome)
    if combined is not None:
        nodes = css(container, combined)
        breaks = [node for node in nodes if node.tag == "br"]
        if not any("class" in node.attributes for node in breaks):
            for node in breaks:
                node.replace_with(BR_MARK)
            for node in nodes:
                if node.tag != "br":
                    node.decompose()
            return
    for node in css(container, any_of(chrome)):
        node.decompose()
    mark_breaks(container)


_SIMPLE_SELECTOR_RE = re.compile(r"\.?[A-Za-z][A-Za-z0-9_-]*")


@functools.lru_cache(maxsize=32)
def _with_breaks(chrome: tuple[str, ...]) -> str | None:
    """``chrome`` joined with ``br``, or None when a selector is more than a tag or a class."""
    if not all(_SIMPLE_SELECTOR_RE.fullmatch(s) and s.lower() != "br" for s in chrome):
        return None
    return any_of((*chrome, "br"))
