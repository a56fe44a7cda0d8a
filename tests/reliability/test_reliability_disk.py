"""Disk trouble: the database or the export folder becomes full or read-only, then recovers.

Two ways to run out of room:
- SQLite's ``max_page_count`` on the writer's connection (works anywhere, also as root);
- a real small filesystem: a ``tmpfs`` mounted for the test (needs root or CAP_SYS_ADMIN; the
  tests skip when ``mount`` is refused). The same mount, remounted read-only, plays a read-only
  disk: ``chmod`` does not stop root, a read-only mount does.

Each scenario checks that the process stops with a clear error, that nothing is corrupted
(``integrity_check``, stored articles right, manifest lines whole), and that once the trouble is
gone the next run ends with exactly the truth.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support.crawl import (
    assert_store_matches,
    current_articles,
    fast_settings,
    run_cli,
    site_args,
    truth_articles,
)
from support.disk import Mount
from support.reliability import FAULT_ENV, assert_sound, assert_stored_are_right
from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.passes import CrawlResources, incremental_pass, pipeline_config
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.fixtures.portal import ReplicaServer
from vksnd.storage.errors import DiskFull
from vksnd.storage.export import LOCK_NAME, MANIFEST_NAME
from vksnd.storage.sqlite import SqliteStore

MakeReplica = Callable[..., ReplicaServer]


def _crawl(replica: ReplicaServer, db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("crawl", *site_args(replica.base_url, db), cwd=cwd, **FAULT_ENV)


def _clear_message(stderr: str, words: str) -> bool:
    """The run ends with one line of ours naming the trouble ("vksnd crawl: disk full: PATH"),
    not with the last line of a traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith("vksnd") and words in lines[-1]


# --- the database ------------------------------------------------------------------------------


async def _pass_with_page_cap(settings: Settings, max_pages: int | None) -> BaseException | None:
    """One incremental pass whose writer may grow the file to ``max_pages`` pages only."""
    config = pipeline_config(settings)
    store = await SqliteStore.open(settings.db)
    if max_pages is not None:  # the writer's own connection: the test's "disk" ends here
        await store._conn.execute(f"PRAGMA max_page_count = {max_pages}")
    pool = ParsePool(config.executor, config.parse_workers)
    try:
        async with Fetcher(settings) as fetcher:
            resources = CrawlResources(settings, store, fetcher, pool, config)
            await incremental_pass(resources, asyncio.Event())
    except BaseException as exc:  # what the command would see
        return exc
    finally:
        pool.close()
        await store.close()
    return None


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def test_a_full_database_corrupts_nothing_and_the_next_run_resumes(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=80, seed=71, redirects=0)
    db = tmp_path / "v.db"
    settings = fast_settings(replica.base_url, db)

    error = asyncio.run(_pass_with_page_cap(settings, 70))  # ~280 KB: room for a few articles

    assert error is not None, "the capped database never filled up"
    assert_sound(db)
    partial = assert_stored_are_right(db, replica)
    assert partial, "everything fit: the cap was too high to test anything"
    assert asyncio.run(_pass_with_page_cap(settings, None)) is None
    assert_store_matches(db, truth_articles(replica.truth()))
    assert_sound(db)


def test_a_full_database_stops_the_pass_with_a_typed_disk_full(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=80, seed=72, redirects=0)
    settings = fast_settings(replica.base_url, tmp_path / "v.db")
    error = asyncio.run(_pass_with_page_cap(settings, 70))
    assert error is not None
    leaves = _leaves(error)
    assert all(isinstance(leaf, DiskFull) for leaf in leaves), [repr(e) for e in leaves]


@pytest.mark.parametrize("size", ["400k", "1200k"])  # full while walking, while storing
def test_crawl_on_a_full_filesystem_says_disk_full(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount, size: str
) -> None:
    """b2de816: the 1200k disk filled up in the store step and printed a traceback per store
    batch that hit it before the one line."""
    replica = make_replica(articles=80, seed=73, redirects=0)
    db = small_fs(size) / "v.db"
    done = _crawl(replica, db, tmp_path)
    assert done.returncode == 1
    assert _clear_message(done.stderr, "disk full"), done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stdout.startswith("crawl: failed (disk full: ")


