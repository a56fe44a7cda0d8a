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

Without working listing selectors (a profile that has none, or a site that changed), a page is
read by structure (``parsers.link_discovery``): for a profile without ``listing.item`` the first
page of every category is read before any is walked, so the boxes every page repeats are told
from the lists; the walk learns where
the main list sits. The next page is the page's own pager, else the template's page + 1 while
pages bring new links. Each page counts its profile keys' hits for the drift alarm.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Protocol

from vksnd.crawler.config import DEFAULT_LISTING_MAX_PAGES
from vksnd.crawler.crawl.drift import KeyHits
from vksnd.crawler.crawl.outcomes import classify, short_reason
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.pipeline import PageFetcher, raw_page
from vksnd.crawler.crawl.ports import Store
from vksnd.crawler.fetch.errors import FetchError, PermanentFetchError, RobotsUnavailable
from vksnd.crawler.fetch.fetcher import FetchResult
from vksnd.parsers.errors import ParseError
from vksnd.parsers.link_discovery import RegionLearner
from vksnd.parsers.listing import ARTICLE_URL_KEY, ListingRead, read_listing
from vksnd.parsers.profiles.vksndtc import SiteProfile
from vksnd.parsers.records import ListingItem
from vksnd.parsers.urls import canonicalize, listing_page_number, listing_url
from vksnd.storage.records import (
    DueListing,
    ListingPage,
    ListingState,
    NewUrl,
    ReasonClass,
    RunCounters,
    UrlKind,
    UrlState,
)

log = logging.getLogger("vksnd.discovery")

DEFAULT_RESUME_SCAN = 20_000  # due listing pages read to resume from
MAX_FAILED_IN_A_ROW = 2  # a failed listing page is walked past; two in a row end the walk


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
    site: str | None = None  # one of several sites: its own resume points only


class WalkPolicy(Protocol):
    @property
    def floor(self) -> date | None:
        """The oldest date the walk wants (None: every item it does not know)."""
        ...

    async def triage(
        self, items: Sequence[DiscoveredArticle]
    ) -> tuple[list[DiscoveredArticle], bool]:
        """Return the items to fetch and whether this page ends the walk of its category."""
        ...


@dataclass(slots=True)
class IncrementalPolicy:
    """Fetch unknown articles; a page of known articles only means we have caught up.

    With a ``floor`` (a walk resumed from a page a backfill failed), items dated before it are
    not wanted either: the walk ends where the backfill's range did."""

    store: Store
    floor: date | None = None

    async def triage(
        self, items: Sequence[DiscoveredArticle]
    ) -> tuple[list[DiscoveredArticle], bool]:
        settled = await settled_urls(self.store, [item.url for item in items], retry_failed=False)
        floor = self.floor
        fresh = [
            item
            for item in items
            if item.url not in settled
            and (floor is None or item.listed_on is None or item.listed_on >= floor)
        ]
        return fresh, not fresh


async def settled_urls(store: Store, urls: Sequence[str], *, retry_failed: bool) -> set[str]:
    """URLs nothing needs to be done for now: mapped to a stored article, or recorded as gone,
    skipped, fetched (a page that is not an article) or, unless ``retry_failed``, failed (the
    retry pass takes those when their time comes; with ``retry_failed`` a skipped URL whose
    time has come is taken too). A listed-but-gone article then neither keeps a walk going nor
    gets fetched again on every pass."""
    settled = await store.known_article_urls(urls)
    waiting = {UrlState.PENDING, UrlState.FAILED} if retry_failed else {UrlState.PENDING}
    now = datetime.now(UTC)
    for url in urls:
        if url in settled:
            continue
        record = await store.get_url(url)
        if record is None or record.state in waiting:
            continue
        due = record.next_retry_at is not None and record.next_retry_at <= now
        if not (retry_failed and record.state is UrlState.SKIPPED and due):
            settled.add(url)
    return settled


