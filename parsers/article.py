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
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from parsers.blocks import Block, Kind, collapse
from parsers.dates import (
    DateSignal,
    from_listing,
    parse_date_line,
    parse_date_text,
    parse_iso,
    resolve_published,
)
from parsers.decoding import html_for_parser
from parsers.dom import DEFAULT_MAX_DEPTH, mark_breaks, walk_blocks
from parsers.errors import NotAnArticle, PageTooComplex, ParseError
from parsers.generic import find_main_content, link_density, strip_furniture
from parsers.hashing import content_hash
from parsers.profiles.vksndtc import PROFILE, SiteProfile
from parsers.records import Article
from parsers.textrules import CleanResult, apply_rules

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEPTH_SCAN_MIN_TAGS = 3000  # below this many tags, nesting cannot hurt lexbor
MIN_PROFILE_TEXT = 200
LISTING_MIN_LINKS = 5
DATE_SCAN_BLOCKS = 14

_ERROR_RE = re.compile(
    r"^(?:không tìm thấy|trang không tồn tại|lỗi|error|page not found|not found)|\b404\b",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*?(/?)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr", "p", "li", "td", "th", "tr", "option", "dt", "dd"}
)  # fmt: skip
# A "<title>" suffix naming the site, not the article: "Title - Viện kiểm sát nhân dân tối cao".
_SITE_SUFFIX_RE = re.compile(
    r"\s+[-|–:]\s+[^-|–]*(?:viện kiểm sát|vksnd|cổng thông tin|procuracy)[^-|–]*$", re.IGNORECASE
)


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
    title = _title(tree, head, profile)
    if _is_error_page(None, title, head.title):
        raise NotAnArticle(url, "error_page")
    signals = _head_dates(tree, head)
    canonical = _canonical(head.canonical_href, url, profile)

    resolve = _resolver(base)

    result: CleanResult | None = None
    extractor = f"profile:{profile.name}"
    author: str | None = None
    container = _first(tree, profile.selectors.body)
    if container is not None:
        # author and date sit next to the body: look around it before scanning the page
        scope = container.parent or tree
        author = _profile_author(scope, tree, profile)
        for node in container.css(_joined(profile.selectors.chrome)):
            node.decompose()
        mark_breaks(container)
        blocks = walk_blocks(container, resolve, url=url, max_depth=limits.max_depth)
        candidate = apply_rules(blocks, title=title)
        if len(candidate.text) >= MIN_PROFILE_TEXT and candidate.chrome_dropped == 0:
            result = candidate
        date_node = _first(scope, profile.selectors.date) or _first(tree, profile.selectors.date)
        found = parse_date_text(collapse(date_node.text())) if date_node is not None else None
        if found is not None:
            signals.append(DateSignal(found.value, "page", found.has_time))
        if result is None:
            author = None
    if result is None:
        extractor = "generic"
        result, page_dates = _generic(tree, url, resolve, limits, profile)
        signals.extend(page_dates)
    if not result.text:
        raise NotAnArticle(url, "empty")
    if listing_date is not None:
        signals.append(from_listing(listing_date))
    return Article(
        url=url,
        canonical_url=canonical,
        title=unicodedata.normalize("NFC", title or ""),
        published_at=resolve_published(signals, now),
        author=author or result.byline,
        category=_category(url, tree, profile),
        text=result.text,
        captions=result.captions,
        images=result.images,
        content_hash=content_hash(result.text, lines_collapsed=True),
        extractor=extractor,
    )


def _generic(
    tree: LexborHTMLParser,
    url: str,
    resolve: Callable[[str], str],
    limits: ParseLimits,
    profile: SiteProfile,
) -> tuple[CleanResult, list[DateSignal]]:
    signals = [
        found
        for node in tree.css("time[datetime]")
        if (found := parse_iso(node.attributes.get("datetime") or "", "time")) is not None
    ]
    if _is_error_page(tree):
        raise NotAnArticle(url, "error_page")
    strip_furniture(tree)
    container = find_main_content(tree)
    if container is None:
        raise NotAnArticle(url, "empty")
    if _looks_like_listing(container, profile):
        raise NotAnArticle(url, "listing")
    mark_breaks(container)
    blocks = walk_blocks(
        container, resolve, url=url, max_depth=limits.max_depth, drop_link_lists=True
    )
    signals.extend(_page_dates(blocks) or _dates_before(container))
    return apply_rules(blocks, title=_title(tree, read_head(tree), profile)), signals


def _page_dates(blocks: list[Block]) -> list[DateSignal]:
    for block in blocks[:DATE_SCAN_BLOCKS]:
        if block.kind in (Kind.PARA, Kind.HEADING):
            found = parse_date_line(block.text)
            if found is not None:
                return [DateSignal(found.value, "page", found.has_time)]
    return []


def _dates_before(container: LexborNode) -> list[DateSignal]:
    """A date line printed just above the body (between title and text), outside the container."""
    node: LexborNode | None = container
    for _ in range(3):
        if node is None:
            break
        sibling = node.prev
        for _ in range(6):
            if sibling is None:
                break
            if sibling.is_element_node:
                text = collapse(sibling.text())
                if text and len(text) <= 80:
                    found = parse_date_line(text)
                    if found is not None:
                        return [DateSignal(found.value, "page", found.has_time)]
            sibling = sibling.prev
        node = node.parent
    return []


