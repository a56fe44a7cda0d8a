"""``SqliteStore``: the crawler's frontier and article store on one SQLite file.

One instance owns one long-lived aiosqlite connection, the only writer of its process. Every
write is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any error), serialized by an
asyncio lock so concurrent tasks never interleave statements of two transactions. Readers in
other processes (export, stats) use their own connections (``storage.schema.open_reader``); WAL
lets them read while this one writes.

``store_articles`` is the batch form of ``store_article`` (same rules, one transaction, a handful
of statements for the whole batch): it is how a backfill or a bench reaches thousands of articles
a second. The rules themselves live in ``storage.versions``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from parsers.records import Article
from storage import archive
from storage.archive import DEFAULT_COMPRESSION_LEVEL
from storage.errors import StorageError, translate_sqlite_error
from storage.records import (
    ArchivedPage,
    RawPage,
    RunCounters,
    StoreRequest,
    StoreResult,
    UrlKind,
    UrlRecord,
    UrlState,
)
from storage.schema import DEFAULT_BUSY_TIMEOUT_MS, prepare_writer
from storage.values import (
    article_key,
    opt_date_from_db,
    opt_date_to_db,
    opt_ts_from_db,
    opt_ts_to_db,
    published_to_db,
    strings_to_json,
    ts_from_db,
    ts_to_db,
)
from storage.versions import Snapshot, VersionPlanner, VersionRow

DEFAULT_ARCHIVE = True
# Below SQLite's default limit of variables per statement (32766) with a wide margin.
_CHUNK = 900

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
)
_URL_COLUMNS = ", ".join(_URL_FIELDS)
_U_URL_COLUMNS = ", ".join(f"u.{name}" for name in _URL_FIELDS)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    archive: bool = DEFAULT_ARCHIVE  # keep raw page bodies (needed by ``reparse``)
    compression_level: int = DEFAULT_COMPRESSION_LEVEL
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def _executemany(conn: aiosqlite.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany`` that skips the round trip to the database thread when there is nothing."""
    if rows:
        await conn.executemany(sql, rows)


def _marks(count: int) -> str:
    return ",".join("?" * count)


def _url_record(row: sqlite3.Row | tuple[Any, ...]) -> UrlRecord:
    return UrlRecord(
        url=row[0],
        kind=UrlKind(row[1]),
        state=UrlState(row[2]),
        http_status=row[3],
        etag=row[4],
        last_modified=row[5],
        attempts=row[6],
        last_error=row[7],
        next_retry_at=opt_ts_from_db(row[8]),
        listed_on=opt_date_from_db(row[9]),
        first_seen_at=ts_from_db(row[10]),
        last_fetched_at=opt_ts_from_db(row[11]),
        article_id=row[12],
    )


def _now() -> str:
    return ts_to_db(datetime.now(UTC))


