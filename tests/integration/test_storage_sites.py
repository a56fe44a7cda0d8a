"""Several sites in one store (#15 point 7): every row says whose it is, article numbers are
unique within a site only, and the readers filter by site. Real SQLite files throughout."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.storage import check_invariants, make_article, make_raw
from vksnd.storage.reader import SqliteReader
from vksnd.storage.records import (
    ExportFilter,
    NewUrl,
    RunCounters,
    RunOutcome,
    StoreOutcome,
    UrlKind,
)
from vksnd.storage.schema import MIGRATIONS, SCHEMA_VERSION
from vksnd.storage.sites import DEFAULT_SITE, SiteMap, SiteNameError
from vksnd.storage.sqlite import SqliteStore, StoreConfig

PORTAL = "https://vksndtc.gov.vn"
PAPER = "https://baovephapluat.vn"
SITES = SiteMap.of(
    {"vksndtc": frozenset({"vksndtc.gov.vn"}), "bvpl": frozenset({"baovephapluat.vn"})}
)
PATH = "/tin-tuc/tin-hoat-dong/bai-viet-so-123-d2-t123.html"  # article number 123 on both


def _config() -> StoreConfig:
    return StoreConfig(sites=SITES, checkpoint_every=0)


async def test_one_article_number_on_two_sites_is_two_articles(tmp_path: Path) -> None:
    """Both URLs carry article key 123: without the site in the key, the second site's
    article became a new version of the first's (same chain, one current text)."""
    db = tmp_path / "two.db"
    portal, paper = PORTAL + PATH, PAPER + PATH
    async with await SqliteStore.open(db, _config()) as store:
        first = await store.store_article(
            make_article(portal, "Bài của cổng thông tin."), make_raw(portal), None, None
        )
        second = await store.store_article(
            make_article(paper, "Bài của báo Bảo vệ pháp luật."), make_raw(paper), None, None
        )
        # the same site's article 123 under a legacy URL still finds its own chain
        legacy = f"{PAPER}/tintuc/Pages/lists.aspx?Cat=2&ItemID=123"
        edit = await store.store_article(
            make_article(legacy, "Bài của báo, đã sửa."), make_raw(legacy), None, None
        )
    assert first.outcome is StoreOutcome.NEW
    assert second.outcome is StoreOutcome.NEW
    assert edit.outcome is StoreOutcome.NEW_VERSION
    check_invariants(db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT site, article_key, is_current FROM articles ORDER BY seq"
        ).fetchall()
        urls = dict(conn.execute("SELECT url, site FROM urls").fetchall())
    assert rows == [("vksndtc", "123", 1), ("bvpl", "123", 0), ("bvpl", "123", 1)]
    assert urls == {portal: "vksndtc", paper: "bvpl", legacy: "bvpl"}


async def test_frontier_runs_and_failures_record_their_site(tmp_path: Path) -> None:
    db = tmp_path / "frontier.db"
    now = datetime.now(UTC)
    async with await SqliteStore.open(db, _config()) as store:
        await store.add_urls(
            [
                NewUrl(PORTAL + "/a-d2-t1.html", UrlKind.ARTICLE),
                NewUrl(PAPER + "/x/y/bai-2.html", UrlKind.ARTICLE),
                NewUrl("http://127.0.0.1:9/elsewhere.html", UrlKind.OTHER),
            ]
        )
        await store.record_failure(PAPER + "/x/y/bai-3.html", "HTTP 503", 503, now)
        run = await store.start_run("crawl", site="bvpl")
        await store.finish_run(run, RunCounters(), outcome=RunOutcome.PARTIAL)
        await store.finish_run(await store.start_run("crawl"), RunCounters(), outcome=RunOutcome.OK)
        due_paper = await store.due_urls(now + timedelta(seconds=1), 10, site="bvpl")
        due_all = await store.due_urls(now + timedelta(seconds=1), 10)
    assert {r.url for r in due_paper} == {PAPER + "/x/y/bai-2.html", PAPER + "/x/y/bai-3.html"}
    assert {r.site for r in due_paper} == {"bvpl"}
    assert len(due_all) == 4
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT url, site FROM urls WHERE url LIKE '%127.0.0.1%'"
        ).fetchall() == [
            ("http://127.0.0.1:9/elsewhere.html", DEFAULT_SITE)  # a host no site names
        ]
        assert conn.execute("SELECT site FROM failures").fetchall() == [("bvpl",)]
        assert conn.execute("SELECT site, outcome FROM runs ORDER BY id").fetchall() == [
            ("bvpl", "partial"),
            ("vksndtc", "ok"),
        ]
    with SqliteReader.open(db) as reader:
        stats = reader.stats()
    assert [run.site for run in stats.last_runs] == ["vksndtc", "bvpl"]
    by_site = {s.site: s for s in stats.sites}
    assert dict(by_site["bvpl"].urls_by_state) == {"pending": 1, "failed": 1}
    assert by_site["bvpl"].last_run_outcome is RunOutcome.PARTIAL
    assert by_site["vksndtc"].last_run_outcome is RunOutcome.OK
    assert stats.as_json()["sites"][0]["site"] == "bvpl"


