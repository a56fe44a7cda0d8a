"""What a profile makes of one page (``vksnd profile check``): which keys matched and what they
gave, the article's fields and where each came from, or a listing's items and next page.

Pure: bytes + URL + profile in, a ``PageCheck`` record out. The point is to let a user adapting a
profile to a site see at once which key misses, instead of reading a crawl's counters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from vksnd.parsers.article import parse_article
from vksnd.parsers.blocks import collapse
from vksnd.parsers.decoding import decode_body
from vksnd.parsers.errors import NotAnArticle, ParseError
from vksnd.parsers.listing import parse_listing
from vksnd.parsers.metadata import read_head
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.query import css
from vksnd.parsers.records import Article, Listing
from vksnd.parsers.urls import host_key

SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """One profile key on this page: did it match, and what it gave (or why not)."""

    key: str
    matched: bool
    detail: str


@dataclass(frozen=True, slots=True)
class PageCheck:
    url: str
    kind: str  # "article", "listing", or the parser's not-an-article kind
    keys: tuple[KeyCheck, ...]
    article: Article | None
    sources: tuple[tuple[str, str], ...]  # article field -> what produced it
    listing: Listing | None
    problem: str | None  # why the page is not an article, when it is not

    @property
    def ok(self) -> bool:
        """The profile reads this page: an article by its selectors, or a listing with items."""
        if self.article is not None:
            return not self.article.extractor.generic
        return self.listing is not None and bool(self.listing.items)


def _shown(text: str) -> str:
    text = collapse(text)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def listing_regex(profile: SiteProfile) -> re.Pattern[str]:
    """The listing template as a regex over path + query, for any of the profile's categories."""
    slugs = "|".join(re.escape(c.slug) for c in profile.categories) or "[^?]+"
    ids = "|".join(str(c.id) for c in profile.categories if c.id is not None) or "[0-9]+"
    parts: list[str] = []
    for piece in re.split(r"(\{[a-z]+\})", profile.listing_url_template):
        if piece == "{page}":
            parts.append("[0-9]+")
        elif piece == "{slug}":
            parts.append(f"(?:{slugs})")
        elif piece in ("{id}", "{cat}"):
            parts.append(f"(?:{ids})")
        elif piece == "{section}":
            parts.append("[a-z0-9-]*")
        else:
            parts.append(re.escape(piece))
    every = "".join(parts)
    # page 1 is often served bare: the template without its page part (/{slug}/p/{page} -> /{slug})
    bare = re.sub(r"(?:\\?[?&/._-])*[A-Za-z-]*(?:\\?[=/-])?\[0-9\]\+.*$", "", every)
    return re.compile(f"^(?:{every}|{bare}/?)$", re.IGNORECASE)


def _url_keys(url: str, profile: SiteProfile) -> list[KeyCheck]:
    parts = urlsplit(url)
    found: list[KeyCheck] = []
    match = profile.article_path.match(parts.path)
    if match:
        groups = ", ".join(f"{k}={v!r}" for k, v in match.groupdict().items() if v is not None)
        found.append(KeyCheck("urls.article", True, groups))
    else:
        found.append(KeyCheck("urls.article", False, f"path {parts.path!r} does not match"))
    for index, form in enumerate(profile.legacy):
        if form.path.match(parts.path):
            found.append(KeyCheck(f"urls.legacy[{index}]", True, f"path {parts.path!r}"))
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    listed = listing_regex(profile).match(target) is not None
    found.append(
        KeyCheck(
            "listing.template",
            listed,
            profile.listing_url_template + (" matches" if listed else " does not match"),
        )
    )
    return found


def _selector_keys(tree: LexborHTMLParser, profile: SiteProfile) -> list[KeyCheck]:
    found: list[KeyCheck] = []
    groups = (
        ("selectors.title", profile.selectors.title),
        ("selectors.date", profile.selectors.date),
        ("selectors.body", profile.selectors.body),
        ("selectors.author", profile.selectors.author),
        ("selectors.captions", profile.selectors.captions),
        ("listing.item", profile.selectors.listing_item),
        ("listing.next", profile.selectors.listing_next),
    )
    for key, selectors in groups:
        if not selectors:
            continue
        for selector in selectors:
            nodes = css(tree, selector)
            if nodes:
                text = _shown(nodes[0].text()) or "(no text)"
                found.append(KeyCheck(key, True, f"{selector!r} x{len(nodes)}: {text}"))
                break
        else:
            found.append(KeyCheck(key, False, "none of " + ", ".join(map(repr, selectors))))
    return found


