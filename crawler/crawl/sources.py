"""Sitemaps and feeds as discovery sources, beside the listing walk.

Where they come from (the profile's ``[discovery]``):

- ``sitemaps``: the profile's list; with ``sitemap_auto`` (the default) also the ``Sitemap:``
  lines of robots.txt (as the fetcher already read it: no request of its own), and, when
  ``probe`` (a backfill, not a dry run), ``/sitemap.xml`` at the site root if robots.txt names
  none. A sitemap index is followed to its child sitemaps (``MAX_SITEMAPS`` files at most);
- ``feeds``: the profile's list (``{id}``/``{slug}`` filled per category); with ``sitemap_auto``
  and ``probe`` also the feeds the home page announces (``<link rel="alternate"
  type="application/rss+xml">``). An incremental pass does not probe: it asks the site for
  nothing the profile and robots.txt do not name.

Every entry whose URL matches the profile's article pattern becomes a ``DiscoveredArticle``
(category 0: a source does not say) dated by the source. A feed's ``pubDate`` is the published
day; a sitemap's ``lastmod`` is the last change, never before publication, so it bounds the
date from above only: ``wanted`` keeps an entry unless its date shows it older than ``since``.
A source that cannot be read is noted (a configured one) or passed over (a guessed one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol
from urllib.parse import urljoin

from vksnd.crawler.crawl.discovery import DiscoveredArticle, ListingScope, settled_urls
from vksnd.crawler.crawl.ports import Store
from vksnd.crawler.fetch.errors import FetchError
from vksnd.crawler.fetch.fetcher import FetchResult
from vksnd.crawler.fetch.robots import RobotsRules
from vksnd.parsers.feeds import (
    FeedError,
    SourceEntry,
    feed_links,
    parse_feed,
    parse_sitemap,
    robots_sitemaps,
)
from vksnd.parsers.urls import canonicalize, is_article_url
from vksnd.storage.records import RunCounters

log = logging.getLogger("vksnd.sources")

MAX_SITEMAPS = 200  # sitemap files read per pass (an index and its children)
SOURCE_CATEGORY = 0


class RobotsSitemaps(Protocol):
    async def rules_for(self, url: str) -> RobotsRules: ...


class SourceFetcher(Protocol):
    async def fetch(self, url: str, *, accept_not_html: bool = False) -> FetchResult: ...


@dataclass(frozen=True, slots=True)
class SourceWindow:
    """The dates a run wants; None: every unknown article."""

    since: date | None = None
    until: date | None = None


@dataclass(slots=True)
class SourceReader:
    """Reads the site's sitemaps and feeds once and emits the article links a run wants."""

    fetcher: SourceFetcher
    store: Store
    scope: ListingScope
    counters: RunCounters
    robots: RobotsSitemaps | None = None  # None: robots.txt is not read (not obeyed)
    probe: bool = False  # guess /sitemap.xml and the home page's feeds
    notes: list[str] = field(default_factory=list)
    read: int = 0  # sitemap and feed files read

    async def run(
        self,
        emit: Callable[[DiscoveredArticle], Awaitable[bool]],
        window: SourceWindow = SourceWindow(),
    ) -> int:
        """Emit the wanted entries; returns how many were emitted."""
        entries = await self.entries()
        if not entries:
            return 0
        known = await settled_urls(self.store, [e.url for e, _ in entries], retry_failed=True)
        emitted = 0
        for entry, exact in entries:
            if entry.url in known or not _wanted(entry, exact, window):
                continue
            self.counters.listing_items += 1
            if not await emit(DiscoveredArticle(entry.url, entry.dated if exact else None,
                                                SOURCE_CATEGORY)):  # fmt: skip
                break
            emitted += 1
        return emitted

    async def entries(self) -> list[tuple[SourceEntry, bool]]:
        """Article entries of every source, once each; ``True`` where the date is exact."""
        profile = self.scope.profile
        sources = profile.discovery
        base = self.scope.base_url.rstrip("/") + "/"
        sitemaps = [(urljoin(base, s.lstrip("/")), True) for s in sources.sitemaps]
        feeds = [(url, True) for url in self._configured_feeds(base)]
        if sources.sitemap_auto:
            found = await self._robots_sitemaps(base)
            if not found and self.probe:
                found = [urljoin(base, "sitemap.xml")]
            sitemaps += [(u, False) for u in found]
            if self.probe:
                feeds += [(u, False) for u in await self._announced_feeds(base)]
        out: dict[str, tuple[SourceEntry, bool]] = {}
        for entry in await self._sitemap_entries(sitemaps):
            self._keep(out, entry, exact=False)
        for url, configured in _once(feeds):
            body = await self._get(url, configured)
            if body is None:
                continue
            try:
                parsed = parse_feed(body, url, profile.tz)
            except FeedError as exc:
                self._failed(url, exc.reason, configured)
                continue
            for entry in parsed:
                self._keep(out, entry, exact=True)
        return list(out.values())

    def _keep(
        self, out: dict[str, tuple[SourceEntry, bool]], entry: SourceEntry, *, exact: bool
    ) -> None:
        scope = self.scope
        url = canonicalize(
            entry.url, base=scope.base_url, scope_hosts=scope.scope_hosts, profile=scope.profile
        )
        if url is None or not is_article_url(url, scope.profile):
            return
        if url not in out or (exact and not out[url][1]):  # a feed's exact date wins
            out[url] = (SourceEntry(url, entry.dated), exact)

    def _configured_feeds(self, base: str) -> list[str]:
        profile = self.scope.profile
        urls: list[str] = []
        for template in profile.discovery.feeds:
            if "{id}" in template or "{slug}" in template:
                for category in profile.categories:
                    cat_id = category.id if category.id is not None else category.key
                    path = template.format(id=cat_id, slug=category.slug)
                    urls.append(urljoin(base, path.lstrip("/")))
            else:
                urls.append(urljoin(base, template.lstrip("/")))
        return urls

    async def _robots_sitemaps(self, base: str) -> list[str]:
        if self.robots is None:
            return []
        try:
            rules = await self.robots.rules_for(base)
        except FetchError:
            return []
        if rules.parser is None:
            return []
        return robots_sitemaps("\n".join(f"Sitemap: {u}" for u in rules.parser.sitemaps), base)

    async def _announced_feeds(self, base: str) -> list[str]:
        body = await self._get(base, False)
        return feed_links(body, base) if body else []

    async def _sitemap_entries(self, sitemaps: list[tuple[str, bool]]) -> list[SourceEntry]:
        tz = self.scope.profile.tz
        queue = list(_once(sitemaps))
        seen = {url for url, _ in queue}
        entries: list[SourceEntry] = []
        files = 0
        while queue and files < MAX_SITEMAPS:
            url, configured = queue.pop(0)
            files += 1
            body = await self._get(url, configured)
            if body is None:
                continue
            try:
                parsed = await asyncio.to_thread(parse_sitemap, body, url, tz)
            except FeedError as exc:
                self._failed(url, exc.reason, configured)
                continue
            entries.extend(parsed.entries)
            for child in parsed.children:
                if child not in seen:
                    seen.add(child)
                    queue.append((child, configured))
        return entries

    async def _get(self, url: str, configured: bool) -> bytes | None:
        try:
            result = await self.fetcher.fetch(url, accept_not_html=True)
        except FetchError as exc:
            self._failed(url, exc.reason, configured)
            return None
        self.read += 1
        return result.body

    def _failed(self, url: str, reason: str, configured: bool) -> None:
        if configured:
            line = f"discovery source {url} could not be read: {reason}"
            self.notes.append(line)
            log.warning(line, extra={"event": "source_failed", "url": url, "error": reason})
        else:
            log.debug(  # a guess that missed: most sites have no sitemap or feed
                f"no discovery source at {url}: {reason}",
                extra={"event": "source_absent", "url": url, "error": reason},
            )


def _once(items: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    seen: set[str] = set()
    out: list[tuple[str, bool]] = []
    for url, configured in items:
        if url not in seen:
            seen.add(url)
            out.append((url, configured))
    return out


def _wanted(entry: SourceEntry, exact: bool, window: SourceWindow) -> bool:
    if entry.dated is None:
        return True
    if window.since is not None and entry.dated < window.since:
        return False
    return not (exact and window.until is not None and entry.dated > window.until)
