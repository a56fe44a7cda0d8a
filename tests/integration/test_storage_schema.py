"""Schema migrations, connection settings and the typed errors, on real files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from support.storage import (
    article_url,
    make_article,
    make_raw,
    undo_migration_6,
    undo_migration_7,
)
from vksnd.storage.errors import (
    CorruptDatabase,
    DatabaseLocked,
    DatabaseMissing,
    DiskFull,
    ReadOnlyDatabase,
    SchemaMismatch,
    StorageError,
    translate_sqlite_error,
)
from vksnd.storage.records import NewUrl, RunCounters, RunOutcome, StoreOutcome, UrlKind
from vksnd.storage.schema import SCHEMA_VERSION, open_reader
from vksnd.storage.sqlite import SqliteStore, StoreConfig

TABLES = {"urls", "pages", "articles", "article_urls", "runs", "failures"}


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


async def test_migrates_an_empty_file_and_reopens_idempotently(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dirs" / "v.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")  # an empty file is a valid, empty database
    async with await SqliteStore.open(db) as store:
        await store.store_article(make_article(article_url(1), "Một"), make_raw(article_url(1)),
                                  None, None)  # fmt: skip
    assert _version(db) == SCHEMA_VERSION
    for _ in range(2):
        async with await SqliteStore.open(db) as store:
            assert await store.known_article_urls([article_url(1)]) == {article_url(1)}
    conn = sqlite3.connect(db)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    finally:
        conn.close()
    assert names >= TABLES


async def test_open_creates_missing_parent_directories(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "vksnd.db"
    async with await SqliteStore.open(db) as store:
        assert await store.add_urls([NewUrl(article_url(1), UrlKind.ARTICLE)]) == 1
    assert db.is_file() and _version(db) == SCHEMA_VERSION


async def test_two_processes_worth_of_opens_migrate_once(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    first = await SqliteStore.open(db)
    second = await SqliteStore.open(db)
    try:
        assert await first.add_urls([NewUrl(article_url(1), UrlKind.ARTICLE)]) == 1
        assert await second.add_urls([NewUrl(article_url(1), UrlKind.ARTICLE)]) == 0
    finally:
        await first.close()
        await second.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(SchemaMismatch) as caught:
        await SqliteStore.open(db)
    assert caught.value.path == str(db) and caught.value.found == SCHEMA_VERSION + 5


def test_reader_refuses_missing_unmigrated_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        open_reader(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()  # a reader never creates the file
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(SchemaMismatch):
        open_reader(empty)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just some bytes" * 200)
    with pytest.raises(CorruptDatabase) as caught:
        open_reader(junk)
    assert str(junk) in str(caught.value)


async def test_reader_is_query_only(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    await (await SqliteStore.open(db)).close()
    conn = open_reader(db)
    try:
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM urls")
    finally:
        conn.close()


async def test_a_held_write_lock_becomes_database_locked(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db, StoreConfig(busy_timeout_ms=50)) as store:
        holder = sqlite3.connect(db, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(DatabaseLocked) as caught:
                await store.add_urls([NewUrl(article_url(1), UrlKind.ARTICLE)])
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        # the failed transaction left the store usable
        assert await store.add_urls([NewUrl(article_url(1), UrlKind.ARTICLE)]) == 1
    assert caught.value.path == str(db)


async def test_closed_store_raises_storage_error(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "v.db")
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.get_url(article_url(1))
    with pytest.raises(StorageError, match="closed"):
        await store.add_urls([NewUrl(article_url(1), UrlKind.ARTICLE)])


def test_real_sqlite_failures_translate_to_typed_errors(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    setup = sqlite3.connect(db)
    setup.execute("CREATE TABLE t (x BLOB)")
    setup.commit()
    setup.close()

    readonly = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.Error) as ro_error:
            readonly.execute("INSERT INTO t VALUES (1)")
    finally:
        readonly.close()
    assert isinstance(translate_sqlite_error(ro_error.value, db), ReadOnlyDatabase)

    full = sqlite3.connect(db)
    try:
        full.execute("PRAGMA max_page_count = 3")  # a disk that fills after three pages
        with pytest.raises(sqlite3.Error) as full_error:
            full.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    finally:
        full.close()
    translated = translate_sqlite_error(full_error.value, db)
    assert isinstance(translated, DiskFull) and translated.path == str(db)


async def test_background_checkpoints_copy_the_wal_as_we_go(tmp_path: Path) -> None:
    """With a checkpoint every 5 articles the WAL is copied into the database file while we
    write: the file passes 3 MB long before 200 articles of 100 KB. Left to SQLite's backstop
    (4x 64 MiB of WAL) it would hold little more than the schema until close."""
    db = tmp_path / "v.db"
    body = bytes(range(256)) * 400  # ~100 KB, stored uncompressed
    written = 0
    async with await SqliteStore.open(
        db, StoreConfig(checkpoint_every=5, compression_level=0)
    ) as store:
        while db.stat().st_size < 30 * len(body) and written < 200:
            raw = make_raw(article_url(written), body + written.to_bytes(4, "big"))
            await store.store_article(make_article(article_url(written), f"Bài {written}."),
                                      raw, None, None)  # fmt: skip
            written += 1
        conn = open_reader(db)
        try:
            assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] == written
        finally:
            conn.close()
    assert written < 200


async def test_version_1_file_migrates_and_still_finds_superseded_texts(tmp_path: Path) -> None:
    """Migration 2 swaps the full content-hash index for one over superseded rows: a file
    written by version 1 gets it, and a revert to a text superseded before the migration is
    still recognised (found through the new index). Migration 3 adds ``urls.not_article``."""
    db = tmp_path / "v1.db"
    url = article_url(7)
    text = "Viện kiểm sát nhân dân tối cao tổ chức hội nghị."
    async with await SqliteStore.open(db) as store:
        first = await store.store_article(make_article(url, text), make_raw(url), None, None)
        await store.store_article(make_article(url, text + " Sửa."), make_raw(url), None, None)
    conn = sqlite3.connect(db, isolation_level=None)
    try:  # back to what version 1 left on disk
        undo_migration_7(conn)
        undo_migration_6(conn)
        _undo_migration_5(conn)
        _undo_migration_4(conn)
        conn.execute("DROP INDEX articles_superseded_hash")
        conn.execute("CREATE INDEX articles_hash ON articles (content_hash)")
        conn.execute("ALTER TABLE urls DROP COLUMN not_article")
        conn.execute("PRAGMA user_version = 1")
    finally:
        conn.close()
    async with await SqliteStore.open(db) as store:
        reverted = await store.store_article(make_article(url, text), make_raw(url), None, None)
    conn = sqlite3.connect(db)
    try:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        reverts_to = conn.execute(
            "SELECT reverts_to FROM articles WHERE id = ?", (reverted.article_id,)
        ).fetchone()[0]
        url_columns = {r[1] for r in conn.execute("PRAGMA table_info(urls)")}
    finally:
        conn.close()
    assert _version(db) == SCHEMA_VERSION == 7
    assert "not_article" in url_columns
    assert "articles_hash" not in indexes and "articles_superseded_hash" in indexes
    assert reverted.outcome is StoreOutcome.NEW_VERSION and reverts_to == first.article_id


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def _undo_migration_5(conn: sqlite3.Connection) -> None:
    for index in ("articles_current_key", "articles_site_seq", "urls_site_state"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute(
        "CREATE INDEX articles_current_key ON articles (article_key)"
        " WHERE is_current = 1 AND article_key IS NOT NULL"
    )
    for table in ("urls", "articles", "runs", "listing_pages", "failures"):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN site")


def _undo_migration_4(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE listing_pages")
    conn.execute("DROP INDEX urls_scope")
    for table, column in (
        ("runs", "outcome"), ("runs", "reason"), ("urls", "reason_class"), ("urls", "scope"),
        ("failures", "reason_class"),
    ):  # fmt: skip
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


async def test_version_3_file_gets_reason_classes_outcomes_and_skipped_urls_back(
    tmp_path: Path,
) -> None:
    """Migration 4 (#14): failed/skipped/gone URLs get a reason class from their status and
    message, skipped ones (parked for good before) are due again, runs get an outcome."""
    db = tmp_path / "v3.db"
    rows = {
        article_url(1): ("failed", 503, "HTTP 503", "server"),
        article_url(2): ("failed", None, "network error (reset)", "network"),
        article_url(3): ("skipped", 200, "body larger than 10485760 bytes", "too_large"),
        article_url(4): ("skipped", 302, "redirect rejected (loop -> x)", "redirect"),
        article_url(5): ("gone", 404, "HTTP 404", "gone"),
        article_url(6): ("skipped", 200, "nesting deeper than 1600 tags", "parse"),
    }
    async with await SqliteStore.open(db) as store:
        for url, (state, status, reason, _) in rows.items():
            await store.record_failure(url, reason, status, None, permanent=state != "failed")
        run = await store.start_run("crawl")
        await store.finish_run(run, RunCounters(), outcome=RunOutcome.OK)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        undo_migration_7(conn)
        undo_migration_6(conn)
        _undo_migration_5(conn)
        _undo_migration_4(conn)
        conn.execute("PRAGMA user_version = 3")
    finally:
        conn.close()
    async with await SqliteStore.open(db) as store:
        records = {url: await store.get_url(url) for url in rows}
    for url, (state, _, _, reason_class) in rows.items():
        record = records[url]
        assert record is not None and record.state == state
        assert record.reason_class == reason_class, url
        if state == "skipped":  # due again, at once
            assert record.next_retry_at is not None
            assert record.next_retry_at <= datetime.now(UTC)
    assert _rows(db, "SELECT outcome, ok FROM runs") == [("ok", 1)]
    assert {r[0] for r in _rows(db, "SELECT reason_class FROM failures")} == {
        c for *_, c in rows.values()
    }
