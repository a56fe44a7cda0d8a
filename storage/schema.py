"""The database schema, its migrations, and the connection settings every connection uses.

The schema version lives in ``PRAGMA user_version``: migration ``n`` (1-based) brings a database
from version ``n - 1`` to ``n``. Each migration runs in one ``BEGIN IMMEDIATE`` transaction that
also sets the version, and the version is re-read inside that transaction, so two processes
opening a fresh file at once migrate it once. Append migrations; never edit a released one.

Tables:
- ``urls``: the frontier, one row per canonical URL ever seen (state, HTTP validators, retries).
- ``pages``: the raw archive, one row per distinct body fetched for a URL (compressed).
- ``articles``: one row per article *version*. ``root_id`` is the first version of the chain
  (the article's identity), ``supersedes``/``superseded_by`` link the chain, exactly one version
  per chain is current. ``seq`` is given once, increasing; the export names files after it.
- ``article_urls``: every URL (fetched or canonical) that maps to an article chain.
- ``runs``: crawl runs with their counters. ``failures``: a log of failed fetches by reason.
- ``counts``: what ``stats`` reports, kept by triggers in each writing transaction
  (``storage/counts.py``). ``changes``: the latest change number of each article chain, the
  export's watermark (``storage/export.py``).

Several sites share one database (``storage.sites``): ``urls``, ``articles``, ``runs``,
``listing_pages`` and ``failures`` carry a ``site`` column; rows written before it existed are
the default site's (``vksndtc``).

Links between articles are ``DEFERRABLE INITIALLY DEFERRED`` so a batch can write a chain in
any order and have foreign keys checked at commit.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import aiosqlite

from vksnd.storage import counts
from vksnd.storage.errors import (
    DatabaseMissing,
    ReadOnlyDatabase,
    SchemaMismatch,
    StorageError,
    translate_sqlite_error,
)
from vksnd.storage.sites import DEFAULT_SITE

DEFAULT_BUSY_TIMEOUT_MS = 10_000
DEFAULT_CACHE_KIB = 65_536
DEFAULT_PAGE_SIZE = 4_096
DEFAULT_WAL_AUTOCHECKPOINT_PAGES = 16_384

_DEFERRED = "DEFERRABLE INITIALLY DEFERRED"
_NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'"  # as columns.ts_to_db writes
# The reason class of a row written before classes existed, from its status and message.
_CLASS_OF_OLD_ROWS = """CASE
    WHEN http_status IN (404, 410) THEN 'gone'
    WHEN {text} LIKE 'network error%' OR {text} LIKE 'timeout%'
      OR {text} LIKE '%(network error%' OR {text} LIKE '%(timeout%'
      OR {text} LIKE '%truncated%' THEN 'network'
    WHEN http_status = 429 OR {text} LIKE 'HTTP 429%' THEN 'throttled'
    WHEN http_status >= 500 OR http_status = 408 OR {text} LIKE 'HTTP 5%'
      OR {text} LIKE 'robots.txt unavailable%' THEN 'server'
    WHEN {text} LIKE 'disallowed by robots%' THEN 'robots'
    WHEN {text} LIKE 'body larger than%' THEN 'too_large'
    WHEN {text} LIKE 'redirect rejected%' THEN 'redirect'
    WHEN {text} LIKE 'not HTML%' THEN 'not_html'
    WHEN {text} LIKE 'out of scope%' THEN 'out_of_scope'
    WHEN http_status BETWEEN 400 AND 499 THEN 'client'
    WHEN {text} IS NULL THEN 'network'
    ELSE 'parse'