async def test_export_feed_and_manifest_by_site(tmp_path: Path) -> None:
    db = tmp_path / "export.db"
    async with await SqliteStore.open(db, _config()) as store:
        for n in range(3):
            for base, words in ((PORTAL, "Cổng"), (PAPER, "Báo")):
                url = f"{base}/tin-tuc/bai-{n}-d2-t{n + 1}.html"
                await store.store_article(
                    make_article(url, f"{words} bài số {n}."), make_raw(url), None, None
                )
    with SqliteReader.open(db) as reader:
        paper = list(reader.articles(ExportFilter(site="bvpl")))
        everything = list(reader.articles(ExportFilter()))
        report = reader.export_corpus(tmp_path / "out", ExportFilter(site="bvpl"))
        jsonl = io.StringIO()
        reader.export_jsonl(jsonl, ExportFilter(site="vksndtc"))
    assert [a.site for a in paper] == ["bvpl"] * 3
    assert {a.site for a in everything} == {"vksndtc", "bvpl"} and len(everything) == 6
    assert report.matched == report.written == 3
    files = sorted(p.name for p in (tmp_path / "out").glob("*.txt"))
    assert files == sorted(a.file_name for a in paper)  # NNN_<16 hex>.txt, as before
    manifest = [
        json.loads(line)
        for line in (tmp_path / "out" / "manifest.jsonl").read_text("utf-8").splitlines()
    ]
    assert [entry["site"] for entry in manifest] == ["bvpl"] * 3
    assert {json.loads(line)["site"] for line in jsonl.getvalue().splitlines()} == {"vksndtc"}


def _main_schema_database(db: Path) -> None:
    """A database as main's code (schema version 4) left it, rows written with its columns."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for statement in (s for migration in MIGRATIONS[:4] for s in migration):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        now = "2026-01-02T03:04:05.000000+00:00"
        url = PORTAL + PATH
        conn.execute(
            "INSERT INTO urls (url, kind, state, first_seen_at, article_key, article_id)"
            " VALUES (?, 'article', 'fetched', ?, '123', 1)",
            (url, now),
        )
        conn.execute(
            "INSERT INTO urls (url, kind, state, first_seen_at, reason_class)"
            " VALUES (?, 'article', 'failed', ?, 'server')",
            (PORTAL + "/b-d2-t124.html", now),
        )
        conn.execute(
            "INSERT INTO articles (id, seq, root_id, content_hash, url, canonical_url,"
            " article_key, title, text, captions, images, extractor, is_current, created_at)"
            " VALUES (1, 1, 1, ?, ?, ?, '123', 'Cũ', 'Văn bản cũ.', '[]', '[]', 'vksndtc', 1, ?)",
            ("ab" * 32, url, url, now),
        )
        conn.execute(
            "INSERT INTO article_urls (url, root_id, first_seen_at) VALUES (?, 1, ?)", (url, now)
        )
        conn.execute(
            "INSERT INTO runs (kind, started_at, finished_at, ok, outcome, counters)"
            " VALUES ('crawl', ?, ?, 1, 'ok', '{}')",
            (now, now),
        )
        conn.execute(
            "INSERT INTO failures (url, reason, http_status, permanent, at, reason_class)"
            " VALUES (?, 'HTTP 503', 503, 0, ?, 'server')",
            (PORTAL + "/b-d2-t124.html", now),
        )
        conn.execute(
            "INSERT INTO listing_pages (url, scope, state, updated_at)"
            " VALUES (?, 'cat:2', 'read', ?)",
            (PORTAL + "/tintuc/Pages/lists.aspx?Cat=2", now),
        )
    finally:
        conn.close()


async def test_a_database_of_mains_schema_migrates_and_keeps_its_rows_as_vksndtc(
    tmp_path: Path,
) -> None:
    db = tmp_path / "main.db"
    _main_schema_database(db)
    async with await SqliteStore.open(db, _config()) as store:
        # the old article 123 is still found by its key, in its site...
        edit = await store.store_article(
            make_article(PORTAL + PATH, "Văn bản mới."), make_raw(PORTAL + PATH), None, None
        )
        # ...and the other site's 123 is another article
        other = await store.store_article(
            make_article(PAPER + PATH, "Bài báo."), make_raw(PAPER + PATH), None, None
        )
    assert edit.outcome is StoreOutcome.NEW_VERSION
    assert other.outcome is StoreOutcome.NEW
    check_invariants(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        for table, rows in (
            ("urls", 3),
            ("articles", 3),
            ("runs", 1),
            ("failures", 1),
            ("listing_pages", 1),
        ):
            found = conn.execute(f"SELECT site, count(*) FROM {table} GROUP BY site").fetchall()
            old = rows - (1 if table in ("urls", "articles") else 0)
            expected = [("bvpl", 1), ("vksndtc", old)] if old != rows else [("vksndtc", old)]
            assert sorted(found) == expected, table
        plan = " ".join(
            str(row[3])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM articles"
                " WHERE is_current = 1 AND site = 'bvpl' AND article_key IN ('1', '2')"
            )
        )
    assert "articles_current_key" in plan
    with SqliteReader.open(db) as reader:
        assert {a.site for a in reader.articles(ExportFilter(include_superseded=True))} == {
            "vksndtc",
            "bvpl",
        }


def test_site_names_and_hosts_are_checked() -> None:
    with pytest.raises(SiteNameError, match="site name 'Bad Name'"):
        SiteMap((("a.vn", "Bad Name"),))
    with pytest.raises(ValueError, match="belongs to two sites"):
        SiteMap((("a.vn", "one"), ("a.vn", "two")))
    sites = SiteMap.of({"one": frozenset({"a.vn", "127.0.0.1:8081"})})
    assert sites.site_of("HTTP://A.VN:80/x") == "one"
    assert sites.site_of("http://127.0.0.1:8081/x") == "one"
    assert sites.site_of("http://127.0.0.1:8082/x") == DEFAULT_SITE
    assert sites.names == ("one", DEFAULT_SITE)
