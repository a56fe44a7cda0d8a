"""The counters ``stats`` reads (storage/counts.py) stay equal to a recount of the tables: after
writes, edits, reverts, duplicates, failures, retries, reparse, a killed writer, and on a file
migrated from schema version 4 (issue 17)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.storage import (
    article_url,
    make_article,
    make_raw,
    undo_migration_6,
    undo_migration_7,
)
from vksnd.storage import counts
from vksnd.storage.reader import SqliteReader
from vksnd.storage.records import NewUrl, ReasonClass, UrlKind
from vksnd.storage.sqlite import SqliteStore
from vksnd.storage.stats import collect_stats

TEXT = "Viện kiểm sát nhân dân tối cao tổ chức hội nghị số {n}.\n\nĐồng chí phát biểu."


def _counters(db: Path) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return counts.stored(conn), counts.recount(conn)
    finally:
        conn.close()


def _assert_exact(db: Path) -> None:
    stored, recounted = _counters(db)
    assert stored == recounted


async def _busy_store(db: Path) -> None:
    """Every kind of write the crawler makes, with counters checked after each step."""
    now = datetime(2026, 3, 1, tzinfo=UTC)
    async with await SqliteStore.open(db) as store:
        await store.add_urls(
            [NewUrl(article_url(n), UrlKind.ARTICLE, scope="cat:2") for n in range(8)]
            + [NewUrl("https://vksndtc.gov.vn/tin-tuc/trang-2.html", UrlKind.LISTING)]
        )
        _assert_exact(db)
        for n in range(6):
            url = article_url(n)
            await store.store_article(
                make_article(url, TEXT.format(n=n)), make_raw(url), None, None
            )
        # an edit, a revert, a duplicate under another URL, an alias through the canonical URL
        url = article_url(1)
        await store.store_article(make_article(url, TEXT.format(n=1) + " Sửa."),
                                  make_raw(url, b"<p>sua</p>"), None, None)  # fmt: skip
        await store.store_article(make_article(url, TEXT.format(n=1)), make_raw(url), None, None)
        dup = article_url(40)
        await store.store_article(make_article(dup, TEXT.format(n=2)), make_raw(dup), None, None)
        canon = article_url(41)
        await store.store_article(
            make_article(article_url(3), TEXT.format(n=3), canonical_url=canon),
            make_raw(article_url(3)),
            None,
            None,
        )
        _assert_exact(db)
        # failures of several classes, a retry that succeeds, a requeue
        for n, (status, cls) in enumerate(
            ((503, ReasonClass.SERVER), (404, ReasonClass.GONE), (None, ReasonClass.NETWORK))
        ):
            await store.record_failure(
                article_url(6 + n),
                f"HTTP {status}",
                status,
                now + timedelta(minutes=5),
                permanent=status == 404,
                reason_class=cls,
            )
        _assert_exact(db)
        await store.requeue([ReasonClass.GONE])
        url = article_url(6)
        await store.store_article(make_article(url, TEXT.format(n=6)), make_raw(url), None, None)
        await store.record_not_modified(article_url(0), now)
        _assert_exact(db)
        run = await store.start_run("crawl")
        assert run


async def test_counters_equal_a_recount_after_every_kind_of_write(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    await _busy_store(db)
    stored, recounted = _counters(db)
    assert stored == recounted
    # the scenario reached every counter that can be non-zero here
    names = {name for name, _ in stored}
    assert {
        "pages",
        "versions",
        "current",
        "reverts",
        "articles",
        "article_urls",
        "urls_collapsed",
        "urls_state",
        "urls_kind",
        "waiting",
        "failures",
        "scope_urls",
        "scope_mapped",
        "current_site",
    } <= names


async def test_stats_read_from_counters_equal_the_old_aggregates(tmp_path: Path) -> None:
    """``vksnd stats`` says what the full-table aggregates it used to run say."""
    db = tmp_path / "s.db"
    await _busy_store(db)
    with SqliteReader.open(db) as reader:
        stats = reader.stats()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
        assert stats.versions == one("SELECT count(*) FROM articles")[0]
        assert stats.current_versions == one("SELECT sum(is_current) FROM articles")[0]
        assert stats.reverted_versions == one("SELECT count(reverts_to) FROM articles")[0] == 1
        assert stats.articles == one("SELECT count(*) FROM articles WHERE id = root_id")[0]
        assert stats.article_urls == one("SELECT count(*) FROM article_urls")[0]
        assert (
            stats.urls_collapsed
            == one(
                "SELECT count(*) - count(DISTINCT root_id) FROM article_urls"
                " WHERE content_hash IS NOT NULL"
            )[0]
        )
        assert stats.urls_collapsed >= 1
        assert (stats.pages_archived, stats.archive_bytes, stats.raw_bytes) == one(
            "SELECT count(*), sum(length(body)), sum(body_size) FROM pages"
        )
        assert dict(stats.urls_by_state) == dict(
            conn.execute("SELECT state, count(*) FROM urls GROUP BY state").fetchall()
        )
        assert dict(stats.failures_by_reason) == dict(
            conn.execute("SELECT reason, count(*) FROM failures GROUP BY reason").fetchall()
        )
        scope = {s.scope: s for s in stats.scopes} if stats.scopes else {}
        mapped = one(
            "SELECT count(*) FROM urls WHERE scope = 'cat:2' AND kind = 'article'"
            " AND state = 'fetched' AND article_id IS NOT NULL"
        )[0]
        if "cat:2" in scope:
            assert scope["cat:2"].articles_stored == mapped
    finally:
        conn.close()


_WRITER = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from support.storage import (
    article_url,
    make_article,
    make_raw,
    undo_migration_6,
    undo_migration_7,
)
from vksnd.storage.records import StoreRequest
from vksnd.storage.sqlite import SqliteStore

async def main():
    async with await SqliteStore.open({db!r}) as store:
        n = 0
        while True:
            batch = []
            for _ in range(50):
                url = article_url(n % 300)
                batch.append(StoreRequest(make_article(url, f"Bài số {{n}} lần {run}."),
                                          make_raw(url, str(n).encode())))
                n += 1
            await store.store_articles(batch)
            await store.record_failure(article_url(10_000 + n), "HTTP 503", 503, None)
            print(n, flush=True)

asyncio.run(main())
"""