END"""


def _touch(root: str) -> str:
    return (
        f"INSERT INTO changes (root_id, change) VALUES ({root},"
        " (SELECT coalesce(max(change), 0) + 1 FROM changes))"
        " ON CONFLICT (root_id) DO UPDATE SET change = excluded.change;"
    )


def _on(name: str, event: str, table: str, body: str) -> str:
    return f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {body} END"


CHANGE_TRIGGERS = (
    _on("changes_articles_ins", "INSERT", "articles", _touch("NEW.root_id")),
    _on(
        "changes_articles_upd",
        "UPDATE OF is_current, root_id, superseded_by",
        "articles",
        _touch("NEW.root_id"),
    ),
    _on("changes_urls_ins", "INSERT", "article_urls", _touch("NEW.root_id")),
    _on(
        "changes_urls_upd",
        "UPDATE OF root_id, url",
        "article_urls WHEN OLD.root_id IS NOT NEW.root_id OR OLD.url IS NOT NEW.url",
        _touch("OLD.root_id") + " " + _touch("NEW.root_id"),
    ),
    _on("changes_urls_del", "DELETE", "article_urls", _touch("OLD.root_id")),
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""
        CREATE TABLE urls (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('article', 'listing', 'other')),
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'fetched', 'failed', 'gone', 'skipped')),
            http_status INTEGER,
            etag TEXT,
            last_modified TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_retry_at TEXT,
            listed_on TEXT,
            first_seen_at TEXT NOT NULL,
            last_fetched_at TEXT,
            article_id INTEGER REFERENCES articles (id) {_DEFERRED},
            article_key TEXT
        )
        """,
        "CREATE INDEX urls_due ON urls (state, next_retry_at, first_seen_at)",
        """
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            final_url TEXT NOT NULL,
            status INTEGER NOT NULL,
            headers TEXT NOT NULL,
            codec TEXT NOT NULL CHECK (codec IN ('zlib', 'identity')),
            body BLOB NOT NULL,
            body_size INTEGER NOT NULL,
            body_sha256 TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('article', 'listing', 'other')),
            UNIQUE (url, body_sha256)
        )
        """,
        "CREATE INDEX pages_fetched ON pages (fetched_at)",
        f"""
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            root_id INTEGER NOT NULL REFERENCES articles (id) {_DEFERRED},
            content_hash TEXT NOT NULL CHECK (length(content_hash) >= 16),
            url TEXT NOT NULL,
            canonical_url TEXT NOT NULL,
            article_key TEXT,
            title TEXT NOT NULL,
            published_at TEXT,
            published_utc TEXT,
            author TEXT,
            category TEXT,
            text TEXT NOT NULL,
            captions TEXT NOT NULL,
            images TEXT NOT NULL,
            extractor TEXT NOT NULL,
            supersedes INTEGER REFERENCES articles (id) {_DEFERRED},
            superseded_by INTEGER REFERENCES articles (id) {_DEFERRED},
            reverts_to INTEGER REFERENCES articles (id) {_DEFERRED},
            is_current INTEGER NOT NULL CHECK (is_current IN (0, 1)),
            page_id INTEGER REFERENCES pages (id) {_DEFERRED},
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX articles_hash ON articles (content_hash)",
        # One current version per text: two chains never both hold the same current text.
        "CREATE UNIQUE INDEX articles_current_hash ON articles (content_hash) WHERE is_current = 1",
        "CREATE INDEX articles_root ON articles (root_id, is_current)",
        """CREATE INDEX articles_current_key ON articles (article_key)
           WHERE is_current = 1 AND article_key IS NOT NULL""",
        "CREATE INDEX articles_published ON articles (published_utc) WHERE is_current = 1",
        f"""
        CREATE TABLE article_urls (
            url TEXT PRIMARY KEY,
            root_id INTEGER NOT NULL REFERENCES articles (id) {_DEFERRED},
            content_hash TEXT,  -- the hash this URL showed when last fetched (NULL: never)
            first_seen_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX article_urls_root ON article_urls (root_id)",
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            ok INTEGER,
            error TEXT,
            counters TEXT
        )
        """,
        """
        CREATE TABLE failures (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            reason TEXT NOT NULL,
            http_status INTEGER,
            permanent INTEGER NOT NULL,
            at TEXT NOT NULL
        )
        """,
        "CREATE INDEX failures_reason ON failures (reason)",
    ),
    (
        # Content hashes are random, so each batch inserts all over a hash index and rewrites
        # most of its pages to the WAL at every commit: with two full indexes on the hash that
        # was a quarter of all WAL frames at 40,000 articles. Current rows are found through
        # the unique current-hash index already; this one now holds the superseded rows only
        # (a few percent of them), and lookups by hash query the two separately.
        "DROP INDEX articles_hash",
        "CREATE INDEX articles_superseded_hash ON articles (content_hash) WHERE is_current = 0",
    ),
    (
        # Why a fetched URL holds no article: the parser's verdict ("listing", "error_page",
        # "empty"...), so a user can tell a listing from a broken template. NULL otherwise.
        "ALTER TABLE urls ADD COLUMN not_article TEXT",
    ),
    (
        # Outcomes that mean something (#14): a run ends ok, partial, failed or interrupted,
        # with the reason in a line; ``ok`` stays for older readers (1 only for "ok").
        "ALTER TABLE runs ADD COLUMN outcome TEXT"
        " CHECK (outcome IN ('ok', 'partial', 'failed', 'interrupted'))",
        "ALTER TABLE runs ADD COLUMN reason TEXT",
        "UPDATE runs SET outcome = CASE ok WHEN 1 THEN 'ok' ELSE 'failed' END"
        " WHERE finished_at IS NOT NULL",
        # Why a URL is failed/skipped/gone, as a class ``vksnd retry --reason`` can pick, and
        # the listing scope it was found in ("cat:2"), for completeness per scope.
        "ALTER TABLE urls ADD COLUMN reason_class TEXT",
        "ALTER TABLE urls ADD COLUMN scope TEXT",
        f"UPDATE urls SET reason_class = {_CLASS_OF_OLD_ROWS.format(text='last_error')}"
        " WHERE state IN ('failed', 'skipped', 'gone')",
        # Skipped URLs used to be parked for good; they come back on a schedule now.
        f"UPDATE urls SET next_retry_at = {_NOW_SQL} WHERE state = 'skipped'"
        " AND reason_class != 'out_of_scope'",
        "ALTER TABLE failures ADD COLUMN reason_class TEXT",
        f"UPDATE failures SET reason_class = {_CLASS_OF_OLD_ROWS.format(text='reason')}",
        "CREATE INDEX urls_scope ON urls (scope, state) WHERE scope IS NOT NULL",
        # Listing pages by scope: which were read (and the dates they showed), which failed.
        """
        CREATE TABLE listing_pages (
            url TEXT PRIMARY KEY,
            scope TEXT NOT NULL,
            number INTEGER,
            floor TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'read', 'failed')),
            newest TEXT,
            oldest TEXT,
            items INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX listing_pages_scope ON listing_pages (scope, state)",
    ),
    (
        # Several sites in one store (#15): every row says whose it is. A constant default
        # back-fills existing rows without rewriting them (SQLite keeps it in the schema).
        *(
            f"ALTER TABLE {table} ADD COLUMN site TEXT NOT NULL DEFAULT '{DEFAULT_SITE}'"
            for table in ("urls", "articles", "runs", "listing_pages", "failures")
        ),
        # Article numbers are unique within a site only: chains are found by (site, key).
        "DROP INDEX articles_current_key",
        """CREATE INDEX articles_current_key ON articles (site, article_key)
           WHERE is_current = 1 AND article_key IS NOT NULL""",
        # What a per-site export, feed or stats reads: one site's versions in seq order (with
        # is_current and root_id, stats by site count versions, current ones and chains from
        # the index alone: 3x faster than reading the rows at 200,000 articles), its frontier
        # by state.
        "CREATE INDEX articles_site_seq ON articles (site, seq, is_current, root_id)",
        "CREATE INDEX urls_site_state ON urls (site, state)",
    ),
    (
        # A million articles (#17). ``stats`` from counters the triggers keep in each writing
        # transaction (storage/counts.py), filled once here.
        *counts.MIGRATION,
        # The export's change log: the latest change number of each article chain (a version
        # stored, a URL joining it). An export folder keeps the highest number it has seen
        # and reads only the chains above it (storage/export.py).
        "CREATE TABLE changes (root_id INTEGER PRIMARY KEY, change INTEGER NOT NULL)",
        "CREATE INDEX changes_order ON changes (change)",
        "INSERT INTO changes (root_id, change) SELECT id, id FROM articles WHERE id = root_id",
        *CHANGE_TRIGGERS,
        # The revalidation slice walks fetched URLs oldest-checked first and stops at its
        # limit: an index in that order (no sort of every fetched URL), and the current
        # version by URL to join it to (3.7 s -> ms at 1M).
        "CREATE INDEX urls_checked ON urls (last_fetched_at, id) WHERE state = 'fetched'",
        "CREATE INDEX articles_current_url ON articles (url) WHERE is_current = 1",
    ),
    (
        # A pass counts and re-checks its own site's older articles (#17): the current
        # versions of each site as a counter, and each site's fetched URLs in checked order
        # (the whole-store index made a site's walk pass over every other site's URLs).
        *counts.SITE_MIGRATION,
        "CREATE INDEX urls_site_checked ON urls (site, last_fetched_at, id)"
        " WHERE state = 'fetched'",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def connection_pragmas(busy_timeout_ms: int) -> tuple[str, ...]:
    """Per-connection settings (``journal_mode`` is persistent and set separately)."""
    return (
        "PRAGMA foreign_keys = ON",
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
        # In WAL mode NORMAL loses at most the last transactions on power loss, never integrity.
        "PRAGMA synchronous = NORMAL",
        f"PRAGMA cache_size = -{DEFAULT_CACHE_KIB}",
        "PRAGMA temp_store = MEMORY",
        # Checkpoint every 64 MiB of WAL rather than 16: fewer fsyncs, and index pages rewritten
        # by many commits are copied once (measured ~1.5x on bulk inserts). The WAL file is
        # cut back to the same size after a checkpoint.
        f"PRAGMA wal_autocheckpoint = {DEFAULT_WAL_AUTOCHECKPOINT_PAGES}",
        f"PRAGMA journal_size_limit = {DEFAULT_WAL_AUTOCHECKPOINT_PAGES * DEFAULT_PAGE_SIZE}",
    )


async def prepare_writer(conn: aiosqlite.Connection, path: Path, busy_timeout_ms: int) -> None:
    """Set WAL and the pragmas, then migrate to ``SCHEMA_VERSION``. Rows come back as
    ``sqlite3.Row``, read by column name."""
    conn.row_factory = sqlite3.Row
    # Only a new, empty file takes a page size (before WAL). Rows here are 5-15 KB (texts,
    # compressed pages); with 16 KiB pages a 9 KB row fills a page alone (+50% file size for
    # ~15% speed), with 4 KiB pages it spills into full overflow pages: 4 KiB it is.
    await conn.execute_fetchall(f"PRAGMA page_size = {DEFAULT_PAGE_SIZE}")
    async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
        row = await cursor.fetchone()
    if row is None or str(row["journal_mode"]).lower() != "wal":
        raise StorageError(path, f"cannot switch the database to WAL (got {row!r})")
    for pragma in connection_pragmas(busy_timeout_ms):
        await conn.execute_fetchall(pragma)  # fetched: no statement left open
    await migrate(conn, path)


async def _user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row["user_version"]) if row is not None else 0


