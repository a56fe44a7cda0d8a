"""SIGKILL at random moments, restarts, and readers running beside the daemon.

A backfill and a daemon (real ``vksnd`` subprocesses against the in-process replica)
are each killed at 10 moments drawn from a seeded RNG, restarted each time. Most kills land once a
random number of articles is committed (mid-work, with fetches and a transaction in flight), the
others at a random time after start (imports, migrations, robots.txt, the first listing). After
every kill the file passes ``integrity_check`` and holds only right articles, each once; nothing
committed is lost; and the last run ends with exactly the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import random
import signal
import subprocess
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from support.crawl import (
    article_path,
    assert_store_matches,
    cli,
    current_articles,
    json_lines,
    site_args,
    subprocess_env,
    truth_articles,
    wait_for_events,
)
from support.reliability import (
    FAULT_ENV,
    assert_sound,
    assert_stored_are_right,
    stop_process,
    stored_count,
    wait_until,
)
from vksnd.fixtures.portal import ReplicaServer
from vksnd.storage.export import LOCK_NAME, MANIFEST_NAME
from vksnd.storage.records import NewUrl, UrlKind
from vksnd.storage.sqlite import SqliteStore

MakeReplica = Any
KILLS = 10


def _start(argv: tuple[str, ...], cwd: Path, *, pipe: bool = False) -> subprocess.Popen[str]:
    """The command with its log in ``cwd/stderr.log`` (a pipe nobody reads could fill up and
    block it), or on a pipe when the test reads it as it comes."""
    log = subprocess.PIPE if pipe else (cwd / "stderr.log").open("a", encoding="utf-8")
    try:
        return subprocess.Popen(
            cli(*argv), cwd=cwd, env=subprocess_env(**FAULT_ENV), stdout=subprocess.DEVNULL,
            stderr=log, text=True,
        )  # fmt: skip
    finally:
        if not pipe:
            log.close()  # type: ignore[union-attr]


def _log_tail(cwd: Path) -> str:
    return (cwd / "stderr.log").read_text(encoding="utf-8", errors="replace")[-3000:]


def _kill_at_a_random_moment(
    proc: subprocess.Popen[str], db: Path, rng: random.Random, target: int
) -> bool:
    """SIGKILL once ``target`` articles are committed (plus a random few ms), or, one time in
    three, at a random time after start. False if the process ended on its own first."""
    try:
        if rng.random() < 1 / 3:
            proc.wait(rng.uniform(0.05, 1.0))  # returns early only if it ended by itself
        else:
            wait_until(lambda: stored_count(db) >= target or proc.poll() is not None, 60)
            proc.wait(rng.uniform(0.0, 0.05))
    except subprocess.TimeoutExpired:
        pass
    except BaseException:
        stop_process(proc)  # a test that fails must not leave a daemon running
        raise
    ended_alone = proc.poll() is not None
    code = stop_process(proc)
    assert ended_alone or code == -signal.SIGKILL, _log_tail(db.parent)
    if ended_alone:
        assert code == 0, _log_tail(db.parent)
    return not ended_alone


def _paths(articles: list[dict[str, Any]]) -> set[str]:
    return {article_path(u) for a in articles for u in (a["canonical_url"], *a["aliases"])}


@pytest.mark.slow
def test_backfill_killed_ten_times_ends_with_the_truth(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica: ReplicaServer = make_replica(
        articles=120, seed=61, latency_ms=25, redirects=0, page_size=10
    )
    expected = truth_articles(replica.truth(), date(2000, 1, 1))
    by_key = {str(a["id"]): a for a in expected}
    db = tmp_path / "v.db"
    argv = ("backfill", *site_args(replica.base_url, db), "--since", "2000-01-01",
            "--host-concurrency", "4", "--global-concurrency", "4")  # fmt: skip
    rng = random.Random(7061)
    targets = sorted(rng.sample(range(5, len(expected) - 10), KILLS))
    kills = 0
    committed: list[tuple[set[str], int]] = []  # stored keys after a kill, request log position
    for target in targets:
        proc = _start(argv, tmp_path)
        kills += _kill_at_a_random_moment(proc, db, rng, target)
        if db.exists() and stored_count(db):
            keys = {str(a.key) for a in current_articles(db)}
            assert committed == [] or committed[-1][0] <= keys, "a committed article was lost"
            committed.append((keys, len(replica.requests())))
            assert_stored_are_right(db, replica)
    assert kills >= KILLS - 1, "the backfill finished before it could be killed"

    final = subprocess.run(
        cli(*argv), cwd=tmp_path, env=subprocess_env(**FAULT_ENV), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    assert_store_matches(db, expected)
    assert_sound(db)
    # Nothing committed before a kill was read again by a later run.
    log = replica.requests()
    for keys, position in committed:
        paths = _paths([by_key[k] for k in keys])
        again = [r["path"] for r in log[position:] if r["status"] == 200 and r["path"] in paths]
        assert again == [], again[:5]


@pytest.mark.slow
def test_daemon_killed_ten_times_ends_with_the_truth(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """Between kills the site moves on (new articles, an edit): the restarted daemon catches up."""
    replica: ReplicaServer = make_replica(
        articles=60, seed=62, latency_ms=25, redirects=0, page_size=40
    )
    db = tmp_path / "v.db"
    argv = ("run", *site_args(replica.base_url, db), "--interval", "1s", "--jitter", "0",
            "--retry-interval", "1s", "--log-format", "json")  # fmt: skip
    rng = random.Random(7062)
    kills = 0
    edited: set[str] = set()
    for round_ in range(KILLS):
        before = stored_count(db)
        left = len(truth_articles(replica.truth())) - len(current_articles(db)) if before else 60
        proc = _start(argv, tmp_path)  # a daemon never ends: the target must be reachable
        kills += _kill_at_a_random_moment(proc, db, rng, before + rng.randint(1, max(left, 1)))
        assert_right_but_edits(db, replica, edited)
        replica.publish(rng.randint(1, 3))
        if round_ % 3 == 2 and current_articles(db):
            key = str(rng.choice(current_articles(db)).key)
            replica.edit(int(key))
            edited.add(key)
    assert kills == KILLS

    # The last restart runs until a whole pass finished after the last change, then SIGTERM.
    proc = _start(argv, tmp_path, pipe=True)
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=json_lines, args=(proc.stderr, events), daemon=True)
    reader.start()
    try:
        (finished,) = wait_for_events(events, "crawl_pass", 1, timeout=60)
        code = stop_process(proc, signal.SIGTERM)
    finally:
        stop_process(proc)
        reader.join(5)
        proc.stderr.close()
    assert code == 143 and finished["outcome"] == "ok", finished
    assert_store_matches(db, truth_articles(replica.truth()))
    assert_sound(db)


def assert_right_but_edits(db: Path, replica: ReplicaServer, edited: set[str]) -> None:
    """Mid-run, an edited article may still hold its previous version (the re-check did not come
    yet); every other stored article is exactly the truth's, and none is stored twice."""
    if not stored_count(db):
        return
    assert_sound(db)
    truth = {str(a["id"]): a for a in truth_articles(replica.truth())}
    keys = [str(a.key) for a in current_articles(db)]
    assert len(keys) == len(set(keys)), "an article stored twice"
    assert set(keys) <= set(truth)
    for article in current_articles(db):
        want = truth[str(article.key)]
        if str(article.key) not in edited:
            assert (article.title, article.text, list(article.captions)) == (
                want["title"],
                want["text"],
                want["captions"],
            ), article.key