class SqliteStore:
    """Satisfies ``crawler.ports.Frontier`` and ``crawler.ports.ArticleStore`` structurally."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, config: StoreConfig) -> None:
        self._conn = conn
        self.path = path
        self.config = config
        self._lock = asyncio.Lock()  # one transaction at a time on the connection
        self._encode_turn = asyncio.Lock()  # see store_articles
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, config: StoreConfig | None = None) -> SqliteStore:
        """Open (creating parent directories and the file if needed) and migrate."""
        path = Path(path)
        config = config or StoreConfig()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(path, f"cannot create directory ({exc.strerror})") from exc
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, path) from exc
        try:
            await prepare_writer(conn, path, config.busy_timeout_ms)
        except sqlite3.Error as exc:
            await conn.close()
            raise translate_sqlite_error(exc, path) from exc
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path, config)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            await self._conn.close()

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
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                await self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

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

    async def add_urls(self, urls: Iterable[tuple[str, UrlKind, date | None]]) -> int:
        """Insert unknown URLs as pending, fill an empty ``listed_on``; returns how many new."""
        items = list({url: (url, kind, listed) for url, kind, listed in urls}.values())
        if not items:
            return 0
        now = _now()
        rows = [
            (url, kind.value, UrlState.PENDING.value, opt_date_to_db(listed), now, article_key(url))
            for url, kind, listed in items
        ]
        dated = [(opt_date_to_db(listed), url) for url, _kind, listed in items if listed]
        async with self._transaction() as conn:
            cursor = await conn.executemany(
                "INSERT INTO urls (url, kind, state, listed_on, first_seen_at, article_key)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO NOTHING",
                rows,
            )
            added = cursor.rowcount
            if dated:
                await conn.executemany(
                    "UPDATE urls SET listed_on = ? WHERE url = ? AND listed_on IS NULL", dated
                )
        return added

    async def get_url(self, url: str) -> UrlRecord | None:
        rows = await self._fetchall(f"SELECT {_URL_COLUMNS} FROM urls WHERE url = ?", (url,))
        return _url_record(rows[0]) if rows else None

    async def known_article_urls(self, urls: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(urls))):
            rows = await self._fetchall(
                f"SELECT url FROM article_urls WHERE url IN ({_marks(len(chunk))})", chunk
            )
            found.update(row[0] for row in rows)
        return found

    async def due_urls(self, now: datetime, limit: int) -> list[UrlRecord]:
        """Pending URLs, and failed ones whose retry time has passed, first seen first.

        A failed URL without ``next_retry_at`` was given up on and is never due."""
        rows = await self._fetchall(
            f"SELECT {_URL_COLUMNS} FROM urls WHERE state = 'pending'"
            " OR (state = 'failed' AND next_retry_at <= ?)"
            " ORDER BY first_seen_at, id LIMIT ?",
            (ts_to_db(now), limit),
        )
        return [_url_record(row) for row in rows]

    async def recent_article_urls(self, published_since: datetime) -> list[UrlRecord]:
        rows = await self._fetchall(
            f"SELECT {_U_URL_COLUMNS}"
            " FROM articles a"
            " JOIN article_urls au ON au.root_id = a.root_id"
            " JOIN urls u ON u.url = au.url"
            " WHERE a.is_current = 1 AND a.published_utc >= ?"
            " ORDER BY a.published_utc DESC, u.id",
            (ts_to_db(published_since),),
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
    ) -> None:
        """``permanent``: GONE for 404/410, SKIPPED otherwise; FAILED (retried) if not."""
        if permanent:
            state = UrlState.GONE if status in (404, 410) else UrlState.SKIPPED
        else:
            state = UrlState.FAILED
        now = _now()
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO urls (url, kind, state, first_seen_at, article_key)"
                " VALUES (?, 'other', 'pending', ?, ?) ON CONFLICT (url) DO NOTHING",
                (url, now, article_key(url)),
            )
            await conn.execute(
                "UPDATE urls SET state = ?, http_status = ?, attempts = attempts + 1,"
                " last_error = ?, next_retry_at = ?, last_fetched_at = ? WHERE url = ?",
                (state.value, status, reason, opt_ts_to_db(next_retry_at), now, url),
            )
            await conn.execute(
                "INSERT INTO failures (url, reason, http_status, permanent, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (url, reason, status, int(permanent), now),
            )

    async def record_not_modified(self, url: str, fetched_at: datetime) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE urls SET state = 'fetched', http_status = 304, attempts = 0,"
                " last_error = NULL, next_retry_at = NULL, last_fetched_at = ? WHERE url = ?",
                (ts_to_db(fetched_at), url),
            )

    async def record_page(
        self, raw: RawPage, kind: UrlKind, etag: str | None, last_modified: str | None
    ) -> None:
        """Archive a fetched non-article page (listing, home) and mark its URL fetched."""
        encoded = self._encode(raw) if self.config.archive else None
        async with self._transaction() as conn:
            if encoded is not None:
                await conn.execute(
                    "INSERT INTO pages (url, final_url, status, headers, codec, body, body_size,"
                    " body_sha256, fetched_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (url, body_sha256) DO NOTHING",
                    _page_row(raw, encoded, kind),
                )
            await conn.execute(
                _MARK_FETCHED_SQL, _fetched_row(raw, kind, etag, last_modified, None)
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
                return await self._store_batch(requests, encoded, page_ids=None)
        finally:
            self._lock.release()

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
        async with self._transaction():
            (result,) = await self._store_batch(
                [StoreRequest(article, raw)], [None], page_ids=[page.page_id], touch_urls=False
            )
        return result

    def _encode(self, raw: RawPage) -> archive.EncodedPage:
        return archive.encode_page(raw, self.config.compression_level)

    def _encode_all(self, requests: Sequence[StoreRequest]) -> list[archive.EncodedPage]:
        return [self._encode(request.raw) for request in requests]

    async def _store_batch(
        self,
        requests: Sequence[StoreRequest],
        encoded: Sequence[archive.EncodedPage | None],
        page_ids: Sequence[int | None] | None,
        *,
        touch_urls: bool = True,
    ) -> list[StoreResult]:
        """The body of the transaction: snapshot, plan, write."""
        conn = self._conn
        now = _now()
        keys = [
            article_key(r.raw.url)
            or article_key(r.article.url)
            or article_key(r.article.canonical_url)
            for r in requests
        ]
        snapshot = await self._load_snapshot(requests, keys)
        if page_ids is None:
            page_ids = await self._write_pages(requests, encoded)
        planner = VersionPlanner(snapshot)
        results = [
            planner.place(r.article, (r.raw.url, r.article.url), key, page_id)
            for r, key, page_id in zip(requests, keys, page_ids, strict=True)
        ]
        # Three steps keep every foreign key satisfied at each statement (a pending deferred
        # violation would make SQLite scan child tables on every insert): clear is_current of
        # the superseded stored rows (the new current row may carry an old row's hash, a revert,
        # and only one current row per hash is allowed), insert, then link the old rows.
        superseded = planner.superseded_stored_rows()
        await _executemany(
            conn,
            "UPDATE articles SET is_current = 0 WHERE id = ?",
            [(old,) for old, _new in superseded],
        )
        await _executemany(
            conn,
            "INSERT INTO articles (id, seq, root_id, content_hash, url, canonical_url,"
            " article_key, title, published_at, published_utc, author, category, text,"
            " captions, images, extractor, supersedes, superseded_by, reverts_to, is_current,"
            " page_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.row.id,
                    p.row.seq,
                    p.row.root_id,
                    p.row.content_hash,
                    p.fetched_url,
                    p.article.canonical_url,
                    p.row.key,
                    p.article.title,
                    *published_to_db(p.article.published_at),
                    p.article.author,
                    p.article.category,
                    p.article.text,
                    strings_to_json(p.article.captions),
                    strings_to_json(p.article.images),
                    p.article.extractor,
                    p.supersedes,
                    None,  # superseded_by: linked below, once the newer row exists
                    p.reverts_to,
                    int(p.row.is_current),
                    p.page_id,
                    now,
                )
                for p in planner.inserts
            ],
        )
        await _executemany(
            conn,
            "UPDATE articles SET superseded_by = ? WHERE id = ?",
            [(new, old) for old, new in planner.superseded_by.items()],
        )
        await _executemany(
            conn,
            "INSERT INTO article_urls (url, root_id, content_hash, first_seen_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE"
            " SET root_id = excluded.root_id, content_hash = excluded.content_hash",
            [(url, chain, digest, now) for url, (chain, digest) in planner.url_chains.items()],
        )
        await _executemany(
            conn,
            "INSERT INTO article_urls (url, root_id, first_seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (url) DO NOTHING",
            [(url, chain, now) for url, chain in planner.url_chains_if_unmapped.items()],
        )
        if touch_urls:
            await _executemany(
                conn,
                _MARK_FETCHED_SQL,
                [
                    _fetched_row(r.raw, UrlKind.ARTICLE, r.etag, r.last_modified, res.article_id)
                    for r, res in zip(requests, results, strict=True)
                ],
            )
        return results

    async def _load_snapshot(
        self, requests: Sequence[StoreRequest], keys: Sequence[str | None]
    ) -> Snapshot:
        snap = Snapshot()
        conn = self._conn
        hashes = list({r.article.content_hash for r in requests})
        urls = list(
            {u for r in requests for u in (r.raw.url, r.article.url, r.article.canonical_url)}
        )
        wanted_keys = list({k for k in keys if k is not None})
        columns = "a.id, a.root_id, a.seq, a.content_hash, a.is_current, a.article_key"
        for chunk in _chunks(hashes):
            # current first, then the newest: the row a duplicate maps to
            for row in await conn.execute_fetchall(
                f"SELECT {columns} FROM articles a WHERE a.content_hash IN ({_marks(len(chunk))})"
                " ORDER BY a.is_current DESC, a.id DESC",
                chunk,
            ):
                snap.by_hash.setdefault(row[3], _version_row(row))
        for chunk in _chunks(urls):
            for row in await conn.execute_fetchall(
                f"SELECT {columns}, au.url, au.content_hash FROM article_urls au"
                " JOIN articles a ON a.root_id = au.root_id AND a.is_current = 1"
                f" WHERE au.url IN ({_marks(len(chunk))})",
                chunk,
            ):
                snap.chain_by_url[row[6]] = row[1]
                snap.last_hash_by_url[row[6]] = row[7]
                snap.current_by_chain[row[1]] = _version_row(row)
        for chunk in _chunks(wanted_keys):
            for row in await conn.execute_fetchall(
                f"SELECT {columns} FROM articles a"
                f" WHERE a.is_current = 1 AND a.article_key IN ({_marks(len(chunk))})"
                " ORDER BY a.root_id DESC",
                chunk,
            ):
                snap.chain_by_key[row[5]] = row[1]  # the oldest chain wins (written last)
                snap.current_by_chain[row[1]] = _version_row(row)
        # A duplicate may map a URL to a chain found only by hash: know its current row too.
        missing = list({r.root_id for r in snap.by_hash.values()} - set(snap.current_by_chain))
        for chunk in _chunks(missing):
            for row in await conn.execute_fetchall(
                f"SELECT {columns} FROM articles a"
                f" WHERE a.is_current = 1 AND a.root_id IN ({_marks(len(chunk))})",
                chunk,
            ):
                snap.current_by_chain[row[1]] = _version_row(row)
        # Rows of one chain must be the same objects in every map (supersession mutates them).
        for current in snap.current_by_chain.values():
            if snap.by_hash.get(current.content_hash, current).id == current.id:
                snap.by_hash[current.content_hash] = current
        rows = await conn.execute_fetchall(
            "SELECT coalesce(max(id), 0) + 1, coalesce(max(seq), 0) + 1 FROM articles"
        )
        snap.next_id, snap.next_seq = next(iter(rows))
        return snap

    async def _write_pages(
        self, requests: Sequence[StoreRequest], encoded: Sequence[archive.EncodedPage | None]
    ) -> list[int | None]:
        """Insert the archived pages not already stored (same URL, same body); their ids."""
        conn = self._conn
        ids: dict[tuple[str, str], int] = {}
        shas = list({e.body_sha256 for e in encoded if e is not None})
        for chunk in _chunks(shas):
            for row in await conn.execute_fetchall(
                "SELECT id, url, body_sha256 FROM pages"
                f" WHERE body_sha256 IN ({_marks(len(chunk))})",
                chunk,
            ):
                ids[(row[1], row[2])] = row[0]
        next_id: int | None = None
        new_rows: list[tuple[Any, ...]] = []
        page_ids: list[int | None] = []
        for request, enc in zip(requests, encoded, strict=True):
            if enc is None:
                page_ids.append(None)
                continue
            page_key = (request.raw.url, enc.body_sha256)
            if page_key not in ids:
                if next_id is None:
                    rows = await conn.execute_fetchall("SELECT coalesce(max(id), 0) + 1 FROM pages")
                    next_id = int(next(iter(rows))[0])
                ids[page_key] = next_id
                new_rows.append((next_id, *_page_row(request.raw, enc, UrlKind.ARTICLE)))
                next_id += 1
            page_ids.append(ids[page_key])
        await _executemany(
            conn,
            "INSERT INTO pages (id, url, final_url, status, headers, codec, body, body_size,"
            " body_sha256, fetched_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )
        return page_ids

    # -- reparse -----------------------------------------------------------------------------

    async def archived_article_pages(
        self, fetched_since: datetime | None = None, batch: int = 200
    ) -> AsyncIterator[ArchivedPage]:
        """The newest archived page of every article URL (fetched since ``fetched_since``),
        with the current version its URL maps to. Streams in batches by page id."""
        since = ts_to_db(fetched_since) if fetched_since is not None else ""
        after = 0
        while True:
            rows = await self._fetchall(
                "SELECT p.id, p.url, p.final_url, p.status, p.headers, p.codec, p.body,"
                " p.fetched_at, a.id, au.content_hash, u.listed_on"
                " FROM pages p"
                " LEFT JOIN urls u ON u.url = p.url"
                " LEFT JOIN article_urls au ON au.url = p.url"
                " LEFT JOIN articles a ON a.root_id = au.root_id AND a.is_current = 1"
                " WHERE p.kind = 'article' AND p.status = 200 AND p.id > ? AND p.fetched_at >= ?"
                " AND p.id = (SELECT max(p2.id) FROM pages p2 WHERE p2.url = p.url)"
                " ORDER BY p.id LIMIT ?",
                (after, since, batch),
            )
            if not rows:
                return
            for row in rows:
                yield ArchivedPage(
                    page_id=row[0],
                    url=row[1],
                    final_url=row[2],
                    status=row[3],
                    headers=archive.decode_headers(row[4]),
                    body=archive.decode_body(row[5], row[6]),
                    fetched_at=ts_from_db(row[7]),
                    listed_on=opt_date_from_db(row[10]),
                    article_id=row[8],
                    content_hash=row[9],
                )
            after = rows[-1][0]

    # -- runs --------------------------------------------------------------------------------

    async def start_run(self, kind: str) -> int:
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO runs (kind, started_at) VALUES (?, ?)", (kind, _now())
            )
            run_id = cursor.lastrowid
        if run_id is None:
            raise StorageError(self.path, "no id for the new run")
        return run_id

    async def finish_run(
        self, run_id: int, counters: RunCounters, *, ok: bool, error: str | None = None
    ) -> None:
        payload = asdict(counters)
        payload["extra"] = dict(counters.extra)
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE runs SET finished_at = ?, ok = ?, error = ?, counters = ? WHERE id = ?",
                (_now(), int(ok), error, json.dumps(payload, sort_keys=True), run_id),
            )


_MARK_FETCHED_SQL = (
    "INSERT INTO urls (url, kind, state, http_status, etag, last_modified, attempts,"
    " first_seen_at, last_fetched_at, article_id, article_key)"
    " VALUES (?, ?, 'fetched', ?, ?, ?, 0, ?, ?, ?, ?)"
    " ON CONFLICT (url) DO UPDATE SET kind = excluded.kind, state = 'fetched',"
    " http_status = excluded.http_status, etag = excluded.etag,"
    " last_modified = excluded.last_modified, attempts = 0, last_error = NULL,"
    " next_retry_at = NULL, last_fetched_at = excluded.last_fetched_at,"
    " article_id = coalesce(excluded.article_id, urls.article_id)"
)


def _fetched_row(
    raw: RawPage, kind: UrlKind, etag: str | None, last_modified: str | None, article_id: int | None
) -> tuple[Any, ...]:
    fetched_at = ts_to_db(raw.fetched_at)
    return (
        raw.url,
        kind.value,
        raw.status,
        etag,
        last_modified,
        fetched_at,
        fetched_at,
        article_id,
        article_key(raw.url),
    )


def _page_row(raw: RawPage, enc: archive.EncodedPage, kind: UrlKind) -> tuple[Any, ...]:
    return (
        raw.url,
        raw.final_url,
        raw.status,
        enc.headers_json,
        enc.codec,
        enc.body,
        enc.body_size,
        enc.body_sha256,
        ts_to_db(raw.fetched_at),
        kind.value,
    )


def _version_row(row: sqlite3.Row | tuple[Any, ...]) -> VersionRow:
    return VersionRow(
        id=row[0],
        root_id=row[1],
        seq=row[2],
        content_hash=row[3],
        is_current=bool(row[4]),
        key=row[5],
    )
