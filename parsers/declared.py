"""Published date and author as a page *declares* them, for pages no profile describes.

Most publishing systems state both for machines: ``<meta>`` tags (Open Graph
``article:published_time``, Dublin Core, ``sailthru.date``…), JSON-LD ``datePublished`` and
``author``, microdata ``itemprop``, ``<time datetime>``, ``rel=author`` links. These are read
first, in that order of trust, and the first that parses wins: a page's ``<time>`` elements
also date comments and related stories, so weaker clues must not outvote a declared date.
Only without any declaration do the text heuristics run (``parsers.metadata``), then a date
in the URL path (``/2019/11/19/``), then a date printed near the title.

A declared author must still look like a name (``looks_like_name``): CMSs fill the field with
a site name, a URL, a profile link or a list of tags often enough.
"""

from __future__ import annotations

import json
import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.dates import DateSignal, parse_iso
from vksnd.parsers.query import css

# <meta> names and properties of a publication date, most trusted first (lowercased).
DATE_META_KEYS = (
    "article:published_time", "article:published", "og:article:published_time",
    "datepublished", "pubdate", "publishdate", "publish-date", "publish_date", "date",
    "dc.date.issued", "dc.date", "dcterms.issued", "dcterms.date", "dcterms.created",
    "citation_publication_date", "parsely-pub-date", "sailthru.date", "datecreated",
)  # fmt: skip
AUTHOR_META_KEYS = ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author")
TITLE_WINDOW_LEVELS = 4
TITLE_WINDOW_CHARS = 400
NAME_MAX_CHARS = 60
EARLIEST_YEAR = 1945
META_LINE_MAX = 100
NAME_MAX_WORDS = 5

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan januar janvier enero janeiro gennaio",
            "february feb februar février fevrier febrero fevereiro febbraio",
            "march mar märz maerz mars marzo março",
            "april apr avril abril aprile",
            "may mai mayo maio maggio",
            "june jun juni juin junio junho giugno",
            "july jul juli juillet julio julho luglio",
            "august aug août aout agosto",
            "september sep sept septembre septiembre setembro settembre",
            "october oct oktober octobre octubre outubro ottobre",
            "november nov novembre noviembre novembro",
            "december dec dezember décembre decembre diciembre dezembro dicembre",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<d>\d{1,2})(?:st|nd|rd|th|\.|º)?"
