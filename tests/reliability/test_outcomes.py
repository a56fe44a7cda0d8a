"""Issue #14: every run knows what it missed, says so, and never calls a failure "ok".

Each test is one of the issue's numbered failures, measured on b2de816 and quoted in its
docstring; all run the real commands against the replica (or a closed port) and read the
database with plain ``sqlite3``.
"""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.crawl import (
    assert_store_matches,
    cli,
    count,
    current_articles,
    json_lines,
    run_cli,
    site_args,
    subprocess_env,
    truth_articles,
    wait_for_events,
)
from support.daemon import closed_port, poll_http
from support.reliability import FAULT_ENV, make_failures_due, stop_process, stored_count, wait_until
from vksnd.parsers.article import parse_article

MakeReplica = Any
PROVINCIAL_LISTING = "/chuyen-muc/tin-tuc-su-kien?trang={page}&c={cat}"


def json_events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def last_run(db: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return dict(row)


def stats_json(db: Path, cwd: Path) -> dict[str, Any]:
    done = run_cli("stats", "--db", str(db), "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def listing_articles(replica: Any, category: int, page: int) -> set[str]:
    """The ids of the articles a listing page shows (from the replica's truth: newest first)."""
    size = replica.site_info()["page_size"]
    in_category = [a for a in replica.truth()["articles"] if a["category"] == category]
    in_category.sort(key=lambda a: (a["published"], a["id"]), reverse=True)
    return {str(a["id"]) for a in in_category[(page - 1) * size : page * size]}


def pass_event(stderr: str, kind: str) -> dict[str, Any]:
    (event,) = [e for e in json_events(stderr) if e["event"] == f"{kind}_pass"]
    return event


# --- 1. Failure reported as success -----------------------------------------------------------


def test_1_a_crawl_of_a_dead_portal_fails_everywhere_it_is_reported(tmp_path: Path) -> None:
    """b2de816: exit 0, "crawl pass finished: listing pages 0, pages fetched 0 … failures 5 …
    outcome=ok"; the run table said ok=1; stats listed the run as ok."""
    db = tmp_path / "v.db"
    dead = f"http://127.0.0.1:{closed_port()}"
    done = run_cli(
        "crawl", *site_args(dead, db), "--retry-attempts", "1", "--log-format", "json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("crawl: failed"), done.stdout
    summary = pass_event(done.stderr, "crawl")
    assert summary["outcome"] == "failed" and summary["level"] == "warning"
    assert "nothing could be fetched" in summary["reason"]
    assert last_run(db)["outcome"] == "failed" and last_run(db)["ok"] == 0
    (run,) = stats_json(db, tmp_path)["last_runs"]
    assert run["outcome"] == "failed"
    # An unreachable site is worded as one, not as a robots.txt problem.
    assert "robots" not in done.stdout + done.stderr


def test_1_a_backfill_of_a_dead_portal_fails_and_does_not_say_100_percent(tmp_path: Path) -> None:
    """b2de816: "backfill: 100.0% … fetched 0", exit 0."""
    db = tmp_path / "v.db"
    dead = f"http://127.0.0.1:{closed_port()}"
    done = run_cli(
        "backfill", *site_args(dead, db), "--retry-attempts", "1", "--since", "2024-01-01",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "100.0%" not in done.stderr
    assert done.stdout.startswith("backfill: failed"), done.stdout
    assert last_run(db)["outcome"] == "failed"


def test_1_every_page_answering_500_fails_the_crawl(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: exit 0, outcome=ok with every listing page failed."""
    replica = make_replica(articles=20, seed=81, redirects=0)
    replica.set_faults(kinds=("500",), rate=1.0)
    db = tmp_path / "v.db"
    done = run_cli("crawl", *site_args(replica.base_url, db), "--retry-attempts", "1", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("crawl: failed")
    assert last_run(db)["outcome"] == "failed"


def test_1_a_mistyped_category_fails_the_backfill(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: ``--category 999`` got a 404 and exited 0."""
    replica = make_replica(articles=20, seed=82, redirects=0)
    db = tmp_path / "v.db"
    done = run_cli(
        "backfill", *site_args(replica.base_url, db), "--since", "2000-01-01",
        "--category", "999", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("backfill: failed")
    assert "no category 999" in last_run(db)["reason"]  # named by the profile (#15)


def test_1_listings_without_article_links_fail_the_crawl(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: a portal whose listings hold no recognisable article links gave "stored 0,
    failed 0", exit 0, and no warning at all."""
    replica = make_replica(articles=20, seed=83, variant="chuyen-muc")
    db = tmp_path / "v.db"
    done = run_cli(
        "crawl", *site_args(replica.base_url, db), cwd=tmp_path,
        VKSND_LISTING_URL_TEMPLATE=PROVINCIAL_LISTING,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no article links" in done.stdout
    assert last_run(db)["outcome"] == "failed"


def test_1_one_failing_article_makes_the_crawl_partial(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=20, seed=84, redirects=0)
    victim = replica.truth()["articles"][4]["id"]
    replica.set_faults(kinds=("503",), rate=1.0, path_regex=rf"-t{victim}\.html")
    db = tmp_path / "v.db"
    done = run_cli("crawl", *site_args(replica.base_url, db), "--retry-attempts", "1", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("crawl: partial")
    assert "failures 1" in done.stdout
    assert last_run(db)["outcome"] == "partial"


@pytest.mark.parametrize("extra", [(), ("--retry-attempts", "1")])
def test_1_a_healthy_crawl_is_ok(
    make_replica: MakeReplica, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    replica = make_replica(articles=20, seed=85, redirects=0)
    db = tmp_path / "v.db"
    done = run_cli("crawl", *site_args(replica.base_url, db), *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("crawl: ok")
    assert last_run(db)["outcome"] == "ok"


@pytest.mark.slow
def test_1_the_daemon_against_a_portal_answering_500_is_degraded(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: /healthz stayed 200 "ok", last_success advanced and
    vksnd_passes_total{outcome="ok"} counted passes next to 15 failures."""
    replica = make_replica(articles=20, seed=86, redirects=0)
    replica.set_faults(kinds=("500",), rate=1.0)
    port = closed_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "log.jsonl"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            cli("run", *site_args(replica.base_url, tmp_path / "v.db"), "--retry-attempts", "1",
                "--interval", "1h", "--jitter", "0", "--http", f"127.0.0.1:{port}",
                "--log-format", "json"),
            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
        try:
            health = poll_http(proc, f"{base}/healthz", lambda r: r.json()["passes"] >= 1, 60)
            metrics = httpx.get(f"{base}/metrics").text
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    body = health.json()
    assert health.status_code == 503 and body["status"] == "degraded", body
    assert body["last_success"] is None
    (reason,) = body["reasons"]
    assert reason["code"] == "last_pass_failed" and "nothing could be fetched" in reason["message"]
    assert 'vksnd_passes_total{kind="crawl",outcome="failed"} 1.0' in metrics
    assert 'outcome="ok"' not in metrics
    assert code == 143
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    warnings = [e for e in events if e["level"] == "warning"]
    # One warning for the state change, not one per failed page.
    assert [e["event"] for e in warnings] == ["health"], warnings


# --- 2. A backfill silently drops the rest of a category ---------------------------------------


def test_2_a_failed_listing_page_is_walked_past_then_retried_until_the_range_is_complete(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: with ``Cat=2&Page=2`` answering 503, a backfill stored 72 of 106 articles and
    exited 0 with outcome=ok; page 3 was fine but never requested."""
    replica = make_replica(articles=100, seed=87, redirects=0, broken=0, page_size=10)
    replica.set_faults(kinds=("503",), rate=1.0, path_regex=r"Cat=2&Page=2$")
    db = tmp_path / "v.db"
    args = (*site_args(replica.base_url, db), "--retry-attempts", "1", "--since", "2000-01-01")
    truth = truth_articles(replica.truth())
    on_page_2 = listing_articles(replica, 2, 2)
    assert len(on_page_2) == 10

    done = run_cli("backfill", *args, "--log-format", "json", cwd=tmp_path, **FAULT_ENV)

    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("backfill: partial (1 listing page failed")
    assert pass_event(done.stderr, "backfill")["outcome"] == "partial"
    asked = {r["path"] for r in replica.requests()}
    assert "/tintuc/Pages/lists.aspx?Cat=2&Page=3" in asked  # walked past the failed page
    stored = {a.key for a in current_articles(db)}
    assert stored == {str(a["id"]) for a in truth} - on_page_2
    (cat2,) = [s for s in stats_json(db, tmp_path)["scopes"] if s["scope"] == "cat:2"]
    assert cat2["pages_failed"] == 1 and cat2["complete_to"] is not None
    assert cat2["complete_to"] > cat2["walked_to"]  # complete only above the failed page

    # The failed page is retried like any URL: the next pass walks on from it, with the
    # backfill's floor, and finishes the range.
    replica.clear_faults()
    make_failures_due(db)
    replica.clear_requests()
    again = run_cli("crawl", *site_args(replica.base_url, db), cwd=tmp_path, **FAULT_ENV)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_store_matches(db, truth)
    (cat2,) = [s for s in stats_json(db, tmp_path)["scopes"] if s["scope"] == "cat:2"]
    assert cat2["pages_failed"] == 0 and cat2["complete_to"] == cat2["walked_to"]
    assert last_run(db)["outcome"] == "ok"


# --- 4. Interrupted runs are recorded as ok ----------------------------------------------------


def _crawl_process(replica: Any, db: Path, cwd: Path) -> subprocess.Popen[str]:
    """``vksnd crawl`` with its stderr in ``cwd/stderr.log`` (read while it runs)."""
    with (cwd / "stderr.log").open("w") as log:
        return subprocess.Popen(
            cli("crawl", *site_args(replica.base_url, db), "--host-concurrency", "2"),
            cwd=cwd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip


def _stderr(cwd: Path) -> str:
    return (cwd / "stderr.log").read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(("how", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_4_a_signal_is_recorded_as_interrupted_with_its_exit_code(
    make_replica: MakeReplica, tmp_path: Path, how: signal.Signals, code: int
) -> None:
    """b2de816: a run stopped by Ctrl-C was recorded ``ok`` (239 of 260 articles not done),
    and SIGTERM exited 130."""
    replica = make_replica(articles=120, seed=88, redirects=0, latency_ms=15)
    db = tmp_path / "v.db"
    proc = _crawl_process(replica, db, tmp_path)
    try:
        wait_until(lambda: stored_count(db) >= 10)
        proc.send_signal(how)
        out, _ = proc.communicate(timeout=30)
    finally:
        stop_process(proc)
    err = _stderr(tmp_path)
    assert proc.returncode == code, err
    assert out.startswith("crawl: interrupted"), out
    run = last_run(db)
    assert run["outcome"] == "interrupted" and run["ok"] == 0
    assert stored_count(db) < len(truth_articles(replica.truth()))
    assert stats_json(db, tmp_path)["last_runs"][0]["outcome"] == "interrupted"


def test_4_a_second_ctrl_c_stops_at_once_without_a_traceback(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: a second Ctrl-C printed a ``CancelledError`` traceback and recorded
    "FAILED error: CancelledError:"."""
    replica = make_replica(articles=60, seed=89, redirects=0)
    # Articles take 20 s each: a graceful stop would wait for the ones in flight.
    replica.set_faults(kinds=("latency",), rate=1.0, latency_ms=20_000, path_regex=r"-t\d+\.html")
    db = tmp_path / "v.db"
    proc = _crawl_process(replica, db, tmp_path)
    try:
        wait_until(lambda: sum("lists.aspx" in r["path"] for r in replica.requests()) >= 5)
        # Page 1 of every category is read before any article is asked for: give the walk a
        # moment to put articles in flight (they take 20 s), so the first Ctrl-C has some to
        # wait for and the second one lands mid-run, not while the database closes.
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: "finishing pages in flight" in _stderr(tmp_path))
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        stop_process(proc)
    err = _stderr(tmp_path)
    assert proc.returncode == 130, err
    assert took < 10, f"the second Ctrl-C took {took:.1f}s"
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert err.rstrip().endswith("vksnd crawl: interrupted"), err
    assert out.startswith("crawl: interrupted"), out
    run = last_run(db)
    assert run["outcome"] == "interrupted" and run["error"] is None


# --- 3. Skipped URLs are lost for good ---------------------------------------------------------


def _waiting(db: Path, cwd: Path) -> dict[str, int]:
    return dict(stats_json(db, cwd)["waiting_by_reason"])


def test_3_skipped_urls_are_counted_come_back_on_schedule_and_by_hand(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: transient oversize/redirect faults put 20 URLs in state ``skipped``; the
    summary printed "skipped 0"; reruns of backfill and crawl never retried them; no command
    re-queued them."""
    replica = make_replica(articles=60, seed=90, redirects=0, broken=0)
    replica.set_faults(
        kinds=("oversize", "redirect_loop"), rate=0.4, path_regex=r"-t\d+\.html", oversize_mb=12
    )
    db = tmp_path / "v.db"
    args = (*site_args(replica.base_url, db), "--retry-attempts", "1")

    first = run_cli("crawl", *args, cwd=tmp_path, **FAULT_ENV)

    assert first.returncode == 3, first.stdout + first.stderr
    skipped = count(db, "SELECT count(*) FROM urls WHERE state = 'skipped'")
    assert skipped >= 5
    assert f"skipped {skipped}," in first.stdout, first.stdout  # counts agree
    waiting = _waiting(db, tmp_path)
    too_large, redirect = waiting.get("skipped/too_large", 0), waiting.get("skipped/redirect", 0)
    assert too_large and redirect and too_large + redirect == skipped, waiting

    # Not hammered: a rerun leaves them for their time (days away)...
    replica.clear_faults()
    assert run_cli("crawl", *args, cwd=tmp_path, **FAULT_ENV).returncode == 0
    assert count(db, "SELECT count(*) FROM urls WHERE state = 'skipped'") == skipped
    # ...`vksnd retry` re-queues any of them by hand, by reason class...
    requeued = run_cli("retry", "--db", str(db), "--reason", "too_large", cwd=tmp_path)
    assert requeued.returncode == 0, requeued.stderr
    assert requeued.stdout.startswith(f"retry: re-queued {too_large} URLs (too_large {too_large})")
    assert run_cli("crawl", *args, cwd=tmp_path, **FAULT_ENV).returncode == 0
    assert _waiting(db, tmp_path) == {"skipped/redirect": redirect}
    # ...and their time comes by itself: the next pass after it takes the rest.
    assert make_failures_due(db, ("skipped",)) == redirect
    last = run_cli("crawl", *args, cwd=tmp_path, **FAULT_ENV)
    assert last.returncode == 0, last.stdout + last.stderr
    assert_store_matches(db, truth_articles(replica.truth()))
    assert _waiting(db, tmp_path) == {}


# --- Signals and errors ------------------------------------------------------------------------


def test_a_second_writer_is_refused_with_a_clear_line_or_waits(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: a crawl started beside a running daemon fetched everything a second time."""
    replica = make_replica(articles=40, seed=91, redirects=0, latency_ms=20)
    db = tmp_path / "v.db"
    daemon = subprocess.Popen(
        cli("run", *site_args(replica.base_url, db), "--interval", "1h", "--jitter", "0"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: stored_count(db) >= 1)
        refused = run_cli("crawl", *site_args(replica.base_url, db), cwd=tmp_path)
        assert refused.returncode == 4, refused.stdout + refused.stderr
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("vksnd crawl: another vksnd (pid ") and "vksnd run" in line
        assert "--wait" in line and str(db) in line
        waiting = _crawl_waiting(replica, db, tmp_path)
        assert waiting.poll() is None  # waits while the daemon holds the database
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 143
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, out + err
    finally:
        stop_process(daemon)
    assert_store_matches(db, truth_articles(replica.truth()))


def _crawl_waiting(replica: Any, db: Path, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        cli("crawl", *site_args(replica.base_url, db), "--wait"),
        cwd=cwd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    # it says so on stderr before waiting
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert "waiting for the other writer" in first, first
    return proc


# --- 5. The corpus folder disagrees with the database -----------------------------------------


def _folder(out: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    files = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.txt")}
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return files, [json.loads(line) for line in lines]


@pytest.mark.slow
def test_5_the_daemons_export_folder_equals_a_fresh_export_after_edits(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: after edits the daemon's --export-dir kept the old version's file and a second
    ``is_current: true`` line in manifest.jsonl (236 files where a fresh export writes 234)."""
    replica = make_replica(articles=30, seed=92, redirects=0)
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    proc = subprocess.Popen(
        cli("run", *site_args(replica.base_url, db), "--interval", "1s", "--jitter", "0",
            "--export-dir", str(out), "--log-format", "json"),
        cwd=tmp_path, env=subprocess_env(VKSND_RECHECK_DAYS="36500"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=json_lines, args=(proc.stderr, events), daemon=True)
    reader.start()
    try:
        wait_for_events(events, "export", 1, timeout=60)
        edited = [a["id"] for a in truth_articles(replica.truth())[:3]]
        for article_id in edited:
            replica.edit(article_id)
        # Passes run until the three edits are stored, then one more export.
        stored = 0
        while stored < len(edited):
            (finished,) = wait_for_events(events, "crawl_pass", 1, timeout=60)
            stored += finished.get("new_versions", 0)
        wait_for_events(events, "export", 1, timeout=60)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        stop_process(proc)
        reader.join(5)
        proc.stderr.close()
    fresh = tmp_path / "fresh"
    done = run_cli("export", "--db", str(db), "--out", str(fresh), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files, manifest = _folder(out)
    want_files, want_manifest = _folder(fresh)
    assert len(want_files) == len(truth_articles(replica.truth()))
    assert len(files) == len(want_files) and len(manifest) == len(want_manifest)
    assert files == want_files
    assert manifest == want_manifest
    assert all(entry["is_current"] for entry in manifest)
    assert code == 143


def test_5_an_incremental_export_after_edits_equals_a_fresh_one(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=30, seed=93, redirects=0)
    db, out, fresh = tmp_path / "v.db", tmp_path / "corpus", tmp_path / "fresh"
    args = site_args(replica.base_url, db)
    env = {"VKSND_RECHECK_DAYS": "36500"}
    assert run_cli("crawl", *args, cwd=tmp_path, **env).returncode == 0
    assert run_cli("export", "--db", str(db), "--out", str(out), cwd=tmp_path).returncode == 0
    for article in truth_articles(replica.truth())[:3]:
        replica.edit(article["id"])
    assert run_cli("crawl", *args, cwd=tmp_path, **env).returncode == 0
    again = run_cli("export", "--db", str(db), "--out", str(out), cwd=tmp_path)
    assert again.returncode == 0 and "3 written" in again.stdout and "3 removed" in again.stdout
    assert run_cli("export", "--db", str(db), "--out", str(fresh), cwd=tmp_path).returncode == 0
    assert _folder(out) == _folder(fresh)


# --- 6. Edits of older articles are never seen -------------------------------------------------


def _versions_of(db: Path, key: str) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT text FROM articles WHERE root_id ="
            " (SELECT root_id FROM articles WHERE article_key = ? LIMIT 1) ORDER BY seq",
            (key,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _year_old(replica: Any) -> dict[str, Any]:
    cutoff = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    return next(a for a in truth_articles(replica.truth()) if a["published"] < cutoff)


def test_6_an_edit_of_a_year_old_article_is_stored_within_the_revalidation_window(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: only articles published in the last recheck_days (14) were re-checked; an edit
    of anything older was missed forever."""
    replica = make_replica(articles=40, seed=94, redirects=0)
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    args = site_args(replica.base_url, db)
    # A window of 2 days with a pass every 12 hours: 4 passes to check every older article.
    env = {"VKSND_REVALIDATE_DAYS": "2", "VKSND_INTERVAL_MINUTES": "720"}
    assert run_cli("crawl", *args, cwd=tmp_path, **env).returncode == 0
    old = _year_old(replica)
    replica.edit(old["id"])
    passes = 0
    while len(_versions_of(db, str(old["id"]))) < 2 and passes < 4:
        assert run_cli("crawl", *args, cwd=tmp_path, **env).returncode == 0
        passes += 1
    assert len(_versions_of(db, str(old["id"]))) == 2, f"not seen in {passes} passes"
    assert_store_matches(db, truth_articles(replica.truth()))
    # The export shows the current version only.
    assert run_cli("export", "--db", str(db), "--out", str(out), cwd=tmp_path).returncode == 0
    files, manifest = _folder(out)
    new_text = _versions_of(db, str(old["id"]))[-1]
    mine = [e for e in manifest if e["canonical_url"] == old["canonical_url"]]
    assert len(mine) == 1 and files[mine[0]["file"]] == new_text


def test_6_recheck_since_forces_the_range_in_one_pass(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=40, seed=95, redirects=0)
    db = tmp_path / "v.db"
    args = site_args(replica.base_url, db)
    assert run_cli("crawl", *args, cwd=tmp_path).returncode == 0
    old = _year_old(replica)
    replica.edit(old["id"])
    forced = run_cli(
        "crawl", *args, "--recheck-since", old["published"], "--log-format", "json", cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    assert len(_versions_of(db, str(old["id"]))) == 2
    assert pass_event(forced.stderr, "crawl")["new_versions"] == 1


@pytest.mark.parametrize("command", ["crawl", "backfill", "run", "stats", "export", "retry"])
def test_a_db_under_a_file_is_one_clear_line(tmp_path: Path, command: str) -> None:
    """b2de816: ``--db FILE/v.db`` ended a crawl with a NotADirectoryError traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    db = blocker / "v.db"
    extra = {"backfill": ("--since", "2024-01-01"), "export": ("--out", str(tmp_path / "o"))}
    done = run_cli(command, "--db", str(db), *extra.get(command, ()), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"vksnd {command}: ") and str(blocker) in line, line


# --- Progress that tells the truth -------------------------------------------------------------


def test_a_first_crawl_says_it_walks_the_whole_site_and_shows_progress(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: a first crawl on an empty database said nothing of its size and showed no
    progress; the slow-down after 503s was invisible."""
    replica = make_replica(articles=40, seed=96, redirects=0, broken=0)
    # Three 503s with Retry-After on article pages: the host is slowed down for a while.
    replica.set_faults(kinds=("503",), rate=1.0, count=3, retry_after=0, path_regex=r"-t\d+")
    db = tmp_path / "v.db"
    first = run_cli("crawl", *site_args(replica.base_url, db), cwd=tmp_path, **FAULT_ENV)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "this first crawl walks every listing page of the 5 categories" in first.stderr
    found = len(truth_articles(replica.truth()))
    progress = [line for line in first.stderr.splitlines() if line.startswith("crawl: ")]
    assert progress, first.stderr
    assert progress[-1].startswith(f"crawl: articles found {found}, stored {found},")
    assert "categories 5/5 done" in progress[-1]
    assert f"slowed: 503s from {replica.base_url.removeprefix('http://')}" in progress[-1]
    slowed = [line for line in first.stderr.splitlines() if " WARNING " in line]
    assert len(slowed) == 1 and "slowed: 503s from" in slowed[0], slowed  # once, not per 503
    again = run_cli("crawl", *site_args(replica.base_url, db), cwd=tmp_path, **FAULT_ENV)
    assert again.returncode == 0
    assert "first crawl" not in again.stderr and "articles found" not in again.stderr


# --- Smaller items -----------------------------------------------------------------------------


def test_a_page_that_gives_a_date_alone_is_stored_and_exported_with_the_date_alone(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: an article whose page prints "18/10/2022" (no time) was stored and exported as
    published_at "2022-10-18T00:00:00+07:00": a midnight the page never said."""
    replica = make_replica(articles=40, seed=5, redirects=0)
    date_only = set()
    for article in truth_articles(replica.truth()):
        page = httpx.get(article["canonical_url"])
        parsed = parse_article(page.content, article["canonical_url"], page.headers["content-type"])
        if parsed.published_date_only:
            date_only.add(article["canonical_url"])
    assert date_only, "the replica has no date-only page with this seed"
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    assert run_cli("crawl", *site_args(replica.base_url, db), cwd=tmp_path).returncode == 0
    assert run_cli("export", "--db", str(db), "--out", str(out), cwd=tmp_path).returncode == 0
    _, manifest = _folder(out)
    by_url = {e["canonical_url"]: e["published_at"] for e in manifest}
    for url, published in by_url.items():
        if url in date_only:
            assert len(published) == 10, (url, published)  # 2022-10-18
        else:
            assert published is None or published[10] == "T", (url, published)
