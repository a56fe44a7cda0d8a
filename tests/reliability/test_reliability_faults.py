"""The fault matrix: crawls against a misbehaving replica end with exactly its truth.

Each row runs ``vksnd crawl`` (in-process, real HTTP on loopback, a real SQLite file) against
the replica with one kind of fault, then compares the database with ``/_replica/truth.json``:
every stored article is a truth article, stored once, with the right metadata and text; every
truth article not stored is a URL recorded as failed with its reason; nothing is left pending.
Then the faults stop, the clock "moves on" past the failed URLs' retry time, and one more pass
(the next crawl, or the daemon's retry pass) must end with exactly the truth.

Politeness is lifted and retry waits are tiny (``FAULT_ENV``) so each row takes seconds.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from support.crawl import (
    article_path,
    assert_store_matches,
    cli,
    count,
    current_articles,
    fast_settings,
    site_args,
    subprocess_env,
    truth_articles,
)
from support.reliability import (
    ATTEMPTS,
    FAULT_ENV,
    assert_stored_are_right,
    assert_truth_so_far,
    crawl,
    make_failures_due,
    recover_to_truth,
    unfinished_urls,
    wait_until,
)
from vksnd.crawler.crawl.passes import open_resources, pipeline_config, retry_pass
from vksnd.fixtures.portal import ReplicaServer

MakeReplica = Any


@pytest.fixture
def fault_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, value in FAULT_ENV.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "v.db"


def faults_served(replica: ReplicaServer) -> Counter[str]:
    return Counter(str(r["fault"]) for r in replica.requests() if r["fault"])


@pytest.mark.parametrize(
    ("kinds", "rate"),
    [
        (("500", "503"), 0.2),
        (("reset",), 0.25),
        (("truncate",), 0.25),
        (("stall",), 0.1),
        (("500", "503", "429", "reset", "truncate", "stall", "burst"), 0.25),
    ],
    ids=["5xx-20pct", "resets", "truncated", "stalls", "everything"],
)
def test_transient_faults_lose_nothing(
    make_replica: MakeReplica, fault_env: Path, kinds: tuple[str, ...], rate: float
) -> None:
    replica = make_replica(articles=60, seed=41, redirects=0, page_size=10)
    replica.set_faults(kinds=kinds, rate=rate, stall_s=5.0, retry_after=1)

    crawl(replica, fault_env)

    served = faults_served(replica)
    assert sum(served.values()) >= 5, served
    assert_truth_so_far(fault_env, replica)
    # Four attempts with tiny waits beat a 25% fault rate for nearly every page.
    assert len(unfinished_urls(fault_env)) <= 4, unfinished_urls(fault_env)
    recover_to_truth(fault_env, replica)


def test_a_burst_of_429_is_waited_out_as_told(make_replica: MakeReplica, fault_env: Path) -> None:
    replica = make_replica(articles=40, seed=42, redirects=0)
    # The first 12 page requests all answer 429 with Retry-After: 1 (capped at 0.3 s here).
    replica.set_faults(kinds=("429",), rate=1.0, count=12, retry_after=1)

    crawl(replica, fault_env, "--retry-attempts", "6")

    assert_store_matches(fault_env, truth_articles(replica.truth()))
    log = replica.requests()
    throttled = [r for r in log if r["status"] == 429]
    assert len(throttled) == 12
    for hit in throttled:  # the same path is not asked again before the capped Retry-After
        later = [r["t"] for r in log if r["path"] == hit["path"] and r["t"] > hit["t"]]
        assert later, f"{hit['path']} never asked again"
        assert min(later) - hit["t"] >= 0.25, hit["path"]


def test_wrong_charset_labels_do_not_garble_text(
    make_replica: MakeReplica, fault_env: Path
) -> None:
    replica = make_replica(articles=40, seed=43, redirects=0)
    replica.set_faults(kinds=("wrong_charset",), rate=0.5)
    crawl(replica, fault_env)
    assert faults_served(replica)["wrong_charset"] >= 5
    assert_store_matches(fault_env, truth_articles(replica.truth()))


def test_permanent_faults_are_recorded_then_the_retry_pass_ends_with_the_truth(
    make_replica: MakeReplica, fault_env: Path
) -> None:
    replica = make_replica(articles=40, seed=44, redirects=0)
    victims = truth_articles(replica.truth())[5:8]
    ids = "|".join(str(a["id"]) for a in victims)
    replica.set_faults(kinds=("500", "503"), rate=1.0, path_regex=rf"(t|ItemID=)({ids})\b")

    crawl(replica, fault_env)

    assert assert_truth_so_far(fault_env, replica) == {str(a["id"]) for a in victims}
    errors = {key: error for _, key, error in unfinished_urls(fault_env).values()}
    assert all(errors[str(a["id"])] in ("HTTP 500", "HTTP 503") for a in victims), errors
    replica.clear_faults()

    settings = fast_settings(replica.base_url, fault_env)

    async def one_retry_pass() -> tuple[int, int]:
        async with open_resources(settings, pipeline_config(settings)) as resources:
            counters = (await retry_pass(resources, asyncio.Event())).counters
        return counters.pages_fetched, counters.new_articles

    # Not due yet: the retry pass leaves them alone (their retry time is minutes away).
    assert asyncio.run(one_retry_pass()) == (0, 0)
    assert make_failures_due(fault_env) == len(victims)
    assert asyncio.run(one_retry_pass()) == (len(victims), len(victims))
    assert_store_matches(fault_env, truth_articles(replica.truth()))
    assert count(fault_env, "SELECT count(*) FROM urls WHERE state = 'failed'") == 0


def test_hostile_answers_for_some_articles_are_skipped_with_a_reason(
    make_replica: MakeReplica, fault_env: Path
) -> None:
    """50 MB bodies, gzip bombs, off-site redirects and redirect loops from the replica itself:
    those articles are skipped for good with their reason, everything else is exact."""
    replica = make_replica(articles=40, seed=49, redirects=0)
    victims = truth_articles(replica.truth())[3:9]
    ids = "|".join(str(a["id"]) for a in victims)
    replica.set_faults(
        kinds=("oversize", "gzip_bomb", "offsite_redirect", "redirect_loop"),
        rate=1.0,
        path_regex=rf"(t|ItemID=)({ids})\b",
    )

    crawl(replica, fault_env)

    served = faults_served(replica)
    assert len(served) >= 3, served
    truth = {str(a["id"]): a for a in truth_articles(replica.truth())}
    skipped = {key: (state, error) for state, key, error in unfinished_urls(fault_env).values()}
    for article in victims:
        state, error = skipped[str(article["id"])]
        assert state == "skipped", (article["id"], state)
        assert error and ("larger than" in error or "redirect rejected" in error), error
    want = [a for k, a in truth.items() if k not in {str(v["id"]) for v in victims}]
    assert_store_matches(fault_env, want)
    # Permanent: one request each (a loop is two hops), never retried.
    hits = [r for r in replica.requests() if r["fault"]]
    assert len(hits) <= 2 * len(victims), hits


def test_a_failed_listing_page_is_walked_again_by_the_next_pass(
    make_replica: MakeReplica, fault_env: Path
) -> None:
    replica = make_replica(articles=120, seed=45, redirects=0, page_size=5)
    replica.set_faults(kinds=("500",), rate=1.0, path_regex=r"[?&]Page=3\b")

    crawl(replica, fault_env)

    missing = assert_truth_so_far(fault_env, replica)
    assert missing, "the failing third listing pages hid no article"
    recover_to_truth(fault_env, replica)


def _crawl_subprocess(replica: ReplicaServer, db: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli("crawl", *site_args(replica.base_url, db), *ATTEMPTS, "--host-concurrency", "2"),
        cwd=cwd, env=subprocess_env(**FAULT_ENV), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_pages_edited_while_the_crawl_runs(make_replica: MakeReplica, fault_env: Path) -> None:
    """Edits land mid-crawl: what was read before the edit becomes a version chain next pass."""
    replica = make_replica(articles=60, seed=46, redirects=0, latency_ms=15)
    truth = truth_articles(replica.truth())
    by_path = {article_path(a["canonical_url"]): str(a["id"]) for a in truth}

    def fetched_keys() -> set[str]:
        return {by_path[r["path"]] for r in replica.requests()
                if r["status"] == 200 and r["path"] in by_path}  # fmt: skip

    proc = _crawl_subprocess(replica, fault_env, fault_env.parent)
    try:
        wait_until(lambda: len(fetched_keys()) >= 20)
        read_before = fetched_keys()
        unread = [str(a["id"]) for a in truth if str(a["id"]) not in read_before]
        edited = sorted(read_before)[:5] + unread[-5:]  # read before the edit, and not yet
        for key in edited:
            replica.edit(int(key))
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr

    crawl(replica, fault_env)  # the next pass re-checks recent articles

    after = truth_articles(replica.truth())
    assert_store_matches(fault_env, after)  # every article's latest text, once
    extra_versions = 0
    for key in edited:
        versions = count(
            fault_env, "SELECT count(*) FROM articles WHERE root_id ="
            " (SELECT root_id FROM articles WHERE article_key = ? LIMIT 1)", key,
        )  # fmt: skip
        if key in read_before:
            assert versions == 2, key  # the old text kept, superseded
        else:
            assert versions in (1, 2), key  # read after the edit, or racing it
        extra_versions += versions - 1
    # Articles nobody edited have one version: nothing re-stored, nothing doubled.
    assert count(fault_env, "SELECT count(*) FROM articles") == len(after) + extra_versions


@pytest.mark.slow
def test_listings_shifting_during_a_backfill_miss_nothing_and_double_nothing(
    make_replica: MakeReplica, fault_env: Path
) -> None:
    replica = make_replica(articles=100, seed=47, redirects=0, page_size=5, latency_ms=10)
    before = truth_articles(replica.truth(), date(2000, 1, 1))
    argv = ("backfill", *site_args(replica.base_url, fault_env), *ATTEMPTS,
            "--since", "2000-01-01", "--host-concurrency", "2")  # fmt: skip
    proc = subprocess.Popen(
        cli(*argv), cwd=fault_env.parent, env=subprocess_env(**FAULT_ENV),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    published: list[int] = []
    stop = threading.Event()

    def publish_while_walking() -> None:
        # Each new article pushes every listing's last item onto the next page.
        while not stop.is_set() and len(published) < 30:
            listings = sum(1 for r in replica.requests() if "Page=" in r["path"])
            if listings >= 4 + len(published) // 3:
                published.extend(replica.publish(3))
            stop.wait(0.02)

    publisher = threading.Thread(target=publish_while_walking, daemon=True)
    publisher.start()
    try:
        _, stderr = proc.communicate(timeout=90)
    finally:
        stop.set()
        publisher.join(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert len(published) >= 9, "the backfill ended before the listings shifted"

    stored = [str(a.key) for a in current_articles(fault_env)]
    assert len(stored) == len(set(stored)), "doubled"
    assert {str(a["id"]) for a in before} <= set(stored), "missed"
    truth = {str(a["id"]): a for a in truth_articles(replica.truth())}
    assert_store_matches(fault_env, [truth[k] for k in stored])
    # The articles published behind the walk are the next incremental pass's job.
    crawl(replica, fault_env)
    assert_store_matches(fault_env, truth_articles(replica.truth()))


def test_sigterm_during_a_faulty_crawl_leaves_a_resumable_store(
    make_replica: MakeReplica, fault_env: Path
) -> None:
    replica = make_replica(articles=60, seed=48, redirects=0, latency_ms=10)
    replica.set_faults(kinds=("500", "reset"), rate=0.2)
    proc = _crawl_subprocess(replica, fault_env, fault_env.parent)
    try:
        wait_until(lambda: sum(1 for r in replica.requests() if r["status"] == 200) >= 15)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, stderr  # interrupted by SIGTERM, cleanly
    assert_stored_are_right(fault_env, replica)
    assert count(fault_env, "SELECT count(*) FROM runs WHERE finished_at IS NULL") == 0
    assert count(fault_env, "SELECT count(*) FROM runs WHERE outcome = 'interrupted'") == 1
    recover_to_truth(fault_env, replica)
