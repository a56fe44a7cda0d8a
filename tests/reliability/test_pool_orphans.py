"""Parser processes go with the process that started them, however it ends: a SIGKILLed crawl
or reparse leaves no fork server, worker or resource tracker waiting for work forever (each
worker holds both ends of its task pipe, so none of them would notice on its own)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from support.crawl import cli, count, site_args, subprocess_env
from support.processes import group_members, wait_for_empty_group

MakeReplica = object


def _kill_when(proc: subprocess.Popen[str], db: Path, sql: str, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, "ended before the kill"
        assert time.monotonic() < deadline, "nothing stored in 120 s"
        if db.exists():
            try:
                if count(db, sql) >= at_least:
                    break
            except Exception:  # the schema may not exist yet
                pass
        time.sleep(0.02)  # polling a condition with a deadline
    assert len(group_members(proc.pid)) >= 3, "no pool workers started"  # command + workers
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_a_killed_backfill_leaves_no_parse_workers(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=400, seed=8, latency_ms=20, redirects=0)  # type: ignore[operator]
    db = tmp_path / "v.db"
    argv = ("backfill", *site_args(replica.base_url, db), "--since", "2000-01-01",
            "--parse-executor", "process")  # fmt: skip
    proc = subprocess.Popen(
        cli(*argv), cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _kill_when(proc, db, "SELECT count(*) FROM articles", 20)
        assert wait_for_empty_group(proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
