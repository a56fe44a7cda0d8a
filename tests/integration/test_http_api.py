"""The daemon's HTTP side over real HTTP: feed, article text, health, metrics, validation.

The database is filled by real crawls of the replica (a first pass, then edits and a second pass,
so the feed holds superseded versions too) and read back with plain ``sqlite3`` for the
assertions. The last test runs ``vksnd run --http`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from prometheus_client.parser import text_string_to_metric_families

from support.crawl import cli, run_command, site_args, subprocess_env, truth_articles
from support.storage import Readers
from vksnd.crawler.cli.main import build_parser
from vksnd.crawler.config import PolitenessConfig, RetryConfig, Settings
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.passes import CrawlResources
from vksnd.crawler.fetch.errors import PermanentFetchError
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.crawler.service.daemon import Daemon, Schedule
from vksnd.crawler.service.health import Health
from vksnd.crawler.service.http_api import (
    MAX_LIMIT,
    MAX_SEQ,
    BadParameter,
    HttpApi,
    HttpBindError,
    feed_query,
    parse_bind,
    read_stats,
)
from vksnd.crawler.service.metrics import Metrics
from vksnd.crawler.service.monitor import PassMonitor
from vksnd.fixtures.portal import ReplicaServer, replica_config
from vksnd.storage.records import RunCounters, RunOutcome

MakeReplica = Any


def _versions(db: Path) -> list[tuple[int, str, int]]:
    """(seq, text, is_current) of every stored version, straight from SQLite."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT seq, text, is_current FROM articles ORDER BY seq").fetchall()
    return [(int(s), str(t), int(c)) for s, t, c in rows]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A database after a first crawl, two edits on the replica and a second crawl."""
    root = tmp_path_factory.mktemp("crawled")
    db = root / "v.db"
    server = ReplicaServer(replica_config(articles=30, seed=61, redirects=0)).start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(root)
            patch.setenv("VKSND_RECHECK_DAYS", "36500")  # every article is re-checked
            args = site_args(server.base_url, db)
            assert run_command("crawl", *args) == 0
            ids = [a["id"] for a in truth_articles(server.truth())]
            server.edit(ids[0])
            server.edit(ids[3])
            assert run_command("crawl", *args) == 0
    finally:
        server.stop()
    assert server.errors == []
    yield db


@pytest.fixture
async def api(crawled: Path) -> Any:
    health = Health(timedelta(minutes=30))
    server = HttpApi(Readers(crawled), Metrics(), health)
    host, port = await server.start("127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
        yield client
    await server.stop()


async def test_feed_pages_through_every_version_exactly_once(
    api: httpx.AsyncClient, crawled: Path
) -> None:
    stored = _versions(crawled)
    assert len(stored) >= 32 and any(current == 0 for _, _, current in stored)  # edits kept
    seen: list[dict[str, Any]] = []
    cursor, pages = 0, 0
    while True:
        response = await api.get("/articles", params={"after_seq": cursor, "limit": 7})
        assert response.status_code == 200
        page = response.json()
        pages += 1
        assert page["count"] == len(page["articles"]) <= 7
        seen.extend(page["articles"])
        if not page["has_more"]:
            break
        assert page["next_after_seq"] > cursor
        cursor = page["next_after_seq"]
    assert pages == -(-len(stored) // 7)
    assert [a["seq"] for a in seen] == [seq for seq, _, _ in stored]  # all, once, in order
    assert [a["text"] for a in seen] == [text for _, text, _ in stored]
    assert [a["is_current"] for a in seen] == [bool(c) for _, _, c in stored]
    edits = [a for a in seen if a["supersedes"]]
    assert len(edits) == 2 and all(a["is_current"] for a in edits)
    first = seen[0]
    assert first["canonical_url"].startswith("http") and first["title"] and first["content_hash"]
    assert first["file"] == f"{first['seq']:03d}_{first['content_hash'][:16]}.txt"
    # Past the end: an empty page whose cursor stays put.
    last = seen[-1]["seq"]
    end = (await api.get("/articles", params={"after_seq": last})).json()
    assert end["articles"] == [] and end["next_after_seq"] == last and end["has_more"] is False


async def test_article_text_by_seq(api: httpx.AsyncClient, crawled: Path) -> None:
    stored = _versions(crawled)
    seq, text, _ = stored[len(stored) // 2]
    response = await api.get(f"/articles/{seq}.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == text.encode("utf-8")
    with sqlite3.connect(f"file:{crawled}?mode=ro", uri=True) as conn:
        (digest,) = conn.execute(
            "SELECT content_hash FROM articles WHERE seq = ?", (seq,)
        ).fetchone()
    assert response.headers["etag"] == f'"{digest}"'
    missing = await api.get(f"/articles/{stored[-1][0] + 1000}.txt")
    assert missing.status_code == 404 and "no article version" in missing.json()["error"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/articles?after_seq=-1", "after_seq"),
        ("/articles?after_seq=abc", "after_seq"),
        ("/articles?after_seq=1.5", "after_seq"),
        ("/articles?after_seq=1e3", "after_seq"),
        ("/articles?after_seq=%201", "after_seq"),
        ("/articles?after_seq=99999999999999999999", "after_seq"),
        ("/articles?limit=0", "limit"),
        ("/articles?limit=ten", "limit"),
        ("/articles?limit=", "limit"),
        ("/articles?after=3", "after"),
        ("/articles?limit=5&limit=6", "limit"),
        ("/articles/abc.txt", "seq"),
        ("/articles/0.txt", "seq"),
        ("/articles/-3.txt", "seq"),
    ],
)
async def test_bad_input_gets_400_with_a_message(
    api: httpx.AsyncClient, path: str, parameter: str
) -> None:
    response = await api.get(path)
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == parameter and parameter in body["error"]


async def test_limits_are_capped_and_the_api_is_read_only(api: httpx.AsyncClient) -> None:
    page = (await api.get("/articles", params={"limit": 100000})).json()
    assert page["limit"] == MAX_LIMIT
    default = (await api.get("/articles")).json()
    assert default["after_seq"] == 0 and default["limit"] == 100
    for method in ("POST", "PUT", "DELETE"):
        response = await api.request(method, "/articles")
        assert response.status_code == 405 and response.json()["error"]
    unknown = await api.get("/nope")
    assert unknown.status_code == 404 and unknown.json()["path"] == "/nope"


def _families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict[str, Any], name: str, **labels: str) -> float:
    for sample in families[name].samples:
        if sample.name in (name, f"{name}_total") and sample.labels == labels:
            return float(sample.value)
    raise AssertionError(f"no sample {name}{labels}")


async def test_metrics_parse_and_come_from_the_counters(crawled: Path) -> None:
    replica = ReplicaServer(replica_config(articles=5, seed=62, redirects=0)).start()
    # one article answers 503 once: one retry, so the retries counter has something to show
    replica.set_faults(kinds=("503",), rate=1.0, count=1, path_regex=r"-t\d+")
    try:
        fast = PolitenessConfig(rate=1000.0, slowdown_seconds=0.0)
        no_wait = RetryConfig(initial=0.0, max_wait=0.0, jitter=0.0)
        settings = Settings(base_url=replica.base_url, db=crawled, politeness=fast, retry=no_wait)
        metrics = Metrics()
        async with Fetcher(settings) as fetcher:
            metrics.watch_fetcher(fetcher.stats)
            for article in truth_articles(replica.truth())[:3]:
                await fetcher.fetch(article["canonical_url"])
            with pytest.raises(PermanentFetchError):
                await fetcher.fetch(replica.base_url + "/tin-tuc/khong-co-bai-nay-d2-t999999.html")
        metrics.record_pass(
            "crawl", RunOutcome.PARTIAL, duration_s=2.5, finished_at=1_700_000_000.0,
            counters=RunCounters(pages_fetched=9, new_articles=5, new_versions=2, duplicates=1,
                                 failures=3, parse_fallbacks=4, listing_failures=1),
        )  # fmt: skip
        metrics.record_pass(
            "retry", RunOutcome.FAILED, duration_s=0.5, counters=None, finished_at=0.0
        )
        server = HttpApi(Readers(crawled), metrics, Health(timedelta(minutes=30)))
        host, port = await server.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(f"http://{host}:{port}/metrics")
        finally:
            await server.stop()
    finally:
        replica.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = _families(response.text)
    assert families["vksnd_fetch_responses"].type == "counter"
    stats = fetcher.stats
    assert (
        _value(families, "vksnd_fetch_responses", status_class="2xx")
        == stats.by_status_class["2xx"]
        >= 4
    )  # robots.txt + three articles
    assert _value(families, "vksnd_fetch_responses", status_class="4xx") == 1
    assert _value(families, "vksnd_fetch_bytes") == stats.bytes_received > 0
    assert _value(families, "vksnd_fetch_retries") == stats.retries == 1
    assert _value(families, "vksnd_fetch_responses", status_class="5xx") == 1
    assert _value(families, "vksnd_articles_stored") == 5
    assert _value(families, "vksnd_versions_stored") == 2
    assert _value(families, "vksnd_duplicates") == 1
    assert _value(families, "vksnd_parse_fallbacks") == 4
    assert _value(families, "vksnd_passes", kind="crawl", outcome="partial") == 1
    assert _value(families, "vksnd_passes", kind="retry", outcome="failed") == 1
    assert _value(families, "vksnd_listing_failures") == 1
    duration = families["vksnd_pass_duration_seconds"]
    assert duration.type == "histogram"
    assert {s.value for s in duration.samples if s.name.endswith("_sum")} == {2.5, 0.5}
    assert _value(families, "vksnd_last_successful_pass_timestamp_seconds") == 1_700_000_000
    # From the database: frontier by state, versions, failures by reason.
    with sqlite3.connect(f"file:{crawled}?mode=ro", uri=True) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM urls GROUP BY state").fetchall())
        versions = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        reasons = dict(
            conn.execute("SELECT reason, count(*) FROM failures GROUP BY reason").fetchall()
        )
    for state, n in states.items():
        assert _value(families, "vksnd_frontier_urls", state=state) == n
    assert _value(families, "vksnd_db_versions") == versions
    assert _value(families, "vksnd_database_up") == 1
    for reason, n in reasons.items():
        assert _value(families, "vksnd_failures", reason=reason) == n
    # A registry per Metrics: nothing leaks into the process-global default registry.
    assert not any(m.name.startswith("vksnd") for m in prometheus_client.REGISTRY.collect())
    fresh = _families(Metrics().render().decode())
    assert "vksnd_articles_stored" in fresh and _value(fresh, "vksnd_articles_stored") == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_healthz_follows_the_passes(crawled: Path, tmp_path: Path) -> None:
    clock = FakeClock()
    health = Health(timedelta(minutes=10), clock=clock)
    server = HttpApi(Readers(crawled), Metrics(), health)
    host, port = await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:

            async def check(code: int, status: str) -> dict[str, Any]:
                response = await client.get("/healthz")
                body: dict[str, Any] = response.json()
                assert (response.status_code, body["status"]) == (code, status)
                return body

            body = await check(200, "starting")
            assert body["last_success"] is None and body["database"]["state"] == "ok"
            assert body["database"]["versions"] == len(_versions(crawled))
            assert body["reasons"] == []
            clock.now += timedelta(minutes=31)  # 3 intervals without a success
            body = await check(503, "degraded")
            assert [r["code"] for r in body["reasons"]] == ["stale"]
            health.record_pass("crawl", RunOutcome.OK, duration_s=3.0)
            body = await check(200, "ok")
            assert body["last_success"] == clock.now.isoformat(timespec="seconds")
            clock.now += timedelta(minutes=5)
            # A failed crawl pass: degraded, and last_success stays where it was.
            health.record_pass("crawl", RunOutcome.FAILED, duration_s=1.0, reason="disk full")
            body = await check(503, "degraded")
            assert body["last_crawl_pass"]["outcome"] == "failed"
            assert body["reasons"] == [
                {"code": "last_pass_failed", "message": "the last crawl pass failed: disk full"}
            ]
            assert body["last_success"] == (clock.now - timedelta(minutes=5)).isoformat(
                timespec="seconds"
            )
            # A partial pass did its work; a retry pass failing on a few URLs is no alarm.
            health.record_pass("crawl", RunOutcome.PARTIAL, duration_s=3.0, failures=2)
            health.record_pass("retry", RunOutcome.FAILED, duration_s=1.0, failures=3)
            await check(200, "ok")
            # ...but one that leaves health_max_failures (25) pages failed is.
            health.record_pass("retry", RunOutcome.FAILED, duration_s=1.0, failures=25)
            body = await check(503, "degraded")
            assert [r["code"] for r in body["reasons"]] == ["failures"]
            health.record_pass("retry", RunOutcome.OK, duration_s=1.0)
            # The export folder cannot be written: degraded until an export works again.
            health.record_export(ok=False, error="not writable (Read-only file system): /x")
            body = await check(503, "degraded")
            assert (
                body["export"]["state"] == "error" and "Read-only" in body["reasons"][0]["message"]
            )
            health.record_export(ok=True)
            await check(200, "ok")
            clock.now += timedelta(minutes=29)
            await check(200, "ok")
            clock.now += timedelta(minutes=2)
            body = await check(503, "degraded")
            assert [r["code"] for r in body["reasons"]] == ["stale"]
    finally:
        await server.stop()
    # A database that cannot be read is unhealthy too.
    broken = HttpApi(Readers(tmp_path / "missing.db"), Metrics(), Health(timedelta(minutes=10)))
    host, port = await broken.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"http://{host}:{port}/healthz")
            feed = await client.get(f"http://{host}:{port}/articles")
            metrics = await client.get(f"http://{host}:{port}/metrics")
    finally:
        await broken.stop()
    assert response.status_code == 503 and response.json()["database"]["state"] == "error"
    assert response.json()["reasons"][0]["code"] == "database"
    assert feed.status_code == 503 and "database" in feed.json()["error"]
    assert _value(_families(metrics.text), "vksnd_database_up") == 0


def test_a_long_pass_is_healthy_while_the_database_moves(crawled: Path) -> None:
    """A first crawl can outlast the stale window: running + progress is healthy; a running
    pass whose database stopped moving for an interval is stale."""
    stats, error = read_stats(Readers(crawled))
    assert stats is not None and error is None
    clock = FakeClock()
    health = Health(timedelta(minutes=10), clock=clock)
    assert health.report(stats, None).status == "starting"
    health.record_start("crawl")
    clock.now += timedelta(minutes=31)  # past 3 intervals, no pass finished yet
    stale = health.report(stats, None)  # running, but nothing moved
    assert stale.status == "degraded" and [r.code for r in stale.reasons] == ["stale"]
    moved = dataclasses.replace(stats, versions=stats.versions + 5)
    report = health.report(moved, None)
    assert (report.healthy, report.status) == (True, "running")
    assert report.body["running"]["kind"] == "crawl"
    assert report.body["last_progress"] == clock.now.isoformat(timespec="seconds")
    clock.now += timedelta(minutes=9)
    assert health.report(moved, None).status == "running"  # moved within the interval
    clock.now += timedelta(minutes=2)
    assert health.report(moved, None).status == "degraded"  # no change for over an interval
    health.record_pass("crawl", RunOutcome.OK, duration_s=2520.0)
    report = health.report(moved, None)
    assert report.status == "ok" and report.body["running"] is None
    # Progress without a pass running (another writer on the file) is no sign of life.
    clock.now += timedelta(minutes=31)
    grown = dataclasses.replace(moved, versions=moved.versions + 1)
    assert health.report(grown, None).status == "degraded"


async def test_healthz_and_metrics_share_one_snapshot_until_a_pass_ends(
    crawled: Path, tmp_path: Path
) -> None:
    """The storage totals scan the archive: requests reuse one snapshot (one read for a burst
    of concurrent requests), and a finished pass makes the next request read again."""
    health = Health(timedelta(minutes=30))
    readers = Readers(crawled)
    server = HttpApi(readers, Metrics(), health)
    host, port = await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            burst = await asyncio.gather(
                *(client.get("/healthz") for _ in range(6)), client.get("/metrics")
            )
            assert [r.status_code for r in burst] == [200] * 7
            assert readers.opened == 1
            articles = {r.json()["database"]["articles"] for r in burst[:6]}
            assert len(articles) == 1 and articles.pop() > 0
            health.record_pass("crawl", RunOutcome.OK, duration_s=1.0)
            await client.get("/metrics")
            await client.get("/healthz")
            assert readers.opened == 2
    finally:
        await server.stop()
    # With no time to live every request reads the database again.
    readers = Readers(crawled)
    fresh = HttpApi(readers, Metrics(), Health(timedelta(minutes=30)), stats_ttl=0.0)
    host, port = await fresh.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            for _ in range(3):
                assert (await client.get("/healthz")).status_code == 200
        assert readers.opened == 3
    finally:
        await fresh.stop()


async def test_monitor_refreshes_the_export_after_good_passes(
    crawled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "corpus"
    monitor = PassMonitor(
        Metrics(), Health(timedelta(minutes=5)), open_reader=Readers(crawled), export_dir=out
    )
    failed = RunReport("crawl", outcome=RunOutcome.FAILED, reason="RuntimeError: x")
    await monitor.pass_finished(failed, duration_s=1, error=RuntimeError("x"))
    assert not out.exists()  # a pass that raised leaves the folder alone
    await monitor.pass_finished(RunReport("crawl", outcome=RunOutcome.OK), duration_s=1)
    current = {(seq, text) for seq, text, c in _versions(crawled) if c}
    files = sorted(out.glob("*.txt"))
    assert {(int(p.name.split("_")[0]), p.read_text(encoding="utf-8")) for p in files} == current
    assert len((out / "manifest.jsonl").read_text().splitlines()) == len(current)
    report = await monitor.refresh_export()
    assert report is not None and report.written == 0 and report.skipped == len(current)


async def test_a_taken_port_is_a_typed_error(crawled: Path) -> None:
    first = HttpApi(Readers(crawled), Metrics(), Health(timedelta(minutes=5)))
    host, port = await first.start("127.0.0.1", 0)
    try:
        second = HttpApi(Readers(crawled), Metrics(), Health(timedelta(minutes=5)))
        with pytest.raises(HttpBindError) as caught:
            await second.start(host, port)
        assert caught.value.port == port and f"127.0.0.1:{port}" in str(caught.value)
    finally:
        await first.stop()


async def test_an_export_that_fails_is_counted_not_fatal(crawled: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "corpus"
    blocker.write_text("a file where the folder should be")
    metrics = Metrics()
    monitor = PassMonitor(
        metrics, Health(timedelta(minutes=5)), open_reader=Readers(crawled), export_dir=blocker
    )
    done = RunReport("crawl", RunCounters(new_articles=1), outcome=RunOutcome.OK)
    await monitor.pass_finished(done, duration_s=1)
    families = _families(metrics.render().decode())
    assert _value(families, "vksnd_exports", outcome="failed") == 1
    assert _value(families, "vksnd_articles_stored") == 1  # the pass itself was recorded
    assert monitor.health.last_pass is not None and monitor.health.last_pass.ok
    report = monitor.health.report(None, None)  # ...and the folder's trouble is a health one
    assert "export" in [r.code for r in report.reasons] and not report.healthy


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["after_seq", "limit", "x", "Limit"]), st.text(max_size=25)),
        max_size=4,
    )
)
def test_feed_query_accepts_or_names_the_bad_parameter(pairs: list[tuple[str, str]]) -> None:
    query = MultiDict(pairs)
    try:
        after_seq, limit = feed_query(query)
    except BadParameter as exc:
        assert exc.name in query and exc.name in str(exc)
        return
    assert 0 <= after_seq <= MAX_SEQ and 1 <= limit <= MAX_LIMIT
    assert set(query) <= {"after_seq", "limit"}
    assert after_seq == int(query.get("after_seq", "0"))


@given(st.text(max_size=30))
def test_bind_parsing_is_total(text: str) -> None:
    try:
        host, port = parse_bind(text)
    except ValueError:
        return
    assert 0 <= port <= 65535 and host


def test_bind_addresses() -> None:
    assert parse_bind("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_bind(":9000") == ("127.0.0.1", 9000)
    assert parse_bind("9000") == ("127.0.0.1", 9000)
    assert parse_bind("[::1]:8787") == ("::1", 8787)
    assert parse_bind("localhost:0") == ("localhost", 0)
    for bad in ("", "host", "host:", "1.2.3.4:70000", "::1:80", "h:p"):
        with pytest.raises(ValueError):
            parse_bind(bad)


async def test_the_daemon_reports_each_pass_to_the_monitor(crawled: Path, tmp_path: Path) -> None:
    """Daemon._job with pass functions that fail or count: what health and metrics then say."""
    metrics = Metrics()
    out = tmp_path / "corpus"
    monitor = PassMonitor(
        metrics, Health(timedelta(minutes=5)), open_reader=Readers(crawled), export_dir=out
    )
    schedule = Schedule(timedelta(minutes=5), timedelta(0), timedelta(minutes=5))
    daemon = Daemon(cast(CrawlResources, None), schedule, asyncio.Event(), monitor)

    async def failing(
        resources: CrawlResources, stop: asyncio.Event, report: RunReport
    ) -> RunReport:
        report.outcome, report.reason = RunOutcome.FAILED, "RuntimeError: listing markup changed"
        raise RuntimeError("listing markup changed")

    async def counting(
        resources: CrawlResources, stop: asyncio.Event, report: RunReport
    ) -> RunReport:
        report.counters = RunCounters(pages_fetched=4, new_articles=3, parse_fallbacks=2)
        report.outcome = RunOutcome.OK
        return report

    await daemon._job("crawl", failing)
    report = monitor.health.report(None, "not read")
    assert monitor.health.last_pass is not None and not monitor.health.last_pass.ok
    assert "listing markup changed" in str(monitor.health.last_pass.reason)
    assert not report.healthy and not out.exists()  # no export after a failed pass
    await daemon._job("retry", counting)
    families = _families(metrics.render().decode())
    assert _value(families, "vksnd_passes", kind="crawl", outcome="failed") == 1
    assert _value(families, "vksnd_passes", kind="retry", outcome="ok") == 1
    assert _value(families, "vksnd_articles_stored") == 3
    assert _value(families, "vksnd_parse_fallbacks") == 2
    assert monitor.health.last_success is None  # a retry pass is not the daemon's crawl
    assert any(out.glob("*.txt"))
    assert daemon.passes_ok == 1  # the retry pass; the failed one is not counted


def test_run_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["run"]).http_bind is None  # off unless asked
    assert parser.parse_args(["run", "--http"]).http_bind == "127.0.0.1:8787"  # loopback
    args = parser.parse_args(["run", "--http", "--export-dir", "out"])
    assert args.http_bind == "127.0.0.1:8787" and args.export_dir == Path("out")
    db = tmp_path / "v.db"
    assert run_command("run", "--db", str(db), "--http", "nowhere") == 2
    assert "--http" in capsys.readouterr().err and not db.exists()  # refused before starting


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def _poll(proc: subprocess.Popen[bytes], url: str, done: Any, timeout: float) -> httpx.Response:
    """GET ``url`` until ``done(response)``; fails at the deadline or if the daemon exits."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the daemon exited with {proc.returncode}"
        response = _get(url)
        if response is not None and done(response):
            return response
        assert time.monotonic() < deadline, f"{url}: not ready in {timeout}s"
        time.sleep(0.1)  # polling with a deadline


