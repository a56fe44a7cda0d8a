"""Helpers shared by the reliability tests (faults, kills, disk trouble, hostile input, scope).

Built on ``crawl_support`` (commands, subprocesses, reading the database with plain ``sqlite3``);
what is here is about judging a store that went through trouble: everything stored is right,
anything missing is a recorded failure, and the clock can be moved past retry times.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from support.crawl import (
    assert_store_matches,
    count,
    current_articles,
    integrity,
    run_command,
    site_args,
    truth_articles,
)
from vksnd.fixtures.portal import ReplicaServer
from vksnd.storage import counts

# Tiny retry waits, a short read timeout (stalls), Retry-After capped low but still measurable,
# and every stored article re-checked by each pass (edits are found whatever the article's date).
FAULT_ENV = {
    "VKSND_RETRY_INITIAL": "0.01",
    "VKSND_RETRY_MAX_WAIT": "0.05",
    "VKSND_RETRY_JITTER": "0",
    "VKSND_RETRY_AFTER_CAP": "0.3",
    "VKSND_READ_TIMEOUT": "0.4",
    "VKSND_TOTAL_TIMEOUT": "3",
    "VKSND_RECHECK_DAYS": "36500",
}
ATTEMPTS = ("--retry-attempts", "4")
LONG_AGO = "2000-01-01T00:00:00.000000+00:00"


def crawl(replica: ReplicaServer, db: Path, *extra: str, ok: bool = False) -> int:
    """One ``vksnd crawl``: ok (0), or partial (3) when faults left something to retry;
    ``ok`` demands 0 (nothing left)."""
    code = run_command("crawl", *site_args(replica.base_url, db), *ATTEMPTS, *extra)
    assert code in ((0,) if ok else (0, 3)), code
    return code


def unfinished_urls(db: Path) -> dict[str, tuple[str, str | None, str | None]]:
    """URL -> (state, article key, last error) for every URL that is not fetched."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT url, state, article_key, last_error FROM urls WHERE state != 'fetched'"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def assert_stored_are_right(db: Path, replica: ReplicaServer) -> set[str]:
    """Stored ⊆ truth, each article once with the right metadata and text; the file is sound.

    Returns the keys of the truth articles not stored (yet)."""
    truth = {str(a["id"]): a for a in truth_articles(replica.truth())}
    keys = [str(a.key) for a in current_articles(db)]
    assert len(keys) == len(set(keys)), "an article stored twice"
    assert set(keys) <= set(truth), f"not in the truth: {set(keys) - set(truth)}"
    assert_store_matches(db, [truth[k] for k in keys])
    assert_sound(db)
    return set(truth) - set(keys)


def assert_sound(db: Path) -> None:
    """The file passes SQLite's own checks: structure and every foreign key."""
    assert integrity(db) == "ok"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # the counters ``stats`` reads equal a recount, whatever was killed on the way
        assert counts.stored(conn) == counts.recount(conn)


def assert_truth_so_far(db: Path, replica: ReplicaServer) -> set[str]:
    """After a finished pass: stored articles are right, each missing one is a failure with a
    reason (of its own URL, or of the listing page that would have shown it), none is pending."""
    missing = assert_stored_are_right(db, replica)
    problems = unfinished_urls(db)
    assert [u for u, (state, _, _) in problems.items() if state == "pending"] == []
    reasons = {key: error for state, key, error in problems.values() if state == "failed"}
    listing_failed = any(
        state == "failed" and error and "Page=" in url
        for url, (state, _, error) in problems.items()
    )
    for key in missing:
        assert reasons.get(key) or listing_failed, f"article {key} missing, no failure recorded"
    assert all(error for state, _, error in problems.values() if state == "failed")
    return missing


def make_failures_due(db: Path, states: tuple[str, ...] = ("failed",)) -> int:
    """The clock moves past the retry time of every URL in ``states`` (minutes to hours in
    production for failed ones, days for skipped ones)."""
    marks = ",".join("?" * len(states))
    with sqlite3.connect(db) as conn:
        changed = conn.execute(
            f"UPDATE urls SET next_retry_at = ? WHERE state IN ({marks})"
            " AND next_retry_at IS NOT NULL",
            (LONG_AGO, *states),
        ).rowcount
    return int(changed)


def recover_to_truth(db: Path, replica: ReplicaServer) -> None:
    """Faults stop, retry times pass, one more pass: exactly the truth."""
    replica.clear_faults()
    make_failures_due(db, ("failed", "skipped"))
    crawl(replica, db, ok=True)
    assert_store_matches(db, truth_articles(replica.truth()))
    assert integrity(db) == "ok"


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)  # polling a condition with a deadline


def stored_count(db: Path) -> int:
    """Articles committed so far; 0 while the file or its schema does not exist yet."""
    if not db.exists():
        return 0
    try:
        return count(db, "SELECT count(*) FROM articles")
    except sqlite3.Error:
        return 0


def stop_process(proc: subprocess.Popen[str], how: signal.Signals = signal.SIGKILL) -> int:
    """Signal ``proc`` unless it already ended; its exit code (negative: the signal)."""
    if proc.poll() is None:
        proc.send_signal(how)
    return proc.wait(30)