def _looks_like_listing(container: LexborNode, profile: SiteProfile) -> bool:
    article_links = 0
    headline_links = 0
    for a in container.css("a[href]"):
        href = a.attributes.get("href") or ""
        path = urlsplit(href).path
        query = urlsplit(href).query.lower()
        if profile.article_path.match(path) or (
            profile.legacy_article_path.match(path) and "itemid=" in query
        ):
            article_links += 1
        if len(collapse(a.text())) >= 30:
            headline_links += 1
    paragraphs = len(container.css("p")) or 1
    if article_links >= LISTING_MIN_LINKS and article_links * 2 >= paragraphs:
        return True
    return headline_links >= 2 * LISTING_MIN_LINKS and link_density(container) > 0.3


def _first(tree: LexborHTMLParser | LexborNode, selectors: tuple[str, ...]) -> LexborNode | None:
    for selector in selectors:
        node = tree.css_first(selector)
        if node is not None:
            return node
    return None


@functools.lru_cache(maxsize=32)
def _joined(selectors: tuple[str, ...]) -> str:
    return ", ".join(selectors)


@dataclass(frozen=True, slots=True)
class HeadInfo:
    """What ``<head>`` says, read in one pass over its children."""

    meta: dict[str, str]  # property/name (lowercased) -> content, first one wins
    title: str | None
    canonical_href: str | None
    base_href: str | None


def read_head(tree: LexborHTMLParser) -> HeadInfo:
    meta: dict[str, str] = {}
    title = canonical = base = None
    head = tree.head
    for node in head.iter() if head is not None else ():
        tag = node.tag
        attrs = node.attributes
        if tag == "meta":
            key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or ""
            content = collapse(attrs.get("content") or "")
            if key and content:
                meta.setdefault(key.lower(), content)
        elif tag == "link" and canonical is None:
            if "canonical" in (attrs.get("rel") or "").lower().split():
                canonical = (attrs.get("href") or "").strip() or None
        elif tag == "title" and title is None:
            title = collapse(node.text()) or None
        elif tag == "base" and base is None:
            base = (attrs.get("href") or "").strip() or None
    return HeadInfo(meta, title, canonical, base)


def _profile_author(
    scope: LexborHTMLParser | LexborNode, tree: LexborHTMLParser, profile: SiteProfile
) -> str | None:
    node = _first(scope, profile.selectors.author) or _first(tree, profile.selectors.author)
    if node is None:
        return None
    text = collapse(node.text())
    return text or None


def _title(tree: LexborHTMLParser, head: HeadInfo, profile: SiteProfile) -> str | None:
    found = head.meta.get("og:title")
    if found:
        return found
    for selector in profile.selectors.title:
        node = tree.css_first(selector)
        if node is not None and collapse(node.text()):
            return collapse(node.text())
    text = head.title
    if text is None:
        return None
    stripped = _SITE_SUFFIX_RE.sub("", text)
    if stripped != text and tree.body is not None and text in collapse(tree.body.text()):
        return text  # the page prints the whole <title>: the "suffix" is part of the title
    return stripped or text


def _is_error_page(tree: LexborHTMLParser | None, *titles: str | None) -> bool:
    """An error page says so in its title or first headings (pass ``tree`` to read those)."""
    heads = [t for t in titles if t]
    if tree is not None:
        heads += [collapse(n.text()) for n in tree.css("h1, h2")[:4]]
    return any(_ERROR_RE.search(h) for h in heads if len(h) < 120)


def _head_dates(tree: LexborHTMLParser, head: HeadInfo) -> list[DateSignal]:
    signals: list[DateSignal] = []
    for key in ("article:published_time", "datepublished", "pubdate"):
        if key in head.meta:
            found = parse_iso(head.meta[key], "meta")
            if found is not None:
                signals.append(found)
                break
    if signals:  # JSON-LD repeats the CMS's own date: read it only when the meta is missing
        return signals
    for script in tree.css('script[type="application/ld+json"]'):
        value = _json_ld_date(script.text())
        if value:
            found = parse_iso(value, "json-ld")
            if found is not None:
                signals.append(found)
    return signals


def _json_ld_date(raw: str) -> str | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str):
                return value
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _resolver(base: str) -> Callable[[str], str]:
    """``urljoin`` against ``base``, with a fast path for the common root-relative ``/path``."""
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    def resolve(src: str) -> str:
        if origin and src.startswith("/") and not src.startswith("//") and "/." not in src:
            return origin + src
        if src.startswith(("http://", "https://")) and "/." not in src:
            return src
        return urljoin(base, src)

    return resolve


def _canonical(href: str | None, url: str, profile: SiteProfile) -> str:
    if not href:
        return url
    absolute = href if href.startswith(("http://", "https://")) else urljoin(url, href)
    here, there = _host(url), _host(absolute)
    same_set = here == there or (here in profile.hosts and there in profile.hosts)
    if not same_set or urlsplit(absolute).scheme not in ("http", "https"):
        return url
    return absolute


def _category(url: str, tree: LexborHTMLParser, profile: SiteProfile) -> str | None:
    parts = urlsplit(url)
    match = profile.article_path.match(parts.path)
    if match:
        return match["category"]
    by_id = {cat_id: slug for cat_id, slug, _ in profile.categories}
    if profile.legacy_article_path.match(parts.path) or profile.print_path.match(parts.path):
        query = {k.lower(): v[0] for k, v in parse_qs(parts.query).items()}
        cat = query.get("cat", "")
        if cat.isdigit() and int(cat) in by_id:
            return by_id[int(cat)]
    crumbs = tree.css(".breadcrumb a")
    if crumbs:
        return collapse(crumbs[-1].text()) or None
    return None