DateResolver = Callable[[DiscoveredArticle], Awaitable[date | None]]


@dataclass(slots=True)
class BackfillPolicy:
    """Fetch unknown articles dated within [since, until]; stop below ``since``.

    ``resolve_date`` learns an undated item's date from the article page itself (the backfill
    fetches it, and stores it when it is in range, so it is not fetched twice).

    A listing may show an update date instead of the published one (later, never earlier): an
    item listed after ``until`` may be published within the range. Listings are newest first
    by published date, so such an item can only sit on the first page that shows a date within
    the range, or on the page just before it; those items are dated from their own page.
    """

    store: Store
    since: date
    until: date
    resolve_date: DateResolver
    resolved: dict[str, date | None] = field(default_factory=dict)  # dated (and stored) inline
    _above: dict[int, list[DiscoveredArticle]] = field(default_factory=dict)  # per category

    @property
    def floor(self) -> date:
        return self.since

    async def triage(
        self, items: Sequence[DiscoveredArticle]
    ) -> tuple[list[DiscoveredArticle], bool]:
        known = await settled_urls(self.store, [item.url for item in items], retry_failed=True)
        wanted: list[DiscoveredArticle] = []
        all_older = bool(items)
        dates = [item.listed_on for item in items if item.listed_on is not None]
        reaches_range = bool(dates) and min(dates) <= self.until
        later = [
            item for item in items if item.listed_on is not None and item.listed_on > self.until
        ]
        if items and not reaches_range:
            self._above[items[0].category] = later  # the page just before the range, maybe
            later = []
        elif items:
            later = self._above.pop(items[0].category, []) + later
        for item in [*later, *items]:
            when = item.listed_on
            maybe_earlier = item in later
            if (when is None or maybe_earlier) and item.url in self.resolved:
                when = self.resolved[item.url]
            elif (when is None or maybe_earlier) and item.url not in known:
                when = self.resolved[item.url] = await self.resolve_date(item)
            if when is None or when >= self.since:
                all_older = False
            in_range = when is not None and self.since <= when <= self.until
            if in_range and item.url not in known and item.url not in self.resolved:
                wanted.append(item)
        return wanted, all_older


Emit = Callable[[DiscoveredArticle], Awaitable[bool]]
PolicyFor = Callable[[date | None], WalkPolicy]  # the policy of a walk resumed with that floor


class RetryTimes(Protocol):
    """When a failed URL is due again (the pipeline's backoff, shared with listing pages)."""

    def next_retry_at(self, attempts: int, error: FetchError) -> datetime: ...

    def skipped_retry_at(self, attempts: int) -> datetime: ...


@dataclass(frozen=True, slots=True)
class _Failed:
    """A listing page that could not be read: why, and whether the walk may go past it."""

    reason: str
    walk_on: bool  # False: the host is unreachable or off limits, the next page would fail too


