"""``vksnd run`` as a real subprocess: passes on a short interval, clean stop on SIGTERM."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from support.crawl import (
    assert_store_matches,
    cli,
    count,
    current_articles,
    integrity,
    json_lines,
    site_args,
    subprocess_env,
    truth_articles,
    wait_for_events,
)
from support.reliability import wait_until
from vksnd.crawler.cli.common import minutes, parse_duration, seconds
from vksnd.crawler.config import CrawlConfig, Settings
from vksnd.crawler.service.daemon import JITTER_SHARE_CAP, Schedule

MakeReplica = object


@pytest.mark.slow
def test_daemon_runs_two_passes_and_stops_cleanly_on_sigterm(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=40, seed=21)  # type: ignore[operator]
    db = tmp_path / "v.db"
    proc = subprocess.Popen(
        cli("run", *site_args(replica.base_url, db), "--interval", "2s", "--jitter", "0",
            "--log-format", "json"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=json_lines, args=(proc.stderr, events), daemon=True)
    reader.start()
    try:
        first, second = wait_for_events(events, "crawl_pass", 2, timeout=40)
        replica.publish(2)  # the next pass would find these; SIGTERM comes first or during it
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
        proc.stderr.close()

    assert code == 143  # stopped by SIGTERM (128 + 15), as every command
    assert first["outcome"] == "ok" and second["outcome"] == "ok"
    assert first["new_articles"] > 0
    assert second.get("new_articles", 0) == 0
    assert integrity(db) == "ok"
    assert count(db, "SELECT count(*) FROM runs WHERE kind = 'crawl' AND outcome = 'ok'") >= 2
    assert count(db, "SELECT count(*) FROM runs WHERE finished_at IS NULL") == 0
    # Whatever the last pass got to, the store holds truth articles only, each once.
    truth = {str(a["id"]): a for a in truth_articles(replica.truth())}
    stored = current_articles(db)
    assert len({a.key for a in stored}) == len(stored)
    assert_store_matches(db, [truth[str(a.key)] for a in stored])


def test_durations_and_the_schedule_from_settings() -> None:
    assert parse_duration("2s", "m").total_seconds() == 2
    assert minutes("30") == 30 and minutes("2h") == 120 and minutes("45s") == 0.75
    assert seconds("0") == 0 and seconds("90") == 90
    settings = Settings(crawl=CrawlConfig(interval_minutes=1, interval_jitter=120))
    schedule = Schedule.from_settings(settings)
    assert schedule.interval.total_seconds() == 60
    assert schedule.jitter.total_seconds() == 60 * JITTER_SHARE_CAP


def test_a_pass_outlasting_its_interval_is_our_own_line_not_apschedulers(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """b2de816: APScheduler's 'Execution of job … skipped: maximum number of running instances
    reached (1)' WARNING, raw, every second of a long pass."""
    replica = make_replica(articles=40, seed=22, latency_ms=60)  # type: ignore[operator]
    db, log_path = tmp_path / "v.db", tmp_path / "log.jsonl"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            cli("run", *site_args(replica.base_url, db), "--host-concurrency", "1",
                "--interval", "1s", "--jitter", "0", "--log-format", "json"),
            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
        try:
            wait_until(lambda: "pass_skipped" in log_path.read_text(encoding="utf-8"), 40)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 143
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    events = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    skipped = [e for e in events if e["event"] == "pass_skipped"]
    assert skipped and all(e["level"] == "info" and e["kind"] == "crawl" for e in skipped)
    assert "previous one is still running" in skipped[0]["message"]
    assert not [e for e in events if "maximum number of running instances" in e["message"]]
    assert not [e for e in events if e["logger"].startswith("apscheduler")]