def _text_keys(tree: LexborHTMLParser, profile: SiteProfile) -> list[KeyCheck]:
    found: list[KeyCheck] = []
    head = read_head(tree)
    suffix = profile.text.title_suffix
    if suffix is not None:
        title = head.title or ""
        hit = suffix.search(title)
        detail = f"strips {hit.group(0).strip()!r}" if hit else f"no suffix in {_shown(title)!r}"
        found.append(KeyCheck("text.title_suffix", hit is not None, detail))
    if profile.text.masthead:
        lines = {collapse(node.text()) for node in css(tree, "body *") if not node.child}
        seen = [line for line in profile.text.masthead if line in lines]
        detail = ", ".join(map(repr, seen)) if seen else "no masthead line on the page"
        found.append(KeyCheck("text.masthead", bool(seen), detail))
    return found


def _sources(
    article: Article, tree: LexborHTMLParser, profile: SiteProfile
) -> list[tuple[str, str]]:
    head = read_head(tree)

    def first(selectors: tuple[str, ...]) -> str | None:
        return next((s for s in selectors if css(tree, s)), None)

    title_selector = first(profile.selectors.title)
    title_from = (
        "<meta og:title>"
        if head.meta.get("og:title")
        else f"selectors.title {title_selector!r}"
        if title_selector
        else "<title>" + (" minus text.title_suffix" if profile.text.title_suffix else "")
    )
    date_selector = first(profile.selectors.date)
    body_from = article.extractor.label
    if not article.extractor.generic:
        body_from += f" (selectors.body {first(profile.selectors.body)!r})"
    path = urlsplit(article.url).path
    match = profile.article_path.match(path)
    category_from = (
        "urls.article group 'category'"
        if match and "category" in match.groupdict() and match["category"]
        else "urls.legacy category_param or breadcrumb"
    )
    return [
        ("title", title_from),
        (
            "published_at",
            f"selectors.date {date_selector!r} and the page head"
            if date_selector and not article.extractor.generic
            else "page head and text (generic)",
        ),
        (
            "author",
            f"selectors.author {first(profile.selectors.author)!r}"
            if first(profile.selectors.author) and not article.extractor.generic
            else "byline at the end of the text (generic)",
        ),
        ("category", category_from),
        ("text", body_from),
        ("key", "urls.article group 'id' (or a urls.legacy id_param)"),
    ]


def check_page(body: bytes, url: str, content_type: str | None, profile: SiteProfile) -> PageCheck:
    """The profile's view of one page."""
    tree = LexborHTMLParser(decode_body(body, content_type))
    keys = _url_keys(url, profile) + _selector_keys(tree, profile) + _text_keys(tree, profile)
    article: Article | None = None
    problem: str | None = None
    kind = "article"
    try:
        article = parse_article(body, url, content_type, profile=profile)
    except NotAnArticle as exc:
        kind, problem = exc.kind, str(exc)
    except ParseError as exc:
        kind, problem = "unparsed", str(exc)
    listing: Listing | None = None
    looks_listed = any(k.key == "listing.template" and k.matched for k in keys)
    if article is None or article.extractor.generic or looks_listed:
        hosts = frozenset(profile.hosts | {host_key(url) or ""})
        listing = parse_listing(body, url, content_type, scope_hosts=hosts, profile=profile)
        if listing.items and (looks_listed or article is None or len(listing.items) >= 3):
            kind, article, problem = "listing", None, None
        elif not listing.items:
            listing = None
    sources = tuple(_sources(article, tree, profile)) if article is not None else ()
    return PageCheck(url, kind, tuple(keys), article, sources, listing, problem)