class ListingWalker:
    """Walks listing pages of each category and emits the article links its policy wants.

    Resume points: before a listing page is fetched, and before the walk moves on to the next
    page, that page's URL is pending in the frontier; it turns fetched only once its items are
    in the frontier. A walk cut short (a stop, a kill) therefore leaves its next page pending,
    and ``walk_all(..., resume=True)`` walks on from there as well as from page 1: the stop rule
    "a page of known articles only" cannot strand the older pages.

    A page that fails does not end the walk: it is recorded (failed, retried like any URL) with
    the dates around it, and the walk goes on to the page after it when the pager numbers its
    pages; two failures in a row, or a host that does not answer at all, end it. Every page is
    noted in the store by its scope (``cat:2``): which were read, down to which date, which
    failed, and what the walk that left a page wanted (its ``floor``), so a later walk resumed
    from a failed page wants the same.
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
        retry: RetryTimes,
        record_pages: bool = True,
        failure_reasons: Counter[str] | None = None,
        key_hits: KeyHits | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._store = store
        self._pool = pool
        self._scope = scope
        self._counters = counters
        self._stop = stop
        self._record_pages = record_pages
        self._retry = retry
        self.failure_reasons = Counter[str]() if failure_reasons is None else failure_reasons
        self.oldest_seen: dict[int, date] = {}  # per category, for progress estimates
        self.finished: set[int] = set()
        self.notes: list[str] = []  # what a person should know about the walk, a line each
        self._walked: dict[int, set[str]] = {}  # per category, listing pages of this run
        self.key_hits = KeyHits() if key_hits is None else key_hits
        self.learner = RegionLearner()  # where a page's main list sits, without selectors
        self.links_seen = 0  # in-scope links on the listing pages read
        self._prefetched: dict[str, tuple[FetchResult, ListingRead] | _Failed] = {}

    @property
    def categories(self) -> tuple[int, ...]:
        return self._scope.categories

    async def walk_all(
        self,
        policy: WalkPolicy,
        emit: Emit,
        *,
        resume: bool = False,
        policy_for: PolicyFor | None = None,
    ) -> None:
        """Walk every category at once: one listing stream per category keeps the fetchers fed.
        With ``resume``, also walk on from where earlier walks were cut short or failed, each
        with the policy ``policy_for`` gives for that walk's floor."""
        self._drop_unknown_categories()
        starts = await self.resume_points(include_first=False) if resume else {}
        await self._read_first_pages()
        async with asyncio.TaskGroup() as group:
            for cat_id in self._scope.categories:
                group.create_task(self.walk_category(cat_id, policy, emit))
                for due in starts.get(cat_id, ()):
                    resumed = policy_for(due.floor) if policy_for is not None else policy
                    group.create_task(self.walk_category(cat_id, resumed, emit, start=due))

    def _drop_unknown_categories(self) -> None:
        """A category the profile does not list (a mistyped ``--category``) fails its walk
        with a line naming it, instead of a listing URL with an empty slug."""
        scope = self._scope
        known = set(scope.profile.category_keys)
        unknown = [key for key in scope.categories if key not in known]
        for key in unknown:
            reason = f"no category {key} in profile {scope.profile.name!r}"
            self._counters.listing_failures += 1
            self.failure_reasons[reason] += 1
            self._note(f"{scope_of(key)}: {reason}")
            self.finished.add(key)
        if unknown:
            self._scope = replace(
                scope, categories=tuple(k for k in scope.categories if k in known)
            )

    async def _read_first_pages(self) -> None:
        """Page 1 of every category, read before any walk: the boxes they all show are known
        before the first list is chosen."""
        scope = self._scope

        async def read(cat_id: int) -> None:
            url = self._listing_url(cat_id, 1)
            fetched = await self._fetch_listing(url, scope_of(cat_id), guessed=False, page=1,
                                                cat_id=cat_id)  # fmt: skip
            if fetched is not None:
                self._prefetched[url] = fetched

        if len(scope.categories) < 2 or scope.profile.selectors.listing_item:
            return  # a profile naming its list items needs no boxes told apart first
        async with asyncio.TaskGroup() as group:
            for cat_id in scope.categories:
                group.create_task(read(cat_id))

    def _listing_url(self, cat_id: int, page: int) -> str:
        scope = self._scope
        return listing_url(scope.base_url, cat_id, page, scope.profile)

    async def walk_resumes(self, policy_for: PolicyFor, emit: Emit) -> int:
        """Only the resume points (the retry pass): each due listing page walked on from, with
        the policy of its floor. Returns how many walks started."""
        starts = await self.resume_points(include_first=True)
        walks = [(cat_id, due) for cat_id, dues in starts.items() for due in dues]
        async with asyncio.TaskGroup() as group:
            for cat_id, due in walks:
                group.create_task(
                    self.walk_category(cat_id, policy_for(due.floor), emit, start=due)
                )
        return len(walks)

    async def resume_points(self, *, include_first: bool) -> dict[int, list[DueListing]]:
        """Per category, the listing pages left pending or failed-and-due, lowest number
        first; page 1 only with ``include_first`` (a full walk reads it anyway)."""
        scope = self._scope
        by_scope = {scope_of(cat_id): cat_id for cat_id in scope.categories}
        found: dict[int, list[DueListing]] = {}
        now = datetime.now(UTC)
        for due in await self._store.due_listings(now, DEFAULT_RESUME_SCAN, site=scope.site):
            number = (
                due.number
                if due.number is not None
                else listing_page_number(due.url, scope.profile)
            )
            cat_id = by_scope.get(due.scope) if due.scope is not None else None
            if due.scope is None:  # noted before scopes were kept: match the URL
                for candidate in scope.categories:
                    if number is not None and due.url == listing_url(
                        scope.base_url, candidate, number, scope.profile
                    ):
                        cat_id = candidate
            if cat_id is None or (number is not None and number <= 1 and not include_first):
                continue
            found.setdefault(cat_id, []).append(
                DueListing(due.url, scope_of(cat_id), number, due.floor)
            )
        for dues in found.values():
            dues.sort(key=lambda d: d.number if d.number is not None else 1 << 62)
        return found

    async def walk_category(
        self, cat_id: int, policy: WalkPolicy, emit: Emit, *, start: DueListing | None = None
    ) -> None:
        scope = self._scope
        name = scope_of(cat_id)
        url: str | None = start.url if start else self._listing_url(cat_id, 1)
        number = start.number if start else 1
        seen_pages: set[str] = set()
        walked = self._walked.setdefault(cat_id, set())  # shared with a resumed walk
        page = read = failed = in_a_row = 0
        guessed = False  # the page after a failed one, its URL made from the page number
        above: date | None = None  # the oldest date of the last page read: a hole's top
        hole: ListingPage | None = None  # a failed page waiting for the date below it
        listed: set[str] = set()  # article links this walk has seen: a page of none new ends it
        while url is not None and not self._stop.is_set() and page < scope.max_pages:
            if url in seen_pages:
                log.warning(
                    "listing pager loops",
                    extra={"event": "listing_loop", "url": url, "scope": name},
                )
                break
            if url in walked:
                break  # the other walk of this category has been here and goes on from it
            seen_pages.add(url)
            walked.add(url)
            page += 1
            if self._record_pages and not guessed:
                await self._note_pending(url, name, number, policy.floor)
            fetched = self._prefetched.pop(url, None) or await self._fetch_listing(
                url, name, guessed=guessed, page=number, cat_id=cat_id
            )
            if fetched is None:  # a guessed page past the last one: the walk is over
                break
            if isinstance(fetched, _Failed):
                failed += 1
                in_a_row += 1
                hole = ListingPage(
                    url, name, number, policy.floor, ListingState.FAILED, newest=above
                )
                if self._record_pages:
                    await self._store.note_listing_pages([hole])
                if not fetched.walk_on or in_a_row >= MAX_FAILED_IN_A_ROW or number is None:
                    break
                number += 1
                url, guessed = self._listing_url(cat_id, number), True
                continue
            in_a_row = 0
            read += 1
            result, listing = fetched
            generic = listing.selected is None
            items = self._discovered(self._items(listing), cat_id)
            fresh = [item for item in items if item.url not in listed]
            listed.update(item.url for item in items)
            if guessed and not fresh:
                break  # a guessed page past the last one: nothing new, the walk is over
            guessed = False
            self._counters.listing_items += len(items)
            dates = [item.listed_on for item in items if item.listed_on is not None]
            newest, oldest = (max(dates), min(dates)) if dates else (None, None)
            self._note_dates(cat_id, oldest)
            if not items and page == 1 and start is None:
                self._note(f"{name}: no article links on its first listing page ({url})")
            if items and self._record_pages:
                await self._store.add_urls(
                    NewUrl(item.url, UrlKind.ARTICLE, item.listed_on, scope=name) for item in items
                )
            wanted, done = await policy.triage(items)
            if start is not None and page == 1:
                done = False  # a resumed walk's first page may hold known items only
            for item in wanted:
                if not await emit(item):
                    break
            # A page of links this walk has seen ends a selector-free walk (a pager going round,
            # the last page served again); listings shifting under a walk repeat items too, so
            # with the profile's selectors only an empty page does.
            ended = not fresh if generic else not items
            following = None if done or ended else listing.next_page_url
            after = _next_number(number, following, scope.profile)
            # Guessed only where the profile does not say what its pager looks like.
            pageable = (
                "{page}" in scope.profile.listing_url_template
                and not scope.profile.selectors.listing_next
            )
            if following is None and generic and pageable and fresh and not done and number:
                # No pager found: the template's next page, walked while pages bring new links.
                following, after = self._listing_url(cat_id, number + 1), number + 1
                guessed = True
            if self._record_pages:
                notes = [
                    ListingPage(
                        url, name, number, policy.floor, ListingState.READ,
                        newest=newest, oldest=oldest, items=len(items),
                    )
                ]  # fmt: skip
                if hole is not None:  # the failed page's hole ends where this page begins
                    notes.append(replace(hole, oldest=newest))
                if following is not None and not guessed:  # pending before this page turns fetched
                    await self._store.add_urls([NewUrl(following, UrlKind.LISTING, scope=name)])
                    notes.append(
                        ListingPage(following, name, after, policy.floor, ListingState.PENDING)
                    )
                await self._store.note_listing_pages(notes)
                await self._record_listing(url, result)
            hole = None
            above = oldest or above
            url, number = following, after
        self.finished.add(cat_id)
        log.info(
            f"{name}: {read} listing pages read, {failed} failed",
            extra={
                "event": "listing_walked",
                "scope": name,
                "pages": read,
                "failed_pages": failed,
                "reached": None
                if cat_id not in self.oldest_seen
                else str(self.oldest_seen[cat_id]),
                "resumed_from": None if start is None else start.url,
            },
        )

    def no_links_reason(self) -> str | None:
        """Why the listings read gave no article link, naming the profile's article pattern;
        None when they gave some (or none was read)."""
        pages = self._counters.listing_pages
        if not pages or self._counters.listing_items:
            return None
        pattern = self._scope.profile.article_path.pattern
        read = f"{pages} listing page" + ("" if pages == 1 else "s")
        hit, _ = self.key_hits.counts.get(ARTICLE_URL_KEY, [0, 0])
        if hit:
            return (
                f"no article links: no list of them found on the {read} read ({hit} held"
                f" links matching the article pattern {pattern})"
            )
        return (
            f"no article links: no link on the {read} read matched the article pattern {pattern}"
            f" ({self.links_seen} in-scope links seen): check urls.article in the profile"
        )

    def _note(self, line: str) -> None:
        self.notes.append(line)
        log.warning(line, extra={"event": "listing_note"})

    async def _note_pending(
        self, url: str, name: str, number: int | None, floor: date | None
    ) -> None:
        await self._store.add_urls([NewUrl(url, UrlKind.LISTING, scope=name)])
        await self._store.note_listing_pages(
            [ListingPage(url, name, number, floor, ListingState.PENDING)]
        )

    def _note_dates(self, cat_id: int, oldest: date | None) -> None:
        if oldest is not None:
            previous = self.oldest_seen.get(cat_id)
            self.oldest_seen[cat_id] = oldest if previous is None else min(oldest, previous)

    def _items(self, read: ListingRead) -> tuple[ListingItem, ...]:
        """The page's article items: the profile's selectors', else the learned main list."""
        if read.selected is not None:
            return read.selected.items
        main = self.learner.main(read.groups)
        return main.items if main is not None else ()

    def _discovered(self, items: tuple[ListingItem, ...], cat_id: int) -> list[DiscoveredArticle]:
        scope = self._scope
        out: list[DiscoveredArticle] = []
        seen: set[str] = set()
        for item in items:
            url = canonicalize(
                item.url, base=scope.base_url, scope_hosts=scope.scope_hosts, profile=scope.profile
            )
            if url is None or url in seen:
                continue
            seen.add(url)
            out.append(DiscoveredArticle(url, item.published_on, cat_id))
        return out

    async def _fetch_listing(
        self, url: str, name: str, *, guessed: bool, page: int | None, cat_id: int
    ) -> tuple[FetchResult, ListingRead] | _Failed | None:
        """The page and its listing; ``_Failed`` (recorded) when it cannot be read; None when a
        guessed page answers "no such page" (the walk went past the last page)."""
        try:
            result = await self._fetcher.fetch(url)
        except FetchError as exc:
            if guessed and isinstance(exc, PermanentFetchError):
                return None
            reason_class = classify(exc)
            await self._failed(url, name, exc.reason, exc.status, reason_class, error=exc)
            # A host off limits (robots.txt unreadable) fails the next page too: stop there.
            return _Failed(exc.reason, not isinstance(exc, RobotsUnavailable))
        self._counters.listing_pages += 1
        following = None if page is None else self._listing_url(cat_id, page + 1)
        listing = await self._pool.run(
            parse_listing_page,
            result.body,
            result.final_url,
            result.content_type,
            self._scope,
            page,
            following,
        )
        if isinstance(listing, str):
            await self._failed(url, name, listing, result.status, ReasonClass.PARSE)
            return _Failed(listing, True)
        self.key_hits.record_all(listing.hits)
        self.links_seen += listing.links
        if listing.selected is None:
            self.learner.observe(url, listing.groups)
        return result, listing

    async def _failed(
        self,
        url: str,
        name: str,
        reason: str,
        status: int | None,
        reason_class: ReasonClass,
        *,
        error: FetchError | None = None,
    ) -> None:
        self._counters.listing_failures += 1
        self.failure_reasons[short_reason(reason)] += 1
        log.info(
            f"listing page failed: {reason}",
            extra={
                "event": "listing_failed",
                "url": url,
                "scope": name,
                "status": status,
                "error": reason,
                "reason_class": reason_class.value,
            },
        )
        if not self._record_pages:
            return
        record = await self._store.get_url(url)
        attempts = record.attempts if record is not None else 0
        retry_at: datetime | None = None
        if reason_class.transient and error is not None:
            retry_at = self._retry.next_retry_at(attempts, error)
        elif reason_class.retried_on_schedule:
            retry_at = self._retry.skipped_retry_at(attempts)
        await self._store.record_failure(
            url,
            reason,
            status,
            retry_at,
            permanent=not reason_class.transient,
            reason_class=reason_class,
        )

    async def _record_listing(self, url: str, result: FetchResult) -> None:
        await self._store.record_page(
            raw_page(url, result), UrlKind.LISTING, result.etag, result.last_modified
        )


def _next_number(number: int | None, following: str | None, profile: SiteProfile) -> int | None:
    """The number of the page after page ``number``: the pager link's own, else one more."""
    if following is None:
        return None
    return listing_page_number(following, profile) or (None if number is None else number + 1)


def scope_of(cat_id: int) -> str:
    """The listing scope of a category (the key of its walk bookkeeping)."""
    return f"cat:{cat_id}"


def parse_listing_page(
    body: bytes,
    url: str,
    content_type: str | None,
    scope: ListingScope,
    page: int | None = None,
    expected_next: str | None = None,
) -> ListingRead | str:
    """Module-level so a process pool can run it; a refusal comes back as its reason, because
    parser errors do not survive pickling (their ``__init__`` takes two arguments)."""
    try:
        return read_listing(
            body, url, content_type, scope_hosts=scope.scope_hosts, profile=scope.profile,
            page=page, expected_next=expected_next,
        )  # fmt: skip
    except ParseError as exc:
        return exc.reason