@pytest.mark.slow
def test_export_and_stats_while_the_daemon_writes(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica: ReplicaServer = make_replica(articles=100, seed=63, latency_ms=10, redirects=0)
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    everything = len(truth_articles(replica.truth()))
    proc = _start(("run", *site_args(replica.base_url, db), "--interval", "1s", "--jitter", "0",
                   "--host-concurrency", "2"), tmp_path)  # fmt: skip
    errors: list[str] = []
    runs = {"export": 0, "stats": 0}

    def repeat(name: str, argv: tuple[str, ...]) -> None:
        while proc.poll() is None and runs[name] < 40:
            done = subprocess.run(
                cli(*argv), cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                timeout=60, check=False,
            )  # fmt: skip
            runs[name] += 1
            if done.returncode != 0:
                errors.append(f"{name}: {done.returncode} {done.stderr[-2000:]}")
            elif name == "stats":
                json.loads(done.stdout)  # one whole JSON object, never a torn read
            if stored_count(db) >= everything and runs[name] >= 3:
                return

    try:
        wait_until(lambda: stored_count(db) > 0, 30)
        workers = [
            threading.Thread(target=repeat, args=("export", ("export", "--db", str(db),
                                                             "--out", str(out)))),
            threading.Thread(target=repeat, args=("stats", ("stats", "--db", str(db),
                                                            "--json"))),
        ]  # fmt: skip
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
    finally:
        code = stop_process(proc, signal.SIGTERM)
    assert errors == []
    assert code == 143, _log_tail(tmp_path)  # SIGTERM
    assert runs["export"] >= 3 and runs["stats"] >= 3, runs
    # No half file, no stray temporary: every manifest line is JSON naming a whole file.
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    files = {p.name for p in out.iterdir()} - {MANIFEST_NAME, LOCK_NAME}
    assert {e["file"] for e in entries} == files, "a stray or unlisted file"
    stored = {a.key: a.text for a in current_articles(db)}
    texts = {e["file"]: (out / e["file"]).read_text(encoding="utf-8") for e in entries}
    assert all(text in set(stored.values()) for text in texts.values())
    assert len(entries) == len({e["file"] for e in entries}), "a file listed twice"


@pytest.mark.slow
def test_daemon_killed_in_its_first_deep_pass_resumes_the_walk(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica: ReplicaServer = make_replica(
        articles=60, seed=64, latency_ms=20, redirects=0, page_size=5
    )
    db = tmp_path / "v.db"
    argv = ("crawl", *site_args(replica.base_url, db), "--host-concurrency", "1",
            "--global-concurrency", "1")  # fmt: skip
    proc = _start(argv, tmp_path)
    try:
        wait_until(lambda: stored_count(db) >= 20 or proc.poll() is not None)
    finally:
        code = stop_process(proc)
    assert code == -signal.SIGKILL, _log_tail(tmp_path)
    assert_stored_are_right(db, replica)

    rerun = subprocess.run(
        cli(*argv), cwd=tmp_path, env=subprocess_env(**FAULT_ENV), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert_store_matches(db, truth_articles(replica.truth()))


async def test_a_write_cancelled_before_its_transaction_began_leaves_the_store_usable(
    tmp_path: Path,
) -> None:
    async with await SqliteStore.open(tmp_path / "v.db") as store:
        # Keep the database thread busy so the write's BEGIN waits in its queue, then cancel it.
        busy = asyncio.ensure_future(store._conn.execute(SLOW_QUERY))
        write = asyncio.ensure_future(store.add_urls([NewUrl("https://vksndtc.gov.vn/a-d2-t1.html",
                                                               UrlKind.ARTICLE)]))  # fmt: skip
        await asyncio.sleep(0.01)
        write.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await write
        await busy
        added = await store.add_urls([NewUrl("https://vksndtc.gov.vn/a-d2-t2.html",
                                             UrlKind.ARTICLE)])  # fmt: skip
    assert added == 1


SLOW_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)"
    " SELECT count(*) FROM c"
)