async def migrate(conn: aiosqlite.Connection, path: Path) -> int:
    """Apply missing migrations; returns the version before. Idempotent."""
    before = await _user_version(conn)
    if before > SCHEMA_VERSION:
        raise SchemaMismatch(path, before, SCHEMA_VERSION)
    version = before
    while version < SCHEMA_VERSION:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = await _user_version(conn)  # another process may have migrated meanwhile
            if version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    await conn.execute(statement)
                version += 1
                await conn.execute(f"PRAGMA user_version = {version}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
    return before


def open_reader(path: Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A synchronous, query-only connection for export and stats, separate from the writer.

    WAL lets it read a consistent snapshot while a daemon writes. It never creates the file and
    never migrates: a database not migrated to this version is refused.

    A database nobody can write (a read-only mount, a file and folder without write access) is
    still read: WAL wants to create its ``-shm`` beside the file, so the connection is opened
    again read-only, then as immutable (no one can be writing to it there).
    """
    if not path.is_file():
        raise DatabaseMissing(path)
    try:
        conn = _connect_reader(path, busy_timeout_ms, "")
    except ReadOnlyDatabase:
        if _writable(path):
            raise
        try:
            conn = _connect_reader(path, busy_timeout_ms, "?mode=ro")
        except (ReadOnlyDatabase, StorageError):
            conn = _connect_reader(path, busy_timeout_ms, "?immutable=1")
    found = int(conn.execute("PRAGMA user_version").fetchone()["user_version"])
    if found != SCHEMA_VERSION:
        conn.close()
        raise SchemaMismatch(path, found, SCHEMA_VERSION)
    return conn


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) or os.access(path.parent, os.W_OK)


def _connect_reader(path: Path, busy_timeout_ms: int, uri_query: str) -> sqlite3.Connection:
    target: str | Path = path
    if uri_query:
        target = f"{path.resolve().as_uri()}{uri_query}"
    try:
        conn = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, uri=bool(uri_query)
        )
        conn.row_factory = sqlite3.Row  # rows are read by column name
        try:
            for pragma in connection_pragmas(busy_timeout_ms):
                conn.execute(pragma)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA user_version").fetchone()
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:
        raise translate_sqlite_error(exc, path) from exc
    return conn
