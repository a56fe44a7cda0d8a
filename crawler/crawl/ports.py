"""The seams between the crawler and storage, as Protocols.

The crawler only talks to storage through these and storage's records (``vksnd.storage.records``):

- writing: ``Frontier`` (URLs and their state), ``ArticleStore`` (articles, runs), both in
  ``Store`` with batches, and ``ReparseStore`` (archived pages read back, re-extracted articles
  stored), satisfied by ``vksnd.storage.sqlite.SqliteStore``;
- reading: ``StoreReader`` (stats, the article feed, export), on a snapshot of its own so it can
  run beside the writer, satisfied by ``vksnd.storage.reader.SqliteReader``.

Storage satisfies them structurally (it never imports this module), and only
``vksnd.crawler.crawl.storage_engine`` opens the engine (``crawler.config`` reads the store's
defaults from its ``StoreConfig``): swapping SQLite for another engine means writing the classes
that satisfy these and pointing that module at them. ``tests/unit/test_layout.py`` holds the line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from vksnd.parsers.records import Article
from vksnd.storage.records import (
    ArchivedPage,
    DueListing,
    ExportedArticle,
    ExportFilter,
    ExportReport,
    FeedPage,
    ListingPage,
    NewUrl,
    RawPage,
    ReasonClass,
    RunCounters,
    RunOutcome,
    StorageStats,
    StoreRequest,
    StoreResult,
    UrlKind,
    UrlRecord,
    UrlState,
)


class Frontier(Protocol):
    async def add_urls(self, urls: Iterable[NewUrl]) -> int:
        """Insert unknown canonical URLs as pending (known ones are left alone, but a listing
        date fills an empty ``listed_on``). Returns how many were new."""
        ...

    async def get_url(self, url: str) -> UrlRecord | None: ...

    async def has_articles(self) -> bool:
        """Whether any article is stored (a first crawl walks the whole site)."""
        ...

    async def known_article_urls(self, urls: Sequence[str]) -> set[str]:
        """Those of ``urls`` already mapped to a stored article."""
        ...

    async def due_urls(
        self, now: datetime, limit: int, *, site: str | None = None
    ) -> list[UrlRecord]:
        """Pending URLs, and failed or skipped ones whose next_retry_at has passed, oldest
        first (``site``: of that site only; every ``site`` below means the same)."""
        ...

    async def due_listings(
        self, now: datetime, limit: int, *, site: str | None = None
    ) -> list[DueListing]:
        """Listing pages to walk on from (pending, or failed and due), with the scope and
        floor of the walk that left them."""
        ...

    async def note_listing_pages(self, pages: Sequence[ListingPage]) -> None:
        """Remember how a walk left these listing pages (read with their dates, failed with
        the dates around them, pending)."""
        ...

    async def recent_article_urls(
        self, published_since: datetime, *, site: str | None = None
    ) -> list[UrlRecord]:
        """URLs of current articles published since then (for conditional re-checks)."""
        ...

    async def revalidation_counts(
        self,
        published_before: datetime,
        checked_before: datetime,
        *,
        site: str | None = None,
        overdue_limit: int | None = None,
    ) -> tuple[int, int]:
        """Stored articles older than the recent window: how many, and how many were last
        checked before ``checked_before`` (overdue; counted up to ``overdue_limit``)."""
        ...

    async def least_recently_checked(
        self, published_before: datetime, limit: int, *, site: str | None = None
    ) -> list[UrlRecord]:
        """One URL per stored article older than the recent window, least recently checked
        first (for rolling revalidation)."""
        ...

    async def record_failure(
        self,
        url: str,
        reason: str,
        status: int | None,
        next_retry_at: datetime | None,
        *,
        permanent: bool = False,
        reason_class: ReasonClass | None = None,
    ) -> UrlState:
        """``permanent`` marks GONE (404/410, class ``gone``) or SKIPPED instead of FAILED;
        attempts += 1. Returns the state the URL is left in."""
        ...

    async def requeue(
        self,
        classes: Sequence[ReasonClass],
        *,
        since: datetime | None = None,
        dry_run: bool = False,
    ) -> dict[ReasonClass, int]:
        """Failed, skipped or gone URLs of these classes back to pending (``vksnd retry``)."""
        ...

    async def record_not_modified(self, url: str, fetched_at: datetime) -> None: ...

    async def record_page(
        self,
        raw: RawPage,
        kind: UrlKind,
        etag: str | None,
        last_modified: str | None,
        not_article: str | None = None,
    ) -> None:
        """Archive a fetched non-article page (listing, home) and mark its URL fetched;
        ``not_article`` says why a page fetched for an article is not one."""
        ...


class ArticleStore(Protocol):
    async def store_article(
        self, article: Article, raw: RawPage, etag: str | None, last_modified: str | None
    ) -> StoreResult:
        """In one transaction: archive ``raw``, mark the URL fetched, and dedupe by content hash
        (new / duplicate / unchanged / new version). ``article.url`` and
        ``article.canonical_url`` both map to the article."""
        ...

    async def start_run(self, kind: str, site: str | None = None) -> int: ...

    async def finish_run(
        self,
        run_id: int,
        counters: RunCounters,
        *,
        outcome: RunOutcome,
        reason: str | None = None,
        error: str | None = None,
    ) -> None: ...


class Store(Frontier, ArticleStore, Protocol):
    """Everything the pipeline asks of storage, plus storing articles in batches."""

    async def store_articles(self, requests: Sequence[StoreRequest]) -> list[StoreResult]:
        """``store_article`` for many, in one transaction; results in request order."""
        ...


class ReparseStore(Protocol):
    """What ``vksnd reparse`` asks: the archive read back, re-extracted articles stored."""

    def archived_article_pages(
        self, fetched_since: datetime | None = None, *, inflate: bool = True
    ) -> AsyncIterator[ArchivedPage]:
        """The newest archived page of every article URL (and of every URL whose page the
        parser refused as not an article), with the version its URL maps to now; bodies as
        stored (``ArchivedPage.codec``) unless ``inflate``."""
        ...

    async def count_archived_article_pages(self, fetched_since: datetime | None = None) -> int:
        """How many pages ``archived_article_pages`` yields."""
        ...

    async def store_reparsed(self, article: Article, page: ArchivedPage) -> StoreResult:
        """``store_article``'s rules, linked to the archived page, nothing archived again."""
        ...


class StoreReader(Protocol):
    """Reads on a snapshot of their own, safe while a daemon writes; synchronous (callers in
    the event loop run them on a worker thread). Closed after use (a context manager)."""

    def stats(self, *, last_runs: int = ..., top_reasons: int = ...) -> StorageStats: ...

    def feed(self, after_seq: int, limit: int, *, site: str | None = None) -> FeedPage:
        """Up to ``limit`` versions (superseded ones too) with ``seq > after_seq``, in order
        (of ``site`` only, when given)."""
        ...

    def article(self, seq: int) -> ExportedArticle | None: ...

    def articles(self, filt: ExportFilter) -> Iterator[ExportedArticle]:
        """Matching versions in ``seq`` order, streamed."""
        ...

    def export_corpus(self, out_dir: Path, filt: ExportFilter) -> ExportReport:
        """The corpus folder (one ``.txt`` per version + manifest), incremental, atomic."""
        ...

    def export_jsonl(self, stream: IO[str], filt: ExportFilter) -> int: ...

    def export_jsonl_file(self, path: Path, filt: ExportFilter) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


ReaderFactory = Callable[[], StoreReader]  # opens a reader on the service's database
