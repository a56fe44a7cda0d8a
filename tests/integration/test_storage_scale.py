"""Queries that must not grow with the corpus (issue 17): their plans on a real file, and their
answers against a plain query that does the same thing the slow way."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.storage import article_url, make_article, make_raw
from vksnd.storage.records import NewUrl, UrlKind
from vksnd.storage.sqlite import SqliteStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEXT = "Viện kiểm sát nhân dân tối cao tổ chức hội nghị số {n}.\n\nĐồng chí phát biểu."


def _plan(db: Path, sql: str, params: tuple[object, ...]) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()


async def _corpus(db: Path, n: int) -> None:
    """``n`` articles fetched at different times (some published recently), a listing page
    and a failed URL, so the slice has URLs to skip."""
    async with await SqliteStore.open(db) as store:
        for i in range(n):
            url = article_url(i)
            published = T0 - timedelta(days=400 - i * 7)
            await store.store_article(
                make_article(url, TEXT.format(n=i), published_at=published),
                make_raw(url, fetched_at=T0 - timedelta(hours=(i * 37) % n)),
                None,
                None,
            )
        await store.add_urls(
            [NewUrl("https://vksndtc.gov.vn/tin-tuc/trang-2.html", UrlKind.LISTING)]
        )
        await store.record_failure(article_url(3), "HTTP 503", 503, None)


async def test_revalidation_slice_walks_an_index_and_stops_at_its_limit(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    await _corpus(db, 60)
    statements: list[str] = []
    cutoff = T0 - timedelta(days=30)
    async with await SqliteStore.open(db) as store:
        await store._conn.set_trace_callback(statements.append)
        slice_ = await store.least_recently_checked(cutoff, 10)
        whole = await store.least_recently_checked(cutoff, 1_000)
        await store._conn.set_trace_callback(None)
    sql = next(s for s in statements if "last_fetched_at, u.id LIMIT" in s)
    plan = _plan(db, sql, ())
    assert not any("TEMP B-TREE" in step for step in plan), plan  # no sort of every URL
    assert plan[0].startswith("SCAN u USING INDEX urls_checked"), plan
    assert any("articles_current_url" in step for step in plan), plan
    # the same answer as the plain join, which sorts
    conn = sqlite3.connect(db)
    try:
        expected = [
            row[0]
            for row in conn.execute(
                "SELECT u.url FROM articles a JOIN urls u ON u.url = a.url"
                " WHERE a.is_current = 1 AND u.state = 'fetched'"
                " AND (a.published_utc IS NULL OR a.published_utc < ?)"
                " ORDER BY u.last_fetched_at, u.id",
                (cutoff.isoformat(timespec="microseconds"),),
            )
        ]
    finally:
        conn.close()
    assert [r.url for r in whole] == expected
    assert [r.url for r in slice_] == expected[:10]
    assert article_url(3) not in expected and len(expected) > 20
