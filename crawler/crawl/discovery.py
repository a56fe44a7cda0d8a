"""Discover article URLs by walking category listings, newest first, following pagination.

The walk is the pipeline's first step. It feeds the frontier with canonical URLs and the dates
the listings show, and hands each URL worth fetching to ``emit``. When to stop walking a
category is a policy, because the two callers want different things:

- ``IncrementalPolicy`` (``vksnd crawl``): stop when a whole listing page holds only known
  articles. Listings are newest first, so nothing new can hide behind such a page.
- ``BackfillPolicy`` (``vksnd backfill``): stop when every item of a page is older than
  ``since``. Dates come from the listing, or from the article itself when the listing shows
  none. Ids are never used: migrated articles are not in id order.

An item whose date cannot be learned never counts as "older", so an unknown date makes the walk
go on rather than stop early: walking one page too many is cheap, missing articles is not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from vksnd.crawler.config import DEFAULT_LISTING_MAX_PAGES
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.pipeline import PageFetcher, raw_page
from vksnd.crawler.crawl.ports import Store
from vksnd.crawler.fetch.errors import FetchError, PermanentFetchError
from vksnd.crawler.fetch.fetcher import FetchResult
from vksnd.parsers.errors import ParseError
from vksnd.parsers.listing import parse_listing
from vksnd.parsers.profiles.vksndtc import SiteProfile
from vksnd.parsers.records import Listing
from vksnd.parsers.urls import canonicalize, listing_page_number, listing_url
from vksnd.storage.records import NewUrl, RunCounters, UrlKind, UrlState

log = logging.getLogger("vksnd.discovery")

DEFAULT_RESUME_SCAN = 20_000  # due URLs scanned for listing pages to resume from


@dataclass(frozen=True, slots=True)
class DiscoveredArticle:
    """An article link seen on a listing: canonical URL, the date shown beside it, its category."""

    url: str
    listed_on: date | None
    category: int


@dataclass(frozen=True, slots=True)
class ListingScope:
    """What the walk needs to know about the site: where it is and which hosts are in scope."""

    base_url: str
    scope_hosts: frozenset[str]
    profile: SiteProfile
    categories: tuple[int, ...]
    max_pages: int = DEFAULT_LISTING_MAX_PAGES


class WalkPolicy(Protocol):
    async def triage(
        self, items: Sequence[DiscoveredArticle]
    ) -> tuple[list[DiscoveredArticle], bool]:
        """Return the items to fetch and whether this page ends the walk of its category."""
        ...


@dataclass(slots=True)
class IncrementalPolicy:
    """Fetch unknown articles; a page of known articles only means we have caught up."""

    store: Store

    async def triage(
        self, items: Sequence[DiscoveredArticle]
    ) -> tuple[list[DiscoveredArticle], bool]:
        settled = await settled_urls(self.store, [item.url for item in items], retry_failed=False)
        fresh = [item for item in items if item.url not in settled]
        return fresh, not fresh


async def settled_urls(store: Store, urls: Sequence[str], *, retry_failed: bool) -> set[str]:
    """URLs nothing needs to be done for now: mapped to a stored article, or recorded as gone,
    skipped, fetched (a page that is not an article) or, unless ``retry_failed``, failed (the
    retry pass takes those when their time comes). A listed-but-gone article then neither keeps
    a walk going nor gets fetched again on every pass."""
    settled = await store.known_article_urls(urls)
    waiting = {UrlState.PENDING, UrlState.FAILED} if retry_failed else {UrlState.PENDING}
    for url in urls:
        if url in settled:
            continue
        record = await store.get_url(url)
        if record is not None and record.state not in waiting:
            settled.add(url)
    return settled


DateResolver = Callable[[DiscoveredArticle], Awaitable[date | None]]


@dataclass(slots=True)
class BackfillPolicy:
    """Fetch unknown articles dated within [since, until]; stop below ``since``.

    ``resolve_date`` learns an undated item's date from the article page itself (the backfill
    fetches it, and stores it when it is in range, so it is not fetched twice).
    """

    store: Store
    since: date
    until: date
    resolve_date: DateResolver
    resolved: dict[str, date | None] = field(default_factory=dict)  # dated (and stored) inline

    async def triage(
        self, items: Sequence[DiscoveredArticle]
    ) -> tuple[list[DiscoveredArticle], bool]:
        known = await settled_urls(self.store, [item.url for item in items], retry_failed=True)
        wanted: list[DiscoveredArticle] = []
        all_older = bool(items)
        for item in items:
            when = item.listed_on
            if when is None and item.url in self.resolved:
                when = self.resolved[item.url]
            elif when is None and item.url not in known:
                when = self.resolved[item.url] = await self.resolve_date(item)
            if when is None or when >= self.since:
                all_older = False
            in_range = when is not None and self.since <= when <= self.until
            if in_range and item.url not in known and item.url not in self.resolved:
                wanted.append(item)
        return wanted, all_older


Emit = Callable[[DiscoveredArticle], Awaitable[bool]]


RetryAt = Callable[[int, FetchError], datetime]


class ListingWalker:
    """Walks listing pages of each category and emits the article links its policy wants.

    Resume points: before a listing page is fetched, and before the walk moves on to the next
    page, that page's URL is pending in the frontier; it turns fetched only once its items are
    in the frontier. A walk cut short (a failed page, a stop, a kill) therefore leaves its next
    page pending or failed, and ``walk_all(..., resume=True)`` walks on from there as well as
    from page 1: the stop rule "a page of known articles only" cannot strand the older pages.
    """

    def __init__(
        self,
        *,
        fetcher: PageFetcher,
        store: Store,
        pool: ParsePool,
        scope: ListingScope,
        counters: RunCounters,
        stop: asyncio.Event,
        retry_at: RetryAt,
        record_pages: bool = True,
    ) -> None:
        self._fetcher = fetcher
        self._store = store
        self._pool = pool
        self._scope = scope
        self._counters = counters
        self._stop = stop
        self._record_pages = record_pages
        self._retry_at = retry_at
        self.oldest_seen: dict[int, date] = {}  # per category, for progress estimates
        self.finished: set[int] = set()
        self._walked: dict[int, set[str]] = {}  # per category, listing pages of this run

    @property
    def categories(self) -> tuple[int, ...]:
        return self._scope.categories

    async def walk_all(self, policy: WalkPolicy, emit: Emit, *, resume: bool = False) -> None:
        """Walk every category at once: one listing stream per category keeps the fetchers fed.
        With ``resume``, also walk on from where earlier walks were cut short."""
        points = await self.resume_points() if resume else {}
        async with asyncio.TaskGroup() as group:
            for cat_id in self._scope.categories:
                group.create_task(self.walk_category(cat_id, policy, emit))
                if cat_id in points:
                    group.create_task(
                        self.walk_category(cat_id, policy, emit, start=points[cat_id])
                    )

    async def resume_points(self) -> dict[int, str]:
        """Per category, the lowest-numbered listing page left pending or failed-and-due."""
        scope = self._scope
        found: dict[int, tuple[int, str]] = {}
        for record in await self._store.due_urls(datetime.now(UTC), DEFAULT_RESUME_SCAN):
            if record.kind is not UrlKind.LISTING:
                continue
            number = listing_page_number(record.url)
            if number is None or number <= 1:
                continue  # page 1 is walked anyway
            for cat_id in scope.categories:
                if record.url != listing_url(scope.base_url, cat_id, number, scope.profile):
                    continue
                if cat_id not in found or number < found[cat_id][0]:
                    found[cat_id] = (number, record.url)
        return {cat_id: url for cat_id, (_, url) in found.items()}

    async def walk_category(
        self, cat_id: int, policy: WalkPolicy, emit: Emit, *, start: str | None = None
    ) -> None:
        scope = self._scope
        url: str | None = start or listing_url(scope.base_url, cat_id, 1, scope.profile)
        seen_pages: set[str] = set()
        walked = self._walked.setdefault(cat_id, set())  # shared with a resumed walk
        page = 0
        while url is not None and not self._stop.is_set() and page < scope.max_pages:
            if url in seen_pages:
                log.warning("listing pager loops", extra={"event": "listing_loop", "url": url})
                break
            if url in walked:
                break  # the other walk of this category has been here and goes on from it
            seen_pages.add(url)
            walked.add(url)
            page += 1
            if self._record_pages:
                await self._store.add_urls([NewUrl(url, UrlKind.LISTING)])
            fetched = await self._fetch_listing(url)
            if fetched is None:
                break
            result, listing = fetched
            items = self._discovered(listing, cat_id)
            self._note_dates(cat_id, items)
            if items and self._record_pages:
                await self._store.add_urls(
                    NewUrl(item.url, UrlKind.ARTICLE, item.listed_on) for item in items
                )
            wanted, done = await policy.triage(items)
            if start is not None and page == 1:
                done = False  # a resumed walk's first page may hold known items only
            for item in wanted:
                if not await emit(item):
                    break
            following = None if done or not items else listing.next_page_url
            if self._record_pages:
                if following is not None:  # pending before this page turns fetched
                    await self._store.add_urls([NewUrl(following, UrlKind.LISTING)])
                await self._record_listing(url, result)
            url = following
        self.finished.add(cat_id)
        log.info(
            "category walked",
            extra={"event": "category_done", "url": str(cat_id), "outcome": f"{page} pages"},
        )

    def _note_dates(self, cat_id: int, items: Sequence[DiscoveredArticle]) -> None:
        dated = [item.listed_on for item in items if item.listed_on is not None]
        if dated:
            oldest = min(dated)
            previous = self.oldest_seen.get(cat_id)
            self.oldest_seen[cat_id] = oldest if previous is None else min(oldest, previous)

    def _discovered(self, listing: Listing, cat_id: int) -> list[DiscoveredArticle]:
        scope = self._scope
        out: list[DiscoveredArticle] = []
        seen: set[str] = set()
        for item in listing.items:
            url = canonicalize(
                item.url, base=scope.base_url, scope_hosts=scope.scope_hosts, profile=scope.profile
            )
            if url is None or url in seen:
                continue
            seen.add(url)
            out.append(DiscoveredArticle(url, item.published_on, cat_id))
        return out

    async def _fetch_listing(self, url: str) -> tuple[FetchResult, Listing] | None:
        try:
            result = await self._fetcher.fetch(url)
        except FetchError as exc:
            self._counters.failures += 1
            log.warning(
                "listing fetch failed",
                extra={
                    "event": "listing_failed",
                    "url": url,
                    "status": exc.status,
                    "outcome": exc.reason,
                },
            )
            if self._record_pages:
                permanent = isinstance(exc, PermanentFetchError)
                record = await self._store.get_url(url)
                retry_at = (
                    None if permanent else self._retry_at(record.attempts if record else 0, exc)
                )
                await self._store.record_failure(
                    url, exc.reason, exc.status, retry_at, permanent=permanent
                )
            return None
        self._counters.listing_pages += 1
        listing = await self._pool.run(
            parse_listing_page, result.body, result.final_url, result.content_type, self._scope
        )
        if isinstance(listing, str):
            self._counters.failures += 1
            log.warning(
                "listing not parsed",
                extra={"event": "listing_unparsed", "url": url, "outcome": listing},
            )
            if self._record_pages:
                await self._store.record_failure(url, listing, result.status, None, permanent=True)
            return None
        return result, listing

    async def _record_listing(self, url: str, result: FetchResult) -> None:
        await self._store.record_page(
            raw_page(url, result), UrlKind.LISTING, result.etag, result.last_modified
        )


def parse_listing_page(
    body: bytes, url: str, content_type: str | None, scope: ListingScope
) -> Listing | str:
    """Module-level so a process pool can run it; a refusal comes back as its reason, because
    parser errors do not survive pickling (their ``__init__`` takes two arguments)."""
    try:
        return parse_listing(
            body, url, content_type, scope_hosts=scope.scope_hosts, profile=scope.profile
        )
    except ParseError as exc:
        return exc.reason
