"""Category listing pages -> ``Listing``: article links in page order, their dates, the next page.

Links are recognized by the portal's article URL patterns (``parsers.urls.is_article_url``), not
by CSS classes, so a template change does not blind the crawler. Where they are looked for:

1. if the profile's ``listing_item`` selectors match, only inside the containers of those items
   (every article link there counts, inside an item or not) — menus, "other news" boxes and
   footers never feed the frontier;
2. otherwise anywhere in the page except its chrome (header, nav, menus, footer, related news).

A listing item (case 1) that holds no article-pattern link still names an article: its first
in-scope link that is not a listing page or a file is taken (an old URL that redirects to the
article, a short link); the fetch follows the redirect and the parse decides whether it is one.

The date shown beside a link (``dd/mm/yyyy``) is the first one in the link's item: the matched
listing item, or else the nearest block ancestor holding a date. The next page comes from the
profile's ``listing_next`` selectors, else from a pager link whose ``Page=`` is the current page
plus one on the same path, else there is none.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.dates import SLASH_DATE_RE, find_slash_date
from vksnd.parsers.decoding import decode_body
from vksnd.parsers.profiles.vksndtc import PROFILE, SiteProfile
from vksnd.parsers.query import css, css_first
from vksnd.parsers.records import Listing, ListingItem
from vksnd.parsers.urls import canonicalize, is_article_url, listing_page_number

MAX_ITEMS = 5000
MAX_TITLE_CHARS = 1000
MAX_SUMMARY_CHARS = 4000
# Page chrome that may carry article links we must not take as listing items.
CHROME = (
    "header",
    "nav",
    "footer",
    "aside",
    "#header",
    "#footer",
    ".menu",
    ".breadcrumb",
    ".other-news",
    ".related-news",
    ".search-box",
)
ITEM_BLOCKS = frozenset({"li", "tr", "article", "div", "section", "dd", "dt", "p", "td"})
SUMMARY_SELECTORS = (".summary", ".sapo", ".desc", ".description", "p")
# Links that name a file, not a page: never taken for an article an item does not link by pattern.
_FILE_SUFFIX = re.compile(
    r"\.(?:pdf|docx?|xlsx?|pptx?|zip|rar|jpe?g|png|gif|webp|svg|mp[34]|avi|wmv)$", re.IGNORECASE
)


def _clean(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return collapse(text)[:limit] or None


def _base_url(
    tree: LexborHTMLParser, url: str, scope_hosts: frozenset[str], profile: SiteProfile
) -> str:
    base = css_first(tree, "base[href]")
    href = base.attributes.get("href") if base is not None else None
    if href:
        resolved = canonicalize(href, base=url, scope_hosts=scope_hosts, profile=profile)
        if resolved is not None:
            return resolved
    return url


def _item_nodes(tree: LexborHTMLParser, profile: SiteProfile) -> list[LexborNode]:
    for selector in profile.selectors.listing_item:
        nodes = css(tree, selector)
        if nodes:
            return list(nodes)
    return []


def _containers(items: list[LexborNode]) -> list[LexborNode]:
    seen: set[int] = set()
    containers: list[LexborNode] = []
    for item in items:
        parent = item.parent or item
        if parent.mem_id not in seen:
            seen.add(parent.mem_id)
            containers.append(parent)
    return containers


def _item_of(link: LexborNode, item_ids: set[int], stop: LexborNode | None) -> LexborNode | None:
    """The listing item holding ``link``, else its nearest block ancestor with a date in it."""
    node = link.parent
    fallback: LexborNode | None = None
    while node is not None and (stop is None or node.mem_id != stop.mem_id):
        if node.mem_id in item_ids:
            return node
        if fallback is None and node.tag in ITEM_BLOCKS and SLASH_DATE_RE.search(node.text() or ""):
            fallback = node
        if node.tag in ("body", "html"):
            break
        node = node.parent
    return fallback


def _item_date(item: LexborNode, profile: SiteProfile, title: str | None) -> date | None:
    """The item's date element first: a title may itself hold a date (``26/7/1960 - ...``);
    else the first date in the item's text outside the title."""
    for selector in profile.selectors.date:
        for node in css(item, selector):
            found = find_slash_date(node.text() or "")
            if found is not None:
                return found
    text = _clean(item.text(), 1 << 20) or ""
    if title:
        text = text.replace(title, " ")
    return find_slash_date(text)


def _summary(item: LexborNode, title: str | None) -> str | None:
    for selector in SUMMARY_SELECTORS:
        for node in css(item, selector):
            text = _clean(node.text(), MAX_SUMMARY_CHARS)
            if text and text != title and not SLASH_DATE_RE.fullmatch(text):
                return text
    return None


Placed = tuple[int, ListingItem]  # an item and its link's place among the page's links