_YEAR = r"(?P<y>(?:19|20)\d\d)"
# "November 19, 2019", "Nov. 19 2019", "19 November 2019", "19. November 2019", "19 de
# novembro de 2019": a month name between or before day and year.
_TEXT_DATE_RE = re.compile(
    r"(?:" + _MONTH + r"\s+" + _DAY + r",?\s+(?:\d{1,2}:\d\d\s*(?:[ap]\.?m\.?)?,?\s*)?"
    + _YEAR + r"|" + _DAY.replace("?P<d>", "?P<d2>") + r"\s+(?:de\s+)?"
    + _MONTH.replace("?P<mon>", "?P<mon2>") + r",?\s+(?:de\s+)?" + _YEAR.replace("?P<y>", "?P<y2>")
    + r")(?!\d)",
    re.IGNORECASE,
)  # fmt: skip
_NUMERIC_DATE_RE = re.compile(r"(?<!\d)((?:19|20)\d\d)[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_URL_DATE_RE = re.compile(r"/((?:19|20)\d\d)/(\d{1,2})/(\d{1,2})(?:/|$)")
_COMPACT_RE = re.compile(r"^((?:19|20)\d\d)(\d\d)(\d\d)$")


def _plausible(found: DateSignal | None) -> DateSignal | None:
    """Declared dates include placeholders (``0001-01-01``): those are no declaration."""
    return found if found is not None and found.value.year >= EARLIEST_YEAR else None


def _signal(year: int, month: int, day: int, source: str) -> DateSignal | None:
    found = parse_iso(f"{year:04d}-{month:02d}-{day:02d}", source)
    return DateSignal(found.value, source, False) if found is not None else None


def parse_text_date(text: str, source: str = "text") -> DateSignal | None:
    """The first date in ``text`` written with a month name (several European languages),
    or as ``yyyy-mm-dd``."""
    match = _TEXT_DATE_RE.search(text)
    if match is not None:
        month = _MONTHS.get((match["mon"] or match["mon2"]).lower().rstrip("."))
        day, year = int(match["d"] or match["d2"]), int(match["y"] or match["y2"])
        if month is not None:
            return _signal(year, month, day, source)
    numeric = _NUMERIC_DATE_RE.search(text)
    if numeric is not None:
        return _signal(int(numeric[1]), int(numeric[2]), int(numeric[3]), source)
    return None


def parse_declared(value: str, source: str) -> DateSignal | None:
    """A declared date in any of the forms CMSs write: ISO 8601 (with a space, a
    ``+0000`` zone, fractions), ``20191119``, or words (``November 20, 2019 12:32``)."""
    value = value.strip()
    found = _plausible(parse_iso(value, source))
    if found is not None:
        return found
    compact = _COMPACT_RE.match(value)
    if compact is not None:
        return _signal(int(compact[1]), int(compact[2]), int(compact[3]), source)
    head = re.match(r"^(\d{4}-\d{2}-\d{2})[T ]", value)
    if head is not None:  # an ISO form parse_iso does not take (a zone name, odd fractions)
        return _plausible(parse_iso(head[1], source))
    return _plausible(parse_text_date(value, source))


def meta_date(meta: dict[str, str]) -> DateSignal | None:
    for key in DATE_META_KEYS:
        value = meta.get(key)
        if value:
            found = parse_declared(value, "meta")
            if found is not None:
                return found
    return None


def body_meta(tree: LexborHTMLParser, keys: frozenset[str]) -> dict[str, str]:
    """``<meta>`` tags the page wrote in its body (the parser moves them there when the head
    holds markup it does not allow): the same keys as the head's, first wins."""
    meta: dict[str, str] = {}
    body = tree.body
    for node in css(body, "meta[content]") if body is not None else ():
        attrs = node.attributes
        key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").lower()
        if key in keys and key not in meta:
            meta[key] = collapse(attrs.get("content") or "")
    return meta


def json_ld_items(tree: LexborHTMLParser) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for script in css(tree, 'script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text(), strict=False)  # raw newlines in strings are common
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                items.append(item)
                stack.extend(v for v in item.values() if isinstance(v, dict | list))
            elif isinstance(item, list):
                stack.extend(reversed(item))
    return items


def json_ld_date(items: list[dict[str, object]]) -> DateSignal | None:
    for item in items:
        value = item.get("datePublished") or item.get("dateCreated")
        if isinstance(value, str):
            found = parse_declared(value, "json-ld")
            if found is not None:
                return found
    return None


def _node_value(node: LexborNode) -> str:
    attrs = node.attributes
    return attrs.get("content") or attrs.get("datetime") or collapse(node.text())


def markup_date(tree: LexborHTMLParser) -> DateSignal | None:
    """Microdata ``datePublished``, then the first ``<time datetime>`` marked as the
    publication (``pubdate``), then the first ``<time datetime>`` at all."""
    for query in (
        '[itemprop="datePublished"], [itemprop="dateCreated"]',
        "time[pubdate], time[itemprop]",
        "time[datetime]",
    ):
        for node in css(tree, query):
            found = parse_declared(_node_value(node), "markup")
            if found is not None:
                return found
    return None


def declared_date_and_author(
    tree: LexborHTMLParser, meta: dict[str, str]
) -> tuple[DateSignal | None, str | None]:
    """Both declarations; the JSON-LD is parsed only when the meta tags lack one."""
    date = meta_date(meta)
    author = meta_author(meta)
    if date is None or author is None:
        items = json_ld_items(tree)
        date = date or json_ld_date(items) or markup_date(tree)
        author = author or json_ld_author(items) or markup_author(tree)
    return date, author


def title_window_date(tree: LexborHTMLParser) -> DateSignal | None:
    """A date printed just after the page's first ``<h1>`` (the byline and date line under a
    headline), read in the smallest ancestor giving some text after it."""
    h1 = css(tree, "h1")
    if not h1:
        return None
    title = collapse(h1[0].text())
    node: LexborNode | None = h1[0]
    for _ in range(TITLE_WINDOW_LEVELS):
        node = node.parent if node is not None else None
        if node is None:
            return None
        text = collapse(node.text())
        start = text.find(title) + len(title) if title else 0
        if len(text) - start >= TITLE_WINDOW_CHARS // 2:
            return parse_text_date(text[start : start + TITLE_WINDOW_CHARS], "text")
    return None


def url_date(url: str) -> DateSignal | None:
    match = _URL_DATE_RE.search(url)
    return _signal(int(match[1]), int(match[2]), int(match[3]), "url") if match else None


# -- authors ------------------------------------------------------------------------------------
_NOT_NAME_RE = re.compile(r"[:@/|<>()\[\]{}=#\d]|https?|www\.|\.com\b", re.IGNORECASE)


def looks_like_name(text: str) -> bool:
    """One to five words, each starting with a capital, no digits, links or labels, and not
    shouted (``LEARN MORE``): the shape of a person's name in scripts with case."""
    if not text or len(text) > NAME_MAX_CHARS or _NOT_NAME_RE.search(text):
        return False
    words = [w for w in re.split(r"[\s,]+", text) if w and w not in ("-", "–", "&", "and")]
    if not 1 <= len(words) <= NAME_MAX_WORDS:
        return False
    for word in words:
        letters = [c for c in word if c.isalpha()]
        if not letters or not letters[0].isupper():
            return False
        if len(letters) >= 4 and all(c.isupper() for c in letters):
            return False
    return True


_BY_RE = re.compile(r"^(?:by|von|por|par|di|door|af|av)\s+", re.IGNORECASE)


def is_meta_line(text: str) -> bool:
    """A short line above an article's text that only dates or signs it: ``Posted: Fri 6:45 PM,
    Feb 16, 2018 | Updated: …``, ``segunda-feira, 22 de janeiro de 2018``, ``By A. Writer``."""
    if len(text) > META_LINE_MAX or text.endswith((".", "!", "?")):
        return False
    return parse_text_date(text) is not None or looks_like_name(_clean_name(text))


def _clean_name(raw: str) -> str:
    return _BY_RE.sub("", collapse(raw)).strip(" ,;-–|")


def json_ld_author(items: list[dict[str, object]]) -> str | None:
    for item in items:
        value = item.get("author") or item.get("creator")
        for one in value if isinstance(value, list) else [value]:
            name = one.get("name") if isinstance(one, dict) else one
            if isinstance(name, str) and looks_like_name(cleaned := _clean_name(name)):
                return cleaned
    return None


def meta_author(meta: dict[str, str]) -> str | None:
    for key in AUTHOR_META_KEYS:
        value = meta.get(key)
        if value and looks_like_name(cleaned := _clean_name(value)):
            return cleaned
    return None


def markup_author(tree: LexborHTMLParser) -> str | None:
    """Microdata ``author`` (its ``name`` inside, else its text), then ``rel=author``."""
    for node in css(tree, '[itemprop="author"], a[rel~="author"]'):
        inner = css(node, '[itemprop="name"]')
        text = _node_value(inner[0]) if inner else collapse(node.text())
        if looks_like_name(cleaned := _clean_name(text)):
            return cleaned
    return None
