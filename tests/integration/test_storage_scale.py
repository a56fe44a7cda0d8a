"""Queries that must not grow with the corpus (issue 17): their plans on a real file, and their
answers against a plain query that does the same thing the slow way."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.storage import article_url, make_article, make_raw
from vksnd.storage.export import LOCK_NAME, MANIFEST_NAME, export_corpus
from vksnd.storage.records import ExportFilter, ExportReport, NewUrl, StorageStats, UrlKind
from vksnd.storage.schema import open_reader
from vksnd.storage.sites import SiteMap
from vksnd.storage.sqlite import SqliteStore, StoreConfig
from vksnd.storage.stats import collect_stats

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


# -- the incremental export by watermark ------------------------------------------------------


def _export_traced(db: Path, out: Path, filt: ExportFilter) -> tuple[ExportReport, list[str]]:
    statements: list[str] = []
    conn = open_reader(db)
    try:
        conn.set_trace_callback(statements.append)
        return export_corpus(conn, out, filt), statements
    finally:
        conn.close()


def _folder(out: Path) -> dict[str, bytes]:
    """Every corpus file and the manifest, as bytes (the lock file aside)."""
    return {p.name: p.read_bytes() for p in out.iterdir() if p.name != LOCK_NAME}


_FULL_READ = "SELECT a.seq, a.content_hash"  # the full export's listing of every version


async def _changes(db: Path, round_: int) -> None:
    """New articles, edits of stored ones, and an alias joining a stored chain."""
    async with await SqliteStore.open(db) as store:
        for i in range(3):
            url = article_url(1_000 * round_ + i)
            await store.store_article(
                make_article(url, TEXT.format(n=1_000 * round_ + i)), make_raw(url), None, None
            )
        for i in (2 + round_, 10 + round_):
            url = article_url(i)
            await store.store_article(make_article(url, TEXT.format(n=i) + f" Sửa {round_}."),
                                      make_raw(url, f"{round_}".encode()), None, None)  # fmt: skip
        alias = article_url(500 + round_)  # the same text as article 20 under another URL
        await store.store_article(make_article(alias, TEXT.format(n=20 + round_)),
                                  make_raw(alias), None, None)  # fmt: skip


@pytest.mark.parametrize("superseded", [False, True])
async def test_incremental_export_reads_only_changed_chains_and_equals_a_fresh_one(
    tmp_path: Path, superseded: bool
) -> None:
    db = tmp_path / "e.db"
    await _corpus(db, 40)
    out = tmp_path / "out"
    filt = ExportFilter(include_superseded=superseded)
    first, statements = _export_traced(db, out, filt)
    assert first.written == (40 if not superseded else first.matched)
    assert any(s.startswith(_FULL_READ) for s in statements)  # no watermark yet: full
    for round_ in (1, 2):
        await _changes(db, round_)
        report, statements = _export_traced(db, out, filt)
        # read through the change log, not the whole table
        assert not any(s.startswith(_FULL_READ) for s in statements), statements
        assert any("FROM changes WHERE change >" in s for s in statements)
        assert report.written == 5  # 3 new, 2 edits
        assert report.removed == (0 if superseded else 2)
        fresh = tmp_path / f"fresh{round_}"
        fresh_report, _ = _export_traced(db, fresh, filt)
        assert _folder(out) == _folder(fresh)
        assert report.matched == fresh_report.matched
    # nothing new: nothing read but the marks, nothing written
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    report, statements = _export_traced(db, out, filt)
    assert report.written == report.removed == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


async def test_a_touched_folder_gets_the_full_export_again(tmp_path: Path) -> None:
    """The watermark only holds for the folder as the last export left it: a deleted file or
    an edited manifest sends the next run through the full export, which repairs it."""
    db = tmp_path / "t.db"
    await _corpus(db, 20)
    out = tmp_path / "out"
    _export_traced(db, out, ExportFilter())
    victim = sorted(p for p in out.iterdir() if p.suffix == ".txt")[3]
    victim.unlink()
    report, statements = _export_traced(db, out, ExportFilter())
    assert any(s.startswith(_FULL_READ) for s in statements)
    assert report.restored == 1 and victim.exists()
    manifest = out / MANIFEST_NAME
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(b"".join(lines[:-1]))  # the last line lost
    report, statements = _export_traced(db, out, ExportFilter())
    assert any(s.startswith(_FULL_READ) for s in statements)
    fresh = tmp_path / "fresh"
    _export_traced(db, fresh, ExportFilter())
    assert _folder(out) == _folder(fresh)
    # another database exported into the same folder is not mistaken for this one
    other = tmp_path / "other.db"
    await _corpus(other, 5)
    report, statements = _export_traced(other, out, ExportFilter())
    assert any(s.startswith(_FULL_READ) for s in statements)


async def test_revalidation_counts_equal_the_plain_join_without_reading_the_corpus(
    tmp_path: Path,
) -> None:
    db = tmp_path / "n.db"
    await _corpus(db, 60)
    async with await SqliteStore.open(db) as store:
        await store.record_failure(article_url(5), "HTTP 503", 503, None)  # an older one
        await store.record_failure(article_url(59), "HTTP 503", 503, None)  # a recent one
    published_before, checked_before = T0 - timedelta(days=30), T0 - timedelta(hours=20)
    statements: list[str] = []
    async with await SqliteStore.open(db) as store:
        await store._conn.set_trace_callback(statements.append)
        total, overdue = await store.revalidation_counts(published_before, checked_before)
        await store._conn.set_trace_callback(None)
    conn = sqlite3.connect(db)
    try:
        expected = conn.execute(
            "SELECT count(*), coalesce(sum(u.last_fetched_at < ?), 0)"
            " FROM articles a JOIN urls u ON u.url = a.url"
            " WHERE a.is_current = 1 AND u.state = 'fetched'"
            " AND (a.published_utc IS NULL OR a.published_utc < ?)",
            (
                checked_before.isoformat(timespec="microseconds"),
                published_before.isoformat(timespec="microseconds"),
            ),
        ).fetchone()
    finally:
        conn.close()
    assert (total, overdue) == tuple(expected)
    assert 0 < overdue < total < 60
    sql = next(s for s in statements if "AS overdue" in s)
    plan = _plan(db, sql, ())
    assert not any(step.startswith(("SCAN a", "SCAN articles")) for step in plan), plan
    assert not any(step == "SCAN u" for step in plan), plan
    # the overdue ones by a range of the checked-order index, the recent by publication time:
    # no statement goes through every fetched URL
    assert any("urls_checked (last_fetched_at<?)" in step for step in plan), plan
    assert any("articles_published (published_utc>?)" in step for step in plan), plan


_SITES = SiteMap.of(
    {"vksndtc": frozenset({"vksndtc.gov.vn"}), "bvpl": frozenset({"baovephapluat.vn"})}
)


def _paper_url(i: int) -> str:
    return f"https://baovephapluat.vn/kiem-sat-24h/tin-tuc/bai-viet-so-{i}-{i}.html"


async def test_a_sites_revalidation_counts_and_slice_walk_its_own_index(tmp_path: Path) -> None:
    """The daemon always asks for its site. The counts come from the site's counter and the
    site's checked-order index, the overdue count stops at the pass's limit (after a long
    stop most of a million articles are overdue: counting them all took 10 s), and the slice
    walks only the site's URLs."""
    db = tmp_path / "s.db"
    config = StoreConfig(sites=_SITES, checkpoint_every=0)
    async with await SqliteStore.open(db, config) as store:
        for i in range(80):
            url = article_url(i) if i % 3 else _paper_url(i)
            await store.store_article(
                make_article(url, TEXT.format(n=i), published_at=T0 - timedelta(days=400 - i * 5)),
                make_raw(url, fetched_at=T0 - timedelta(hours=(i * 37) % 80)),
                None,
                None,
            )
        await store.record_failure(article_url(4), "HTTP 503", 503, None)
        await store.record_failure(_paper_url(6), "HTTP 503", 503, None)
    published_before, checked_before = T0 - timedelta(days=30), T0 - timedelta(hours=20)
    conn = sqlite3.connect(db)
    plain = (
        "SELECT count(*), coalesce(sum(u.last_fetched_at < ?), 0)"
        " FROM articles a JOIN urls u ON u.url = a.url"
        " WHERE a.is_current = 1 AND u.state = 'fetched' AND a.site = ?"
        " AND (a.published_utc IS NULL OR a.published_utc < ?)"
    )
    order = (
        "SELECT u.url FROM articles a JOIN urls u ON u.url = a.url"
        " WHERE a.is_current = 1 AND u.state = 'fetched' AND a.site = ?"
        " AND (a.published_utc IS NULL OR a.published_utc < ?)"
        " ORDER BY u.last_fetched_at, u.id"
    )
    iso = {"timespec": "microseconds"}
    statements: list[str] = []
    try:
        async with await SqliteStore.open(db, config) as store:
            await store._conn.set_trace_callback(statements.append)
            for site in ("vksndtc", "bvpl"):
                params = (checked_before.isoformat(**iso), site, published_before.isoformat(**iso))
                total, overdue = conn.execute(plain, params).fetchone()
                assert 0 < overdue < total
                counted = await store.revalidation_counts(
                    published_before, checked_before, site=site
                )
                assert counted == (total, overdue), site
                capped = await store.revalidation_counts(
                    published_before, checked_before, site=site, overdue_limit=2
                )
                assert capped == (total, 2), site
                expected = [
                    row[0] for row in conn.execute(order, (site, published_before.isoformat(**iso)))
                ]
                slice_ = await store.least_recently_checked(published_before, 5, site=site)
                assert [r.url for r in slice_] == expected[:5], site
            await store._conn.set_trace_callback(None)
            # a site with nothing stored yet has no counter row
            assert await store.revalidation_counts(
                published_before, checked_before, site="nowhere"
            ) == (0, 0)
    finally:
        conn.close()
    counts_sql = next(s for s in statements if "AS overdue" in s and "'bvpl'" in s)
    plan = _plan(db, counts_sql, ())
    assert not any(step.startswith(("SCAN a", "SCAN articles", "SCAN u")) for step in plan), plan
    assert any("urls_site_checked (site=? AND last_fetched_at<?)" in step for step in plan), plan
    slice_sql = next(s for s in statements if "LIMIT 5" in s and "'bvpl'" in s)
    plan = _plan(db, slice_sql, ())
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert plan[0].startswith("SEARCH u USING INDEX urls_site_checked (site=?)"), plan