@pytest.mark.slow
def test_crawl_on_a_full_filesystem_then_room_again_ends_with_the_truth(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount
) -> None:
    replica = make_replica(articles=80, seed=73, redirects=0)
    db = small_fs("400k") / "v.db"

    done = _crawl(replica, db, tmp_path)

    assert done.returncode != 0, "the crawl did not notice the disk was full"
    assert db.exists()
    assert_sound(db)
    assert_stored_are_right(db, replica)
    small_fs("64m")  # room again
    again = _crawl(replica, db, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_store_matches(db, truth_articles(replica.truth()))
    assert_sound(db)


@pytest.mark.slow
def test_a_read_only_database_is_refused_clearly_then_the_crawl_resumes(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount
) -> None:
    replica = make_replica(articles=60, seed=74, redirects=0)
    db = small_fs("64m") / "v.db"
    first = _crawl(replica, db, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    stored = len(current_articles(db))
    new_ids = replica.publish(5)

    small_fs("64m", ro=True)
    refused = _crawl(replica, db, tmp_path)
    assert refused.returncode == 1
    assert re.search(r"read-?only|cannot open database", refused.stderr), refused.stderr[-2000:]
    assert len(current_articles(db)) == stored

    small_fs("64m", ro=False)
    again = _crawl(replica, db, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {str(i) for i in new_ids} <= {str(a.key) for a in current_articles(db)}
    assert_store_matches(db, truth_articles(replica.truth()))
    assert_sound(db)


def test_crawl_on_a_read_only_disk_says_read_only(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount
) -> None:
    replica = make_replica(articles=20, seed=77, redirects=0)
    db = small_fs("64m") / "v.db"
    assert _crawl(replica, db, tmp_path).returncode == 0
    small_fs("64m", ro=True)
    refused = _crawl(replica, db, tmp_path)
    assert refused.returncode == 1
    assert _clear_message(refused.stderr, "read-only"), refused.stderr[-2000:]


# --- the export folder -------------------------------------------------------------------------


def _export(db: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("export", "--db", str(db), "--out", str(out), cwd=cwd)


def _manifest_is_whole(out: Path, texts: set[str], *, complete: bool = True) -> list[str]:
    """Every manifest line is JSON naming a file that is there, whole; no temporary is left.

    After a failed run a file may be in place before its manifest line (the next run lists
    it); with ``complete`` every file must be listed, once."""
    path = out / MANIFEST_NAME
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    listed = [str(json.loads(line)["file"]) for line in lines]
    names = {p.name for p in out.iterdir()} - {MANIFEST_NAME, LOCK_NAME}
    assert all(re.fullmatch(r"\d{3,}_[0-9a-f]{16}\.txt", n) for n in names), names
    assert set(listed) <= names, "a listed file is missing"
    assert len(listed) == len(set(listed)), "a file listed twice"
    if complete:
        assert set(listed) == names, "an unlisted file"
    for name in names:
        assert (out / name).read_text(encoding="utf-8") in texts, f"{name} is not whole"
    return listed


@pytest.mark.slow
def test_a_full_export_folder_stops_clearly_and_the_rerun_completes(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount
) -> None:
    replica = make_replica(articles=80, seed=75, redirects=0)
    db = tmp_path / "v.db"
    assert _crawl(replica, db, tmp_path).returncode == 0
    out = small_fs("96k") / "corpus"

    full = _export(db, out, tmp_path)

    assert full.returncode == 1
    assert _clear_message(full.stderr, "disk full"), full.stderr[-2000:]
    texts = {a.text for a in current_articles(db)}
    written = _manifest_is_whole(out, texts, complete=False)
    assert 0 < len(written) < len(texts)
    small_fs("64m")
    done = _export(db, out, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(_manifest_is_whole(out, texts)) == len(texts)


@pytest.mark.slow
def test_a_read_only_export_folder_is_refused_clearly(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount
) -> None:
    replica = make_replica(articles=20, seed=76, redirects=0)
    db = tmp_path / "v.db"
    assert _crawl(replica, db, tmp_path).returncode == 0
    out = small_fs("8m") / "corpus"
    out.mkdir()
    small_fs("8m", ro=True)

    refused = _export(db, out, tmp_path)

    assert refused.returncode == 1
    assert _clear_message(refused.stderr, "not writable"), refused.stderr[-2000:]
    small_fs("8m", ro=False)
    assert _export(db, out, tmp_path).returncode == 0
    texts = {a.text for a in current_articles(db)}
    assert len(_manifest_is_whole(out, texts)) == len(texts)


def test_a_read_only_database_can_still_be_read_by_stats_and_export(
    make_replica: MakeReplica, tmp_path: Path, small_fs: Mount
) -> None:
    """b2de816: "vksnd stats: database is read-only: PATH", exit 1 (export the same): WAL wants
    its -shm beside the file."""
    replica = make_replica(articles=20, seed=78, redirects=0)
    db = small_fs("8m") / "v.db"
    assert _crawl(replica, db, tmp_path).returncode == 0
    texts = {a.text for a in current_articles(db)}
    small_fs("8m", ro=True)
    stats = run_cli("stats", "--db", str(db), "--json", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["articles"] == len(texts)
    out = tmp_path / "corpus"
    exported = _export(db, out, tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert len(_manifest_is_whole(out, texts)) == len(texts)