def _collect_links(
    scopes: list[LexborNode],
    base: str,
    scope_hosts: frozenset[str],
    profile: SiteProfile,
    item_ids: set[int],
) -> tuple[list[Placed], set[int], dict[int, int]]:
    """Article-pattern links, the listing items (``item_ids``) that hold one, and every link's
    place in the page (by ``mem_id``)."""
    found: dict[str, Placed] = {}
    covered: set[int] = set()
    places: dict[int, int] = {}
    for scope in scopes:
        for link in css(scope, "a[href]"):
            place = places.setdefault(link.mem_id, len(places))
            href = link.attributes.get("href") or ""
            canonical = canonicalize(href, base=base, scope_hosts=scope_hosts, profile=profile)
            if canonical is None or not is_article_url(canonical, profile):
                continue
            title = _link_title(link)
            previous = found.get(canonical)
            if previous is not None:
                first_place, first = previous
                if first.title is None and title is not None:
                    found[canonical] = (
                        first_place,
                        ListingItem(canonical, title, first.published_on, first.summary),
                    )
                continue
            if len(found) >= MAX_ITEMS:
                return list(found.values()), covered, places
            item = _item_of(link, item_ids, scope if item_ids else None)
            if item is not None:
                covered.add(item.mem_id)
            found[canonical] = (place, _listing_item(canonical, item, title, profile))
    return list(found.values()), covered, places


def _link_title(link: LexborNode) -> str | None:
    return _clean(link.text(), MAX_TITLE_CHARS) or _clean(
        link.attributes.get("title"), MAX_TITLE_CHARS
    )


def _listing_item(
    url: str, item: LexborNode | None, title: str | None, profile: SiteProfile
) -> ListingItem:
    published = _item_date(item, profile, title) if item is not None else None
    summary = _summary(item, title) if item is not None else None
    return ListingItem(url, title, published, summary)


def _unpatterned_items(
    items: list[LexborNode],
    covered: set[int],
    listing_url: str,
    base: str,
    scope_hosts: frozenset[str],
    profile: SiteProfile,
    places: dict[int, int],
) -> list[Placed]:
    """Items without an article-pattern link: each one's first in-scope link to a page other
    than a listing, so an article listed by an old or unknown URL form is still fetched."""
    found: list[Placed] = []
    for item in items:
        if item.mem_id in covered:
            continue
        for link in css(item, "a[href]"):
            href = link.attributes.get("href") or ""
            target = canonicalize(href, base=base, scope_hosts=scope_hosts, profile=profile)
            if target is None or target == listing_url:
                continue
            path = urlsplit(target).path
            if path in ("", "/") or _FILE_SUFFIX.search(path) or _same_path(target, listing_url):
                continue  # the home page, a file, a listing (this one or another page of it)
            place = places.get(link.mem_id, len(places))
            found.append((place, _listing_item(target, item, _link_title(link), profile)))
            break
    return found


def _same_path(a: str, b: str) -> bool:
    return urlsplit(a).path.lower() == urlsplit(b).path.lower()


def _next_page(
    tree: LexborHTMLParser,
    url: str,
    base: str,
    scope_hosts: frozenset[str],
    profile: SiteProfile,
) -> str | None:
    own = canonicalize(url, scope_hosts=scope_hosts, profile=profile) or url
    for selector in profile.selectors.listing_next:
        for node in css(tree, selector):
            href = node.attributes.get("href")
            if not href:
                continue
            target = canonicalize(href, base=base, scope_hosts=scope_hosts, profile=profile)
            if target is not None and target != own and not is_article_url(target, profile):
                return target
    wanted = (listing_page_number(url, profile) or 1) + 1
    for node in css(tree, "a[href]"):
        href = node.attributes.get("href") or ""
        target = canonicalize(href, base=base, scope_hosts=scope_hosts, profile=profile)
        if (
            target is not None
            and listing_page_number(target, profile) == wanted
            and _same_path(target, own)
            and not is_article_url(target, profile)
        ):
            return target
    return None


def parse_listing(
    body: bytes,
    url: str,
    content_type: str | None,
    *,
    scope_hosts: frozenset[str],
    profile: SiteProfile = PROFILE,
) -> Listing:
    """The listing on ``body`` (fetched from ``url``); an unrecognizable page gives no items."""
    tree = LexborHTMLParser(decode_body(body, content_type))
    base = _base_url(tree, url, scope_hosts, profile)
    next_url = _next_page(tree, url, base, scope_hosts, profile)
    items = _item_nodes(tree, profile)
    if items:
        scopes = _containers(items)
        item_ids = {node.mem_id for node in items}
    else:
        for selector in CHROME:
            for node in css(tree, selector):
                node.decompose()
        root = tree.body or tree.root
        scopes = [root] if root is not None else []
        item_ids = set()
    placed, covered, places = _collect_links(scopes, base, scope_hosts, profile, item_ids)
    if items and len(placed) < MAX_ITEMS:
        own = canonicalize(url, scope_hosts=scope_hosts, profile=profile) or url
        known = {item.url for _, item in placed}
        for extra in _unpatterned_items(items, covered, own, base, scope_hosts, profile, places):
            if extra[1].url not in known and len(placed) < MAX_ITEMS:
                known.add(extra[1].url)
                placed.append(extra)
        placed.sort(key=lambda one: one[0])
    return Listing(url=url, items=tuple(item for _, item in placed), next_page_url=next_url)