def _page_all(base: str, limit: int) -> list[dict[str, Any]]:
    articles: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = httpx.get(f"{base}/articles", params={"after_seq": cursor, "limit": limit}).json()
        articles.extend(page["articles"])
        cursor = page["next_after_seq"]
        if not page["has_more"]:
            return articles


def test_vksnd_run_serves_health_metrics_and_feed(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=25, seed=63, redirects=0)
    truth = {a["text"] for a in truth_articles(replica.truth())}
    db, export, log_path = tmp_path / "v.db", tmp_path / "corpus", tmp_path / "log.jsonl"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            cli("run", *site_args(replica.base_url, db), "--interval", "1h", "--jitter", "0",
                "--http", f"127.0.0.1:{port}", "--export-dir", str(export),
                "--log-format", "json"),
            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
        try:
            health = _poll(proc, f"{base}/healthz", lambda r: r.json()["last_success"], 60)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.json()["database"]["state"] == "ok"
            assert health.json()["database"]["articles"] == len(truth)
            metrics = _families(httpx.get(f"{base}/metrics").text)
            assert _value(metrics, "vksnd_articles_stored") == len(truth)
            assert _value(metrics, "vksnd_fetch_responses", status_class="2xx") > len(truth)
            assert _value(metrics, "vksnd_passes", kind="crawl", outcome="ok") == 1
            assert _value(metrics, "vksnd_frontier_urls", state="fetched") >= len(truth)
            assert _value(metrics, "vksnd_exports", outcome="ok") == 1
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                (generic,) = conn.execute(
                    "SELECT count(*) FROM articles WHERE extractor NOT LIKE 'profile:%'"
                ).fetchone()
            assert _value(metrics, "vksnd_parse_fallbacks") == generic > 0
            articles = _page_all(base, limit=4)
            seqs = [a["seq"] for a in articles]
            assert seqs == sorted(set(seqs)) and len(seqs) == len(truth)
            assert {a["text"] for a in articles} == truth
            text = httpx.get(f"{base}/articles/{seqs[-1]}.txt").text
            assert text == articles[-1]["text"]
            exported = {p.read_text(encoding="utf-8") for p in export.glob("*.txt")}
            assert exported == truth  # the folder was refreshed after the pass
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 143  # stopped by SIGTERM, as every command
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert _get(f"{base}/healthz") is None  # the server went away with the daemon
    events = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    kinds = [e["event"] for e in events]
    assert "http_start" in kinds and "export" in kinds and "http_stop" in kinds
    assert kinds.index("http_stop") > kinds.index("crawl_pass")
