"""``vksnd backfill`` against the replica: exactly the truth in range, dry runs, kill and resume."""

from __future__ import annotations

import asyncio
import io
import random
import signal
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from support.crawl import (
    FAST,
    article_hits,
    article_path,
    assert_store_matches,
    cli,
    count,
    current_articles,
    integrity,
    run_command,
    site_args,
    subprocess_env,
    truth_articles,
)
from vksnd.crawler.crawl.backfill import BackfillRequest, BackfillState, report_progress
from vksnd.crawler.crawl.discovery import BackfillPolicy, DiscoveredArticle
from vksnd.fixtures.portal import ReplicaServer
from vksnd.storage.records import NewUrl, UrlKind
from vksnd.storage.sqlite import SqliteStore

MakeReplica = object


def _middle_range(
    replica: ReplicaServer, low: float = 0.25, high: float = 0.75
) -> tuple[date, date]:
    """A range holding the articles between two quantiles of the site's dates."""
    days = sorted(date.fromisoformat(a["published"]) for a in replica.truth()["articles"])
    return days[int(len(days) * low)], days[int(len(days) * high)]


def test_backfill_stores_exactly_the_articles_in_range(
    make_replica: MakeReplica, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    replica = make_replica(articles=120, seed=3, redirects=0, page_size=5)  # type: ignore[operator]
    since, until = _middle_range(replica, 0.5, 0.8)
    db = tmp_path / "v.db"

    code = run_command(
        "backfill", *site_args(replica.base_url, db),
        "--since", since.isoformat(), "--until", until.isoformat(),
    )  # fmt: skip

    assert code == 0
    expected = truth_articles(replica.truth(), since, until)
    assert 20 < len(expected) < 60
    assert_store_matches(db, expected)
    # The walk stopped once below --since: the oldest listing pages were never asked for.
    listing_pages = count(db, "SELECT count(*) FROM urls WHERE kind = 'listing'")
    full_walk = sum(
        -(-len([a for a in replica.truth()["articles"] if a["category"] == c]) // 5)
        for c in {a["category"] for a in replica.truth()["articles"]}
    )
    assert listing_pages < 0.75 * full_walk


def test_backfill_of_one_category_and_rerun_fetches_nothing_again(
    make_replica: MakeReplica, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    replica = make_replica(articles=80, seed=4, redirects=0)  # type: ignore[operator]
    db = tmp_path / "v.db"
    args = (*site_args(replica.base_url, db), "--since", "2000-01-01", "--category", "20")

    assert run_command("backfill", *args) == 0
    expected = [a for a in truth_articles(replica.truth()) if a["category"] == 20]
    assert expected
    assert_store_matches(db, expected)

    replica.clear_requests()
    assert run_command("backfill", *args) == 0
    paths = {article_path(a["canonical_url"]) for a in expected}
    paths |= {article_path(u) for a in expected for u in a["aliases"]}
    assert article_hits(replica.requests(), paths) == {}
    assert_store_matches(db, expected)


def test_dry_run_counts_and_writes_no_article(
    make_replica: MakeReplica, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    replica = make_replica(articles=60, seed=5, broken=0, redirects=0)  # type: ignore[operator]
    since, until = _middle_range(replica)
    db = tmp_path / "v.db"

    code = run_command(
        "backfill", *site_args(replica.base_url, db),
        "--since", since.isoformat(), "--until", until.isoformat(), "--dry-run",
    )  # fmt: skip

    assert code == 0
    out = capsys.readouterr().out
    expected = truth_articles(replica.truth(), since, until)
    # Each article is listed once per site, but some listings link it by an alias: count URLs.
    assert f"{len(expected)} articles to fetch" in out
    assert current_articles(db) == []


@pytest.mark.slow
def test_backfill_killed_at_a_random_moment_then_rerun_ends_with_the_truth(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=150, seed=6, latency_ms=15, redirects=0)  # type: ignore[operator]
    expected = truth_articles(replica.truth(), date(2000, 1, 1))
    db = tmp_path / "v.db"
    argv = ("backfill", *site_args(replica.base_url, db), "--since", "2000-01-01")
    rng = random.Random()
    kill_after = rng.randint(5, len(expected) - 20)

    proc = subprocess.Popen(
        cli(*argv), cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    stored = count(db, "SELECT count(*) FROM articles")
                except Exception:  # the schema may not exist yet
                    stored = 0
                if stored >= kill_after:
                    break
            time.sleep(0.02)  # polling a condition with a deadline
        assert proc.poll() is None, f"backfill ended before the kill: {proc.stderr.read()}"  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = {a.key for a in current_articles(db)}
    assert before, f"killed after {kill_after} stored"

    replica.clear_requests()
    rerun = subprocess.run(
        cli(*argv), cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert_store_matches(db, expected)
    assert integrity(db) == "ok"
    # Nothing stored before the kill was fetched again.
    done = [a for a in expected if str(a["id"]) in {str(k) for k in before}]
    paths = {article_path(a["canonical_url"]) for a in done}
    paths |= {article_path(u) for a in done for u in a["aliases"]}
    assert article_hits(replica.requests(), paths).get(200, 0) == 0, f"kill after {kill_after}"


def test_until_before_since_is_a_usage_error(tmp_path: Path) -> None:
    since = date(2024, 5, 1)
    code = run_command(
        "backfill", "--db", str(tmp_path / "v.db"), *FAST,
        "--since", since.isoformat(), "--until", (since - timedelta(days=1)).isoformat(),
    )  # fmt: skip
    assert code == 2


async def test_undated_items_are_dated_from_their_article_and_decide_the_stop(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "v.db")
    base = "http://127.0.0.1:1/tin-tuc/tin-hoat-dong-vksnd-toi-cao/bai"
    urls = [f"{base}-{n}-d2-t{n}.html" for n in range(1, 7)]
    article_dates = {urls[1]: date(2024, 3, 1), urls[2]: date(2023, 1, 1), urls[4]: None}
    asked: list[str] = []

    async def resolve(item: DiscoveredArticle) -> date | None:
        asked.append(item.url)
        return article_dates[item.url]

    try:
        await store.add_urls(NewUrl(u, UrlKind.ARTICLE) for u in urls)
        await store.record_failure(urls[5], "HTTP 404", 404, None, permanent=True)  # gone
        policy = BackfillPolicy(store, date(2024, 1, 1), date(2024, 12, 31), resolve)
        page = [
            DiscoveredArticle(urls[0], date(2024, 6, 1), 2),  # dated, in range: fetch
            DiscoveredArticle(urls[1], None, 2),  # undated, in range: stored while dating it
            DiscoveredArticle(urls[2], None, 2),  # undated, older
            DiscoveredArticle(urls[3], date(2023, 5, 1), 2),  # dated, older
        ]
        wanted, stop = await policy.triage(page)
        assert [i.url for i in wanted] == [urls[0]]
        assert not stop
        assert asked == [urls[1], urls[2]]

        older = [
            DiscoveredArticle(urls[2], None, 2),
            DiscoveredArticle(urls[3], date(2023, 5, 1), 2),
        ]
        asked.clear()
        wanted, stop = await policy.triage(older)
        assert wanted == [] and stop  # every item older than --since (one dated by its page)
        assert asked == []  # dates learned once are remembered

        unknown = [DiscoveredArticle(urls[4], None, 2), DiscoveredArticle(urls[5], None, 2)]
        wanted, stop = await policy.triage(unknown)
        assert wanted == [] and not stop  # a date we cannot learn never stops the walk
        assert urls[5] not in asked  # the gone article is not fetched again to date it
    finally:
        await store.close()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream_type", [io.StringIO, _Terminal])
async def test_progress_counts_articles_and_the_walk_on_a_terminal_and_elsewhere(
    stream_type: type[io.StringIO],
) -> None:
    state = BackfillState.of(BackfillRequest(date(2024, 1, 1), date(2024, 12, 31)))
    counters = state.report.counters
    counters.listing_pages, counters.listing_failures = 3, 1
    counters.pages_fetched, counters.new_articles, counters.failures = 10, 9, 2
    state.planned = 15
    stream = stream_type()
    stop = asyncio.Event()
    reporter = asyncio.create_task(report_progress(state, stream, stop))
    await asyncio.sleep(0)
    state.done = True
    stop.set()
    await reporter
    out = stream.getvalue()
    assert "articles found 15, stored 9, duplicate 0, failed 2, skipped 0, gone 0, 3 to go" in out
    assert "listing pages 3 read, 1 failed" in out
    assert "100%" not in out  # how the run ended is the command's last line, not a percentage
    if stream_type is _Terminal:
        assert "articles 12/15 |" in out and "listings |" in out and "\r" in out  # two bars
    else:
        assert out.startswith("backfill: articles found 15") and "\r" not in out
