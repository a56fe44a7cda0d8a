"""Sitemaps, RSS and Atom feeds, and where a site announces them: pure parsing, no I/O.

- ``robots_sitemaps``: the ``Sitemap:`` lines of a robots.txt;
- ``feed_links``: ``<link rel="alternate" type="application/rss+xml|atom+xml">`` of an HTML page;
- ``parse_sitemap``: a sitemap's ``<url>`` entries (``loc``, ``lastmod``) or, for a sitemap
  index, its child sitemaps;
- ``parse_feed``: an RSS 2.0 or Atom feed's entries (link, ``pubDate``/``published``/``updated``).

Dates are the day in the site's time zone when the value carries an offset (``lastmod`` with a
time, RFC 822 ``pubDate``), else the day as written. Tags are matched by local name, so any
namespace (or none) is read. A document that is not XML gives nothing: ``FeedError`` says why.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from vksnd.parsers.decoding import decode_body
from vksnd.parsers.query import css

MAX_ENTRIES = 50_000  # the sitemap protocol's own limit per file
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})


class FeedError(ValueError):
    """A sitemap or feed that cannot be read (not XML, an unknown root)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One article link from a sitemap or feed, with its date if the source gives one."""

    url: str
    dated: date | None


@dataclass(frozen=True, slots=True)
class Sitemap:
    entries: tuple[SourceEntry, ...]
    children: tuple[str, ...]  # child sitemaps of an index


def robots_sitemaps(text: str, base: str) -> list[str]:
    """The absolute URLs of robots.txt's ``Sitemap:`` lines, in order, once each."""
    found: list[str] = []
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "sitemap" and value.strip():
            url = urljoin(base, value.strip())
            if url not in found:
                found.append(url)
    return found


def feed_links(body: bytes, url: str, content_type: str | None = None) -> list[str]:
    """Feeds an HTML page announces in its head, absolute, once each."""
    tree = LexborHTMLParser(decode_body(body, content_type))
    found: list[str] = []
    for node in css(tree, "link[rel][href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").strip().lower()
        if "alternate" in rels and kind in FEED_TYPES:
            target = urljoin(url, (node.attributes.get("href") or "").strip())
            if target not in found:
                found.append(target)
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _root(body: bytes, url: str) -> ET.Element:
    if b"<!DOCTYPE" in body[:2048].upper() or b"<!ENTITY" in body[:4096].upper():
        raise FeedError(url, "a document type declaration (refused: entity expansion)")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise FeedError(url, f"not XML ({exc})") from exc


def _text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None


def _day(value: datetime, tz: tzinfo) -> date:
    return value.astimezone(tz).date() if value.tzinfo is not None else value.date()


def iso_day(text: str | None, tz: tzinfo) -> date | None:
    """A W3C datetime (``2024-05-01``, ``2024-05-01T08:00:00+07:00``) as a day."""
    if not text:
        return None
    try:
        return _day(datetime.fromisoformat(text.replace("Z", "+00:00")), tz)
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


def rfc822_day(text: str | None, tz: tzinfo) -> date | None:
    if not text:
        return None
    try:
        return _day(parsedate_to_datetime(text), tz)
    except (TypeError, ValueError, IndexError):
        return iso_day(text, tz)


def parse_sitemap(body: bytes, url: str, tz: tzinfo) -> Sitemap:
    """A ``<urlset>`` (entries) or a ``<sitemapindex>`` (children)."""
    root = _root(body, url)
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise FeedError(url, f"not a sitemap (root <{kind}>)")
    entries: list[SourceEntry] = []
    children: list[str] = []
    for item in root:
        loc = _text(item, "loc")
        if loc is None:
            continue
        loc = urljoin(url, loc)
        if _local(item.tag) == "sitemap":
            children.append(loc)
        elif _local(item.tag) == "url":
            entries.append(SourceEntry(loc, iso_day(_text(item, "lastmod"), tz)))
        if len(entries) + len(children) >= MAX_ENTRIES:
            break
    return Sitemap(tuple(entries), tuple(children))


def parse_feed(body: bytes, url: str, tz: tzinfo) -> tuple[SourceEntry, ...]:
    """An RSS 2.0 (``<rss><channel><item>``) or Atom (``<feed><entry>``) feed's entries."""
    root = _root(body, url)
    kind = _local(root.tag)
    entries: list[SourceEntry] = []
    if kind == "rss":
        channel = next((c for c in root if _local(c.tag) == "channel"), root)
        for item in channel:
            if _local(item.tag) != "item":
                continue
            link = _text(item, "link") or _text(item, "guid")
            if link:
                entries.append(
                    SourceEntry(urljoin(url, link), rfc822_day(_text(item, "pubdate"), tz))
                )
    elif kind == "feed":
        for entry in root:
            if _local(entry.tag) != "entry":
                continue
            link = _atom_link(entry)
            when = _text(entry, "published") or _text(entry, "updated")
            if link:
                entries.append(SourceEntry(urljoin(url, link), iso_day(when, tz)))
    else:
        raise FeedError(url, f"not an RSS or Atom feed (root <{kind}>)")
    return tuple(entries[:MAX_ENTRIES])


def _atom_link(entry: ET.Element) -> str | None:
    fallback: str | None = None
    for child in entry:
        if _local(child.tag) != "link":
            continue
        href = (child.get("href") or "").strip()
        rel = (child.get("rel") or "alternate").lower()
        if href and rel == "alternate":
            return href
        fallback = fallback or href or None
    return fallback