async def test_a_killed_writer_leaves_the_counters_exact(tmp_path: Path) -> None:
    """SIGKILL in the middle of batches: what committed is counted, nothing else."""
    db = tmp_path / "k.db"
    tests = str(Path(__file__).resolve().parents[1])
    for run in range(2):
        code = _WRITER.format(tests=tests, db=str(db), run=run)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        lines = 0
        while lines < 6 and time.monotonic() < deadline:
            if proc.stdout.readline():
                lines += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert lines >= 6
        _assert_exact(db)
    stored, _ = _counters(db)
    assert stored[("versions", "")] > 300  # edits made new versions of the 300 articles


async def test_a_version_5_file_migrates_and_its_stats_equal_a_recount(tmp_path: Path) -> None:
    """Migration 6 fills the counters from the tables as they are and keeps them from then on."""
    db = tmp_path / "v4.db"
    await _busy_store(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:  # back to what version 5 left on disk
        undo_migration_7(conn)
        undo_migration_6(conn)
    finally:
        conn.close()
    async with await SqliteStore.open(db) as store:  # migrates
        url = article_url(2)
        await store.store_article(make_article(url, TEXT.format(n=2) + " Mới."),
                                  make_raw(url, b"new"), None, None)  # fmt: skip
    _assert_exact(db)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    reader.row_factory = sqlite3.Row
    try:
        stats = collect_stats(reader, db)
        assert stats.versions == reader.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        reader.close()


async def test_a_version_6_file_gets_each_sites_current_count(tmp_path: Path) -> None:
    """Migration 7 fills the per-site counter from the tables and keeps it from then on."""
    db = tmp_path / "v6.db"
    await _busy_store(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:  # back to what version 6 left on disk
        undo_migration_7(conn)
    finally:
        conn.close()
    async with await SqliteStore.open(db) as store:  # migrates
        url = article_url(2)
        await store.store_article(make_article(url, TEXT.format(n=2) + " Lần nữa."),
                                  make_raw(url, b"again"), None, None)  # fmt: skip
    _assert_exact(db)
    stored, _ = _counters(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        current = conn.execute("SELECT count(*) FROM articles WHERE is_current = 1").fetchone()
    finally:
        conn.close()
    assert stored[("current_site", "vksndtc")] == current[0] > 0
