"""``SqliteStore``: the crawler's frontier and article store on one SQLite file.

One instance owns one long-lived aiosqlite connection, the only writer of its process. Every
write is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any error), serialized by an
asyncio lock so concurrent tasks never interleave statements of two transactions. Readers (stats,
the feed, export) use connections of their own (``storage.reader.SqliteReader``); WAL lets them
read while this one writes. Rows come back as ``sqlite3.Row`` and are read by column name.

``store_articles`` is the batch form of ``store_article`` (same rules, one transaction, a handful
of statements for the whole batch): it is how a backfill or a bench reaches thousands of articles
a second. A second connection checkpoints the WAL in the background (``checkpoint_every``), so a
commit only appends to the WAL. The rules live in ``vksnd.storage.versions``, the writing in
``vksnd.storage.article_writes``.

Timestamps go in as aware datetimes (naive ones are taken as UTC) and come back aware, in UTC.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from vksnd.parsers.records import Article
from vksnd.storage import archive
from vksnd.storage.archive import DEFAULT_COMPRESSION_LEVEL
from vksnd.storage.article_writes import (
    MARK_FETCHED_SQL,
    chunks,
    fetched_row,
    page_row,
    store_batch,
)
from vksnd.storage.columns import (
    UrlKey,
    marks,
    no_url_key,
    opt_date_from_db,
    opt_date_to_db,
    opt_ts_from_db,
    opt_ts_to_db,
    ts_from_db,
    ts_to_db,
)
from vksnd.storage.errors import StorageError, translate_sqlite_error
from vksnd.storage.records import (
    ArchivedPage,
    DueListing,
    ListingPage,
    NewUrl,
    RawPage,
    ReasonClass,
    RunCounters,
    RunOutcome,
    StoreRequest,
    StoreResult,
    UrlKind,
    UrlRecord,
    UrlState,
    failure_state,
)
from vksnd.storage.schema import (
    DEFAULT_BUSY_TIMEOUT_MS,
    DEFAULT_WAL_AUTOCHECKPOINT_PAGES,
    prepare_writer,
)
from vksnd.storage.sites import SiteMap
from vksnd.storage.writer_lock import WriterLock

DEFAULT_ARCHIVE = True

_URL_FIELDS = (
    "url",
    "kind",
    "state",
    "http_status",
    "etag",
    "last_modified",
    "attempts",
    "last_error",
    "next_retry_at",
    "listed_on",
    "first_seen_at",
    "last_fetched_at",
    "article_id",
    "not_article",
    "reason_class",
    "scope",
    "site",
)
_URL_COLUMNS = ", ".join(_URL_FIELDS)
_U_URL_COLUMNS = ", ".join(f"u.{name}" for name in _URL_FIELDS)
# The pages reparse reads (``pages p`` joined with ``urls u``; one parameter, fetched since):
# the newest 200 of each URL fetched for an article, refused ones included.
_REPARSE_PAGES = (
    "(p.kind = 'article' OR (p.kind = 'other' AND u.not_article IS NOT NULL))"
    " AND p.status = 200 AND p.fetched_at >= ?"
    " AND p.id = (SELECT max(p2.id) FROM pages p2 WHERE p2.url = p.url)"
)


BACKSTOP_AUTOCHECKPOINT = 4 * DEFAULT_WAL_AUTOCHECKPOINT_PAGES
DEFAULT_CHECKPOINT_EVERY = 2_000  # articles stored between background checkpoints (~30 MB)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    archive: bool = DEFAULT_ARCHIVE  # keep raw page bodies (needed by ``reparse``)
    compression_level: int = DEFAULT_COMPRESSION_LEVEL
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    # Checkpoint the WAL on a second connection (its own thread) every so many articles, so
    # commits do not stop to copy pages into the database file; 0 leaves it to SQLite's
    # autocheckpoint inside COMMIT.
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    # Whose rows these are, by URL host (``storage.sites``); unnamed hosts: the default site.
    sites: SiteMap = field(default_factory=SiteMap)
    # A URL's article key, the site profile's rule (the crawler gives it); without it URLs are
    # stored without a key and articles by ``Article.key`` alone.
    url_key: UrlKey = no_url_key


async def _close_all(*conns: aiosqlite.Connection | None) -> None:
    for conn in conns:
        if conn is not None:
            await conn.close()


def _url_record(row: sqlite3.Row) -> UrlRecord:
    return UrlRecord(
        url=row["url"],
        kind=UrlKind(row["kind"]),
        state=UrlState(row["state"]),
        http_status=row["http_status"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_retry_at=opt_ts_from_db(row["next_retry_at"]),
        listed_on=opt_date_from_db(row["listed_on"]),
        first_seen_at=ts_from_db(row["first_seen_at"]),
        last_fetched_at=opt_ts_from_db(row["last_fetched_at"]),
        article_id=row["article_id"],
        not_article=row["not_article"],
        reason_class=ReasonClass(row["reason_class"]) if row["reason_class"] else None,
        scope=row["scope"],
        site=row["site"],
    )


def _site_clause(site: str | None, column: str) -> tuple[str, tuple[str, ...]]:
    """`` AND column = ?`` and its parameter when a site is asked for; nothing otherwise."""
    return ("", ()) if site is None else (f" AND {column} = ?", (site,))


def _now() -> str:
    return ts_to_db(datetime.now(UTC))


class SqliteStore:
    """Satisfies ``crawler.crawl.ports.Frontier`` and ``ArticleStore`` structurally."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        config: StoreConfig,
        checkpointer: aiosqlite.Connection | None = None,
        writer_lock: WriterLock | None = None,
    ) -> None:
        self._conn = conn
        self._writer_lock = writer_lock
        self._checkpointer = checkpointer
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._since_checkpoint = 0
        self.path = path
        self.config = config
        self._lock = asyncio.Lock()  # one transaction at a time on the connection
        self._encode_turn = asyncio.Lock()  # see store_articles
        self._closed = False
        self._url_key = config.url_key

    @classmethod
    async def open(
        cls,
        path: Path | str,
        config: StoreConfig | None = None,
        *,
        writer_lock: WriterLock | None = None,
    ) -> SqliteStore:
        """Open (creating parent directories and the file if needed) and migrate.
        ``writer_lock`` (``storage.writer_lock``) is released when the store closes."""
        path = Path(path)
        config = config or StoreConfig()
        try:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reason = f"cannot create the database's directory ({exc.strerror})"
                raise StorageError(path.parent, reason) from exc
            try:
                conn = await aiosqlite.connect(path, isolation_level=None)
            except sqlite3.Error as exc:
                raise translate_sqlite_error(exc, path) from exc
        except BaseException:
            if writer_lock is not None:
                writer_lock.release()
            raise
        checkpointer: aiosqlite.Connection | None = None
        try:
            await prepare_writer(conn, path, config.busy_timeout_ms)
            if config.checkpoint_every > 0:
                # SQLite's own checkpoint stays as a backstop, at 4x the usual WAL size.
                await conn.execute_fetchall(
                    f"PRAGMA wal_autocheckpoint = {BACKSTOP_AUTOCHECKPOINT}"
                )
                checkpointer = await aiosqlite.connect(path, isolation_level=None)
                await checkpointer.execute_fetchall(
                    f"PRAGMA busy_timeout = {config.busy_timeout_ms}"
                )
        except sqlite3.Error as exc:
            await _close_all(conn, checkpointer)
            if writer_lock is not None:
                writer_lock.release()
            raise translate_sqlite_error(exc, path) from exc
        except BaseException:
            await _close_all(conn, checkpointer)
            if writer_lock is not None:
                writer_lock.release()
            raise
        return cls(conn, path, config, checkpointer, writer_lock)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            try:
                if self._checkpoint_task is not None:
                    await self._checkpoint_task  # a failed checkpoint is raised here
            finally:
                try:
                    await _close_all(self._conn, self._checkpointer)
                finally:
                    if self._writer_lock is not None:
                        self._writer_lock.release()

    def _after_commit(self, stored: int) -> None:
        """Start a background checkpoint when enough was written since the last one."""
        self._since_checkpoint += stored
        if (
            self._closed
            or self._checkpointer is None
            or self._since_checkpoint < self.config.checkpoint_every
        ):
            return
        task = self._checkpoint_task
        if task is not None:
            if not task.done():
                return
            task.result()  # raise what the last one met rather than lose it
        self._since_checkpoint = 0
        self._checkpoint_task = asyncio.create_task(self._checkpoint(self._checkpointer))

    async def _checkpoint(self, checkpointer: aiosqlite.Connection) -> None:
        try:
            # fetched to the end: a pragma cursor left open keeps a read snapshot, and a
            # snapshot pins the WAL (later checkpoints could copy nothing past it)
            await checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- plumbing ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rollback on any error; sqlite errors translated."""
        async with self._lock, self._locked_transaction() as conn:
            yield conn

    @asynccontextmanager
    async def _locked_transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``_transaction`` for a caller that already holds ``self._lock``."""
        self._check_open()
        try:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    async def _rollback(self) -> None:
        """Undo whatever this transaction got to, including a ``BEGIN`` still queued.

        A cancelled task does not cancel a statement already handed to aiosqlite: its queued
        ``BEGIN IMMEDIATE`` still runs later. ``in_transaction`` cannot tell (it is not yet
        true), so ``ROLLBACK`` is queued unconditionally behind it: the queue is FIFO, so it
        runs after the ``BEGIN`` and undoes it. Only "no transaction is active" is expected.
        """
        try:
            await self._conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "no transaction is active" not in str(exc):
                raise

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(self.path, "the store is closed")

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        self._check_open()
        try:
            return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    # -- frontier ----------------------------------------------------------------------------

    async def add_urls(self, urls: Iterable[NewUrl]) -> int:
        """Insert unknown URLs as pending, fill an empty ``listed_on``; returns how many new."""
        items = list({new.url: new for new in urls}.values())
        if not items:
            return 0
        now = _now()
        rows = [
            (
                new.url,
                new.kind.value,
                UrlState.PENDING.value,
                opt_date_to_db(new.listed_on),
                now,
                self._url_key(new.url),
                new.scope,
                self.config.sites.site_of(new.url),
            )
            for new in items
        ]
        dated = [(opt_date_to_db(new.listed_on), new.url) for new in items if new.listed_on]
        scoped = [(new.scope, new.url) for new in items if new.scope]
        async with self._transaction() as conn:
            cursor = await conn.executemany(
                "INSERT INTO urls (url, kind, state, listed_on, first_seen_at, article_key, scope,"
                " site) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO NOTHING",
                rows,
            )
            added = cursor.rowcount
            if dated:
                await conn.executemany(
                    "UPDATE urls SET listed_on = ? WHERE url = ? AND listed_on IS NULL", dated
                )
            if scoped:
                await conn.executemany(
                    "UPDATE urls SET scope = ? WHERE url = ? AND scope IS NULL", scoped
                )
        return added

    async def has_articles(self) -> bool:
        rows = await self._fetchall("SELECT 1 FROM articles LIMIT 1")
        return bool(rows)

    async def get_url(self, url: str) -> UrlRecord | None:
        rows = await self._fetchall(f"SELECT {_URL_COLUMNS} FROM urls WHERE url = ?", (url,))
        return _url_record(rows[0]) if rows else None

    async def known_article_urls(self, urls: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(urls))):
            rows = await self._fetchall(
                f"SELECT url FROM article_urls WHERE url IN ({marks(len(chunk))})", chunk
            )
            found.update(row["url"] for row in rows)
        return found

    async def due_urls(
        self, now: datetime, limit: int, *, site: str | None = None
    ) -> list[UrlRecord]:
        """Pending URLs, and failed or skipped ones whose retry time has passed, first seen
        first (of ``site`` only, when given). One without ``next_retry_at`` (gone, out of
        scope) is never due."""
        of_site, site_param = _site_clause(site, "site")
        rows = await self._fetchall(
            f"SELECT {_URL_COLUMNS} FROM urls WHERE (state = 'pending'"
            " OR (state IN ('failed', 'skipped') AND next_retry_at <= ?))"
            f"{of_site} ORDER BY first_seen_at, id LIMIT ?",
            (ts_to_db(now), *site_param, limit),
        )
        return [_url_record(row) for row in rows]

    async def due_listings(
        self, now: datetime, limit: int, *, site: str | None = None
    ) -> list[DueListing]:
        """Listing pages to walk on from: pending, or failed/skipped and due; with the scope
        and floor of the walk that left them (None for pages noted before scopes were kept).
        Of ``site`` only, when given."""
        of_site, site_param = _site_clause(site, "u.site")
        rows = await self._fetchall(
            "SELECT u.url, lp.scope, lp.number, lp.floor FROM urls u"
            " LEFT JOIN listing_pages lp ON lp.url = u.url"
            " WHERE u.kind = 'listing' AND (u.state = 'pending'"
            f" OR (u.state IN ('failed', 'skipped') AND u.next_retry_at <= ?)){of_site}"
            " ORDER BY u.first_seen_at, u.id LIMIT ?",
            (ts_to_db(now), *site_param, limit),
        )
        return [
            DueListing(row["url"], row["scope"], row["number"], opt_date_from_db(row["floor"]))
            for row in rows
        ]

    async def note_listing_pages(self, pages: Sequence[ListingPage]) -> None:
        """Remember how walks left these listing pages. A page two walks want keeps the wider
        floor (None, "every unknown item", is the widest)."""
        if not pages:
            return
        now = _now()
        rows = [
            (
                page.url,
                page.scope,
                page.number,
                opt_date_to_db(page.floor),
                page.state.value,
                opt_date_to_db(page.newest),
                opt_date_to_db(page.oldest),
                page.items,
                now,
                self.config.sites.site_of(page.url),
            )
            for page in pages
        ]
        async with self._transaction() as conn:
            await conn.executemany(
                "INSERT INTO listing_pages (url, scope, number, floor, state, newest, oldest,"
                " items, updated_at, site) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET scope = excluded.scope,"
                " number = excluded.number, state = excluded.state,"
                " floor = CASE WHEN excluded.floor IS NULL OR listing_pages.floor IS NULL"
                " THEN NULL ELSE min(excluded.floor, listing_pages.floor) END,"
                " newest = excluded.newest, oldest = excluded.oldest, items = excluded.items,"
                " updated_at = excluded.updated_at",
                rows,
            )

    async def recent_article_urls(
        self, published_since: datetime, *, site: str | None = None
    ) -> list[UrlRecord]:
        of_site, site_param = _site_clause(site, "u.site")
        rows = await self._fetchall(
            f"SELECT {_U_URL_COLUMNS}"
            " FROM articles a"
            " JOIN article_urls au ON au.root_id = a.root_id"
            " JOIN urls u ON u.url = au.url"
            f" WHERE a.is_current = 1 AND a.published_utc >= ?{of_site}"
            " ORDER BY a.published_utc DESC, u.id",
            (ts_to_db(published_since), *site_param),
        )
        return [_url_record(row) for row in rows]

    async def revalidation_counts(
        self,
        published_before: datetime,
        checked_before: datetime,
        *,
        site: str | None = None,
        overdue_limit: int | None = None,
    ) -> tuple[int, int]:
        """Current articles published before ``published_before`` (or undated) whose URL is
        fetched: how many, and how many of them were last checked before ``checked_before``
        (overdue; counted up to ``overdue_limit`` when one is given: a pass takes no more).

        Asked every pass, so no statement here reads the whole corpus (issue 17): the total is
        the current-version counter (storage/counts.py; of the site when one is asked for)
        less the recent ones (their index) and the older ones whose URL is not fetched (the
        frontier's backlog, on its index); the overdue ones are walked on the checked-order
        index (of the site), oldest first, and the walk stops at the limit."""
        published = ts_to_db(published_before)
        of_url_site, site_params = _site_clause(site, "u.site")
        of_article_site, _ = _site_clause(site, "a.site")
        if site is None:
            current = "SELECT coalesce(sum(n), 0) FROM counts WHERE name = 'current'"
            checked = "urls_checked"
        else:
            current = (
                "SELECT coalesce(max(n), 0) FROM counts WHERE name = 'current_site' AND key = ?"
            )
            checked = "urls_site_checked"
        limit = -1 if overdue_limit is None else max(overdue_limit, 0)
        rows = await self._fetchall(
            f"SELECT ({current}) AS current,"
            " (SELECT count(*) FROM articles a INDEXED BY articles_published"
            f"   WHERE a.is_current = 1 AND a.published_utc >= ?{of_article_site}) AS recent,"
            " (SELECT count(*) FROM urls u INDEXED BY urls_due"
            "   CROSS JOIN articles a ON a.url = u.url AND a.is_current = 1"
            f"   WHERE u.state IN ('pending', 'failed', 'skipped', 'gone'){of_url_site}"
            "   AND (a.published_utc IS NULL OR a.published_utc < ?)) AS unfetched,"
            f" (SELECT count(*) FROM (SELECT 1 FROM urls u INDEXED BY {checked}"
            "   CROSS JOIN articles a ON a.url = u.url AND a.is_current = 1"
            f"   WHERE u.state = 'fetched'{of_url_site} AND u.last_fetched_at < ?"
            "   AND (a.published_utc IS NULL OR a.published_utc < ?) LIMIT ?)) AS overdue",
            (
                *site_params,  # current
                published,
                *site_params,  # recent
                *site_params,  # unfetched
                published,
                *site_params,  # overdue
                ts_to_db(checked_before),
                published,
                limit,
            ),
        )
        row = rows[0]
        total = int(row["current"]) - int(row["recent"]) - int(row["unfetched"])
        return total, int(row["overdue"])

    async def least_recently_checked(
        self, published_before: datetime, limit: int, *, site: str | None = None
    ) -> list[UrlRecord]:
        """The URLs of the current articles published before ``published_before`` (or
        undated), least recently fetched or re-checked first: one per article."""
        # Walk the fetched URLs oldest-checked first on their index and stop at the limit
        # (the planner, left alone, sorted every fetched URL: 3.7 s at 1M articles).
        of_site, site_param = _site_clause(site, "u.site")
        checked = "urls_checked" if site is None else "urls_site_checked"
        rows = await self._fetchall(
            f"SELECT {_U_URL_COLUMNS} FROM urls u INDEXED BY {checked}"
            " CROSS JOIN articles a ON a.url = u.url AND a.is_current = 1"
            " WHERE u.state = 'fetched'"
            f" AND (a.published_utc IS NULL OR a.published_utc < ?){of_site}"
            " ORDER BY u.last_fetched_at, u.id LIMIT ?",
            (ts_to_db(published_before), *site_param, limit),
        )
        return [_url_record(row) for row in rows]

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
        """``permanent``: GONE for 404/410 (or the class ``gone``), SKIPPED otherwise (due
        again at ``next_retry_at`` if one is given); FAILED (retried) if not. Returns the
        state the URL is left in."""
        state = failure_state(status, permanent=permanent, reason_class=reason_class)
        if state is UrlState.GONE:
            next_retry_at = None
        now = _now()
        kind = reason_class.value if reason_class is not None else None
        site = self.config.sites.site_of(url)
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO urls (url, kind, state, first_seen_at, article_key, site)"
                " VALUES (?, 'other', 'pending', ?, ?, ?) ON CONFLICT (url) DO NOTHING",
                (url, now, self._url_key(url), site),
            )
            await conn.execute(
                "UPDATE urls SET state = ?, http_status = ?, attempts = attempts + 1,"
                " last_error = ?, next_retry_at = ?, last_fetched_at = ?, reason_class = ?"
                " WHERE url = ?",
                (state.value, status, reason, opt_ts_to_db(next_retry_at), now, kind, url),
            )
            await conn.execute(
                "INSERT INTO failures (url, reason, http_status, permanent, at, reason_class,"
                " site) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (url, reason, status, int(permanent), now, kind, site),
            )
        return state

    async def requeue(
        self,
        classes: Sequence[ReasonClass],
        *,
        since: datetime | None = None,
        dry_run: bool = False,
    ) -> dict[ReasonClass, int]:
        """Put the failed, skipped or gone URLs of these reason classes back to pending (their
        attempts start over), those whose last attempt was at or after ``since`` only; returns
        how many per class. ``dry_run`` counts without changing anything."""
        if not classes:
            return {}
        where = (
            "state IN ('failed', 'skipped', 'gone')"
            f" AND reason_class IN ({marks(len(classes))}) AND last_fetched_at >= ?"
        )
        params = [c.value for c in classes] + [ts_to_db(since) if since is not None else ""]
        async with self._transaction() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT reason_class, count(*) AS n FROM urls WHERE {where} GROUP BY reason_class",
                params,
            )
            if not dry_run:
                await conn.execute(
                    "UPDATE urls SET state = 'pending', attempts = 0, next_retry_at = NULL"
                    f" WHERE {where}",
                    params,
                )
        return {ReasonClass(row["reason_class"]): int(row["n"]) for row in rows}

    async def record_not_modified(self, url: str, fetched_at: datetime) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE urls SET state = 'fetched', http_status = 304, attempts = 0,"
                " last_error = NULL, next_retry_at = NULL, reason_class = NULL,"
                " last_fetched_at = ? WHERE url = ?",
                (ts_to_db(fetched_at), url),
            )

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
        encoded = self._encode(raw) if self.config.archive else None
        async with self._transaction() as conn:
            if encoded is not None:
                await conn.execute(
                    "INSERT INTO pages (url, final_url, status, headers, codec, body, body_size,"
                    " body_sha256, fetched_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (url, body_sha256) DO NOTHING",
                    page_row(raw, encoded, kind),
                )
            await conn.execute(
                MARK_FETCHED_SQL,
                fetched_row(
                    raw,
                    kind,
                    etag,
                    last_modified,
                    None,
                    self._url_key(raw.url),
                    not_article,
                    site=self.config.sites.site_of(raw.url),
                ),
            )

    # -- articles ----------------------------------------------------------------------------

    async def store_article(
        self, article: Article, raw: RawPage, etag: str | None, last_modified: str | None
    ) -> StoreResult:
        """Archive ``raw``, mark the URL fetched and dedupe ``article``, in one transaction."""
        (result,) = await self.store_articles([StoreRequest(article, raw, etag, last_modified)])
        return result

    async def store_articles(self, requests: Sequence[StoreRequest]) -> list[StoreResult]:
        """``store_article`` for many, in one transaction; results in request order.

        Later requests see earlier ones (two URLs of one text in one batch: NEW then DUPLICATE).
        """
        if not requests:
            return []
        encoded: list[archive.EncodedPage | None] = [None] * len(requests)
        # Calls commit in the order they were made, yet the compression of one call (in a
        # worker thread: deflate releases the GIL) overlaps the transaction of the previous:
        # callers compress one at a time, in order, and queue for the write lock (FIFO) before
        # letting the next caller compress.
        async with self._encode_turn:
            if self.config.archive:
                encoded = list(await asyncio.to_thread(self._encode_all, requests))
            await self._lock.acquire()
        try:
            async with self._locked_transaction():
                results = await store_batch(
                    self._conn,
                    requests,
                    encoded,
                    page_ids=None,
                    sites=self.config.sites,
                    url_key=self.config.url_key,
                )
        finally:
            self._lock.release()
        self._after_commit(len(requests))
        return results

    async def store_reparsed(self, article: Article, page: ArchivedPage) -> StoreResult:
        """Store an article re-extracted from an archived page (``vksnd reparse``): the same
        rules as ``store_article``, linked to the archived page, nothing archived again."""
        raw = RawPage(
            url=page.url,
            final_url=page.final_url,
            status=page.status,
            headers=page.headers,
            body=b"",
            fetched_at=page.fetched_at,
        )
        async with self._transaction() as conn:
            (result,) = await store_batch(
                self._conn,
                [StoreRequest(article, raw)],
                [None],
                page_ids=[page.page_id],
                sites=self.config.sites,
                touch_urls=False,
                url_key=self.config.url_key,
            )
            if page.not_article is not None:  # refused by an earlier parser: an article now
                await conn.execute(
                    "UPDATE pages SET kind = 'article' WHERE id = ?", (page.page_id,)
                )
                await conn.execute(
                    "UPDATE urls SET kind = 'article', not_article = NULL, article_id = ?"
                    " WHERE url = ?",
                    (result.article_id, page.url),
                )
        return result

    def _encode(self, raw: RawPage) -> archive.EncodedPage:
        return archive.encode_page(raw, self.config.compression_level)

    def _encode_all(self, requests: Sequence[StoreRequest]) -> list[archive.EncodedPage]:
        return [self._encode(request.raw) for request in requests]

    async def archived_article_pages(
        self, fetched_since: datetime | None = None, batch: int = 200, *, inflate: bool = True
    ) -> AsyncIterator[ArchivedPage]:
        """The newest archived page of every article URL (fetched since ``fetched_since``),
        with the current version its URL maps to, and of every URL fetched for an article
        whose page the parser refused (a fixed parser may read it now). Streams in batches
        by page id. ``inflate=False``: bodies as stored (``codec``), for a worker process to
        inflate (a third of the reader's CPU, and a quarter of the bytes to send it)."""
        since = ts_to_db(fetched_since) if fetched_since is not None else ""
        after = 0
        while True:
            rows = await self._fetchall(
                "SELECT p.id, p.url, p.final_url, p.status, p.headers, p.codec, p.body,"
                " p.fetched_at, a.id AS article_id, au.content_hash, u.listed_on, u.not_article"
                " FROM pages p"
                " LEFT JOIN urls u ON u.url = p.url"
                " LEFT JOIN article_urls au ON au.url = p.url"
                " LEFT JOIN articles a ON a.root_id = au.root_id AND a.is_current = 1"
                f" WHERE {_REPARSE_PAGES} AND p.id > ?"
                " ORDER BY p.id LIMIT ?",
                (since, after, batch),
            )
            if not rows:
                return
            for row in rows:
                yield ArchivedPage(
                    page_id=row["id"],
                    url=row["url"],
                    final_url=row["final_url"],
                    status=row["status"],
                    headers=archive.decode_headers(row["headers"]),
                    body=archive.decode_body(row["codec"], row["body"]) if inflate else row["body"],
                    fetched_at=ts_from_db(row["fetched_at"]),
                    listed_on=opt_date_from_db(row["listed_on"]),
                    article_id=row["article_id"],
                    content_hash=row["content_hash"],
                    not_article=row["not_article"],
                    codec=archive.CODEC_IDENTITY if inflate else row["codec"],
                )
            after = rows[-1]["id"]

    async def count_archived_article_pages(self, fetched_since: datetime | None = None) -> int:
        """How many pages ``archived_article_pages`` yields (a progress bar's total)."""
        since = ts_to_db(fetched_since) if fetched_since is not None else ""
        rows = await self._fetchall(
            "SELECT count(*) FROM pages p LEFT JOIN urls u ON u.url = p.url"
            f" WHERE {_REPARSE_PAGES}",
            (since,),
        )
        return int(rows[0][0])

    # -- runs --------------------------------------------------------------------------------

    async def start_run(self, kind: str, site: str | None = None) -> int:
        """``site``: the site the run crawls (None: the default site)."""
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO runs (kind, started_at, site) VALUES (?, ?, ?)",
                (kind, _now(), site or self.config.sites.default),
            )
            run_id = cursor.lastrowid
        if run_id is None:
            raise StorageError(self.path, "no id for the new run")
        return run_id

    async def finish_run(
        self,
        run_id: int,
        counters: RunCounters,
        *,
        outcome: RunOutcome,
        reason: str | None = None,
        error: str | None = None,
    ) -> None:
        """``reason``: why the outcome is not ``ok``, in a line; ``error``: the exception that
        ended the run, if one did."""
        payload = asdict(counters)
        ok = outcome is RunOutcome.OK
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE runs SET finished_at = ?, ok = ?, outcome = ?, reason = ?, error = ?,"
                " counters = ? WHERE id = ?",
                (
                    _now(),
                    int(ok),
                    outcome.value,
                    reason,
                    error,
                    json.dumps(payload, sort_keys=True),
                    run_id,
                ),
            )
