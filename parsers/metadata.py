"""Page metadata around the body: ``<head>``, title, date clues, author, canonical URL, category.

Kept apart from ``parsers.article`` (which decides *which* body to trust) because these readers are
the same for every path: one pass over ``<head>`` collects the meta tags, and each field has one
small function that says where it looks and in what order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import HEADING, PARA, Block, collapse
from vksnd.parsers.dates import DateSignal, parse_date_line, parse_iso
from vksnd.parsers.declared import AUTHOR_META_KEYS, DATE_META_KEYS
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.query import any_of, css, css_first

DATE_SCAN_BLOCKS = 14
_ERROR_RE = re.compile(
    r"(?:không tìm thấy|trang không tồn tại|lỗi|error|page not found|not found)", re.IGNORECASE
)
_404_RE = re.compile(r"\b404\b")


def dates_in_blocks(blocks: list[Block]) -> list[DateSignal]:
    for block in blocks[:DATE_SCAN_BLOCKS]:
        if block.kind in (PARA, HEADING):
            found = parse_date_line(block.text)
            if found is not None:
                return [DateSignal(found.value, "page", found.has_time)]
    return []


def dates_before(container: LexborNode) -> list[DateSignal]:
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


def first_match(
    tree: LexborHTMLParser | LexborNode, selectors: tuple[str, ...]
) -> LexborNode | None:
    for selector in selectors:
        node = css_first(tree, selector)
        if node is not None:
            return node
    return None


# The <meta> keys any reader uses (title, published date, author); the others are not kept.
HEAD_META_KEYS = frozenset(
    {"og:title", "og:type", "article:published_time", "datepublished", "pubdate"}
    | set(DATE_META_KEYS)
    | set(AUTHOR_META_KEYS)
)


@dataclass(frozen=True, slots=True)
class HeadInfo:
    """What ``<head>`` says, read in one pass over its children."""

    meta: dict[str, str]  # property/name (lowercased) in HEAD_META_KEYS -> content, first wins
    title: str | None
    canonical_href: str | None
    base_href: str | None


def read_head(tree: LexborHTMLParser) -> HeadInfo:
    meta: dict[str, str] = {}
    title = canonical = base = None
    head = tree.head
    for node in head.iter() if head is not None else ():
        tag = node.tag
        if tag == "meta":
            # One dict of the tag's few attributes: ``node.attrs.get`` of a missing one (most
            # lookups here) raises and catches a KeyError inside selectolax.
            attrs = node.attributes
            key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
            if not key or (key := key.lower()) not in HEAD_META_KEYS or key in meta:
                continue
            content = collapse(attrs.get("content") or "")
            if content:
                meta[key] = content
        elif tag == "link" and canonical is None:
            links = node.attributes
            if "canonical" in (links.get("rel") or "").lower().split():
                canonical = (links.get("href") or "").strip() or None
        elif tag == "title" and title is None:
            title = collapse(node.text()) or None
        elif tag == "base" and base is None:
            base = (node.attributes.get("href") or "").strip() or None
    return HeadInfo(meta, title, canonical, base)


def profile_author(
    scope: LexborHTMLParser | LexborNode, tree: LexborHTMLParser, profile: SiteProfile
) -> str | None:
    """The author line next to the body (``scope``) first, then anywhere on the page."""
    selectors = profile.selectors.author
    if not selectors:
        return None
    # The usual author line is the first selector's, next to the body: one query of the
    # body's parent finds it. Without it, one query for all the selectors over the page
    # answers the page without an author line (each query walks the whole page); only a
    # page with an author line elsewhere pays for the selector-by-selector search.
    node = css_first(scope, selectors[0])
    if node is None:
        if css_first(tree, any_of(selectors)) is None:
            return None
        node = first_match(scope, selectors[1:]) or first_match(tree, selectors)
    if node is None:
        return None
    text = collapse(node.text())
    return text or None


def page_title(tree: LexborHTMLParser, head: HeadInfo, profile: SiteProfile) -> str | None:
    found = head.meta.get("og:title")
    if found:
        return found
    for selector in profile.selectors.title:
        node = css_first(tree, selector)
        if node is not None and collapse(node.text()):
            return collapse(node.text())
    text = head.title
    if text is None:
        return None
    # A "<title>" suffix naming the site, not the article (the profile's ``text.title_suffix``).
    suffix = profile.text.title_suffix
    stripped = suffix.sub("", text) if suffix is not None else text
    if stripped != text and tree.body is not None and text in collapse(tree.body.text()):
        return text  # the page prints the whole <title>: the "suffix" is part of the title
    return stripped or text


def is_error_page(tree: LexborHTMLParser | None, *titles: str | None) -> bool:
    """An error page says so in its title or first headings (pass ``tree`` to read those)."""
    heads = [t for t in titles if t]
    if tree is not None:
        heads += [collapse(n.text()) for n in css(tree, "h1, h2")[:4]]
    for h in heads:  # a loop, not any() over a generator: two titles per page
        if len(h) < 120 and (_ERROR_RE.match(h) or ("404" in h and _404_RE.search(h))):
            return True
    return False


def head_dates(tree: LexborHTMLParser, head: HeadInfo) -> list[DateSignal]:
    signals: list[DateSignal] = []
    for key in ("article:published_time", "datepublished", "pubdate"):
        if key in head.meta:
            found = parse_iso(head.meta[key], "meta")
            if found is not None:
                signals.append(found)
                break
    if signals:  # JSON-LD repeats the CMS's own date: read it only when the meta is missing
        return signals
    for script in css(tree, 'script[type="application/ld+json"]'):
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


# scheme://authority and the path of an absolute http(s) URL without spaces or controls (the
# cheap split; urlsplit also strips such characters and is the fallback for anything else).
_ORIGIN_PATH_RE = re.compile(r"(https?)://([^/?#\s\x00-\x1f]+)([^?#\s\x00-\x1f]*)(?=[?#]|$)", re.I)


def origin_and_path(url: str) -> tuple[str, str]:
    """``("https://host", "/path")`` of ``url`` as ``urlsplit`` reads them ("" when none)."""
    match = _ORIGIN_PATH_RE.match(url)
    if match is not None:
        scheme, netloc, path = match.groups()
        return f"{scheme.lower()}://{netloc}", path
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return origin, parts.path


def url_resolver(base: str, origin: str | None = None) -> Callable[[str], str]:
    """``urljoin`` against ``base``, with a fast path for the common root-relative ``/path``.

    ``origin``: ``origin_and_path(base)[0]`` when the caller has split ``base`` already.
    """
    if origin is None:
        origin = origin_and_path(base)[0]

    def resolve(src: str) -> str:
        if origin and src.startswith("/") and not src.startswith("//") and "/." not in src:
            return origin + src
        if src.startswith(("http://", "https://")) and "/." not in src:
            return src
        return urljoin(base, src)

    return resolve


def canonical_url(href: str | None, url: str, profile: SiteProfile) -> str:
    if not href or href == url:  # the page names itself: nothing to check
        return url
    absolute = href if href.startswith(("http://", "https://")) else urljoin(url, href)
    parts = urlsplit(absolute)
    here, there = _host(url), (parts.hostname or "").lower()
    same_set = here == there or (here in profile.hosts and there in profile.hosts)
    if not same_set or parts.scheme not in ("http", "https"):
        return url
    return absolute


def category_of(
    url: str, tree: LexborHTMLParser, profile: SiteProfile, path: str | None = None
) -> str | None:
    """``path``: ``origin_and_path(url)[1]`` when the caller has split ``url`` already."""
    match = profile.article_path.match(origin_and_path(url)[1] if path is None else path)
    if match and match.groupdict().get("category"):
        return match["category"]
    parts = urlsplit(url)
    legacy = profile.legacy_form(parts.path)
    if legacy is not None and legacy.category_param is not None:
        query = {k.lower(): v[0] for k, v in parse_qs(parts.query).items()}
        cat = query.get(legacy.category_param.lower(), "")
        known = profile.category_by_id(int(cat)) if cat.isdigit() and len(cat) <= 9 else None
        if known is not None:
            return known.slug
    crumbs = css(tree, ".breadcrumb a")
    if crumbs:
        return collapse(crumbs[-1].text()) or None
    return None