def _stats_traced(db: Path) -> tuple[StorageStats, list[str]]:
    statements: list[str] = []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.set_trace_callback(statements.append)
        stats = collect_stats(conn, db)
    finally:
        conn.close()
    return stats, statements


async def test_stats_of_a_one_site_store_read_no_table_or_index_whole(tmp_path: Path) -> None:
    """``stats`` by site counted every URL and version (45 ms at 100,000 articles, linear):
    a store of one site takes them from the counters; several sites are still counted."""
    db = tmp_path / "one.db"
    await _corpus(db, 30)
    stats, statements = _stats_traced(db)
    (site,) = stats.sites
    conn = sqlite3.connect(db)
    try:
        chains, versions, current = conn.execute(
            "SELECT sum(id = root_id), count(*), sum(is_current) FROM articles"
        ).fetchone()
        states = dict(conn.execute("SELECT state, count(*) FROM urls GROUP BY state").fetchall())
        for sql in statements:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            assert not any(step.startswith(("SCAN urls", "SCAN articles")) for step in plan), (
                sql,
                plan,
            )
    finally:
        conn.close()
    assert (site.site, site.articles, site.versions, site.current_versions) == (
        "vksndtc",
        chains,
        versions,
        current,
    )
    assert dict(site.urls_by_state) == states
    # a second site's URL: both are counted by site again
    async with await SqliteStore.open(db, StoreConfig(sites=_SITES, checkpoint_every=0)) as store:
        await store.add_urls([NewUrl(_paper_url(1), UrlKind.ARTICLE)])
    stats, _ = _stats_traced(db)
    assert [(s.site, s.versions, dict(s.urls_by_state)) for s in stats.sites] == [
        ("bvpl", 0, {"pending": 1}),
        ("vksndtc", versions, states),
    ]
