"""``vksnd reparse`` with a pool of parser processes, as real subprocesses on real SQLite files:
the same stored result as one process, safe to stop at any point, and a progress bar that
counts right (issue 17, target 5)."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import os
import pty
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import termios
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from support.crawl import cli, count, integrity, run_cli, subprocess_env
from support.processes import wait_for_empty_group
from support.storage import ROOT
from vksnd.fixtures.generator import build_site
from vksnd.fixtures.layouts import encode_page, render_portal
from vksnd.fixtures.urls import article_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.hashing import content_hash
from vksnd.storage.records import RawPage, StoreRequest, UrlKind
from vksnd.storage.sqlite import SqliteStore

BASE = "https://vksndtc.gov.vn"
CHROME = "\n\nCỡ chữ: Tương phản"  # a line an older, sloppier parser left in the text
SUMMARY = re.compile(r"^(\d+) archived pages re-extracted: (\d+) changed, (\d+) unchanged", re.M)


def _fill(db: Path, articles: int) -> dict[str, int]:
    """A store as an older parser left it: most texts with a chrome line (reparse changes
    them), some already clean, some pages archived under a second URL (duplicates of the
    first), a body that is no article, and pages refused then that are articles now."""
    site = build_site(articles, seed=23)[:articles]
    fetched = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    expected = {"pages": 0, "changed_at_least": 0}

    def requests() -> list[StoreRequest]:
        out = []
        for i, item in enumerate(site):
            url = BASE + article_path(item)
            body, content_type = encode_page(render_portal(item, url), "utf-8")
            parsed = parse_article(body, url, content_type)
            headers = (("Content-Type", content_type),)
            if i % 7 == 0:
                stored = parsed  # already clean: unchanged
            else:
                sloppy = parsed.text + CHROME
                stored = dataclasses.replace(parsed, text=sloppy, content_hash=content_hash(sloppy))
                expected["changed_at_least"] += 1
            if i % 31 == 5:
                body = b"<html><body><p>empty</p></body></html>"  # no article any more
            out.append(StoreRequest(stored, RawPage(url, url, 200, headers, body, fetched)))
            if i % 13 == 3:  # the same page under a second address: a duplicate
                twin = url.replace(".html", "-ban-in.html")
                twin_article = dataclasses.replace(stored, url=twin, canonical_url=twin)
                out.append(
                    StoreRequest(twin_article, RawPage(twin, twin, 200, headers, body, fetched))
                )
        return out

    async def fill() -> None:
        async with await SqliteStore.open(db) as store:
            batch = requests()
            for start in range(0, len(batch), 200):
                await store.store_articles(batch[start : start + 200])
            expected["pages"] += len(batch)
            for i, item in enumerate(build_site(articles + 6, seed=24)[-6:]):
                url = BASE + article_path(item).replace(".html", f"-r{i}.html")
                body, content_type = encode_page(render_portal(item, url), "utf-8")
                headers = (("Content-Type", content_type),)
                raw = RawPage(url, url, 200, headers, body, fetched)
                await store.record_page(raw, UrlKind.OTHER, None, None, not_article="empty")
                expected["pages"] += 1

    asyncio.run(fill())
    return expected


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    db = tmp_path_factory.mktemp("reparse") / "small.db"
    return db, _fill(db, 240)


@pytest.fixture(scope="module")
def large_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    db = tmp_path_factory.mktemp("reparse") / "large.db"
    return db, _fill(db, 2500)


def _copy(db: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(db, to)
    return to


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything reparse may write, without wall-clock columns."""
    queries = {
        "articles": "SELECT id, seq, root_id, content_hash, url, canonical_url, article_key,"
        " title, text, supersedes, superseded_by, reverts_to, is_current, page_id"
        " FROM articles ORDER BY id",
        "article_urls": "SELECT url, root_id, content_hash FROM article_urls ORDER BY url",
        "urls": "SELECT url, kind, state, not_article, article_id FROM urls ORDER BY url",
        "pages": "SELECT id, url, kind, body_sha256 FROM pages ORDER BY id",
    }
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}


def summary(stdout: str) -> tuple[int, int, int]:
    match = SUMMARY.search(stdout)
    assert match is not None, stdout
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def assert_consistent(db: Path) -> None:
    assert integrity(db) == "ok"
    # every chain has exactly one current version
    assert count(db, "SELECT count(DISTINCT root_id) FROM articles") == count(
        db, "SELECT count(*) FROM articles WHERE is_current = 1"
    )
    stale = "SELECT count(*) FROM articles WHERE is_current = 1 AND superseded_by IS NOT NULL"
    assert count(db, stale) == 0


def test_a_pool_stores_exactly_what_one_process_stores(
    small_store: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    db, expected = small_store
    one = _copy(db, tmp_path / "one" / "v.db")
    pool = _copy(db, tmp_path / "pool" / "v.db")
    first = run_cli("reparse", "--db", str(one), "--workers", "1", cwd=ROOT, timeout=120)
    second = run_cli("reparse", "--db", str(pool), "--workers", "2", cwd=ROOT, timeout=120)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout  # the report too, counters and reasons
    pages, changed, _ = summary(first.stdout)
    assert pages == expected["pages"]
    assert changed >= expected["changed_at_least"] - 10  # a few bodies are no article now
    assert "parse error: not an article" in first.stdout
    assert "are articles now" in first.stdout
    before = dump(db)
    after = dump(one)
    assert after != before  # the run did something worth comparing
    assert dump(pool) == after
    assert_consistent(pool)
    again = run_cli("reparse", "--db", str(pool), "--workers", "2", cwd=ROOT, timeout=120)
    assert again.returncode == 0 and summary(again.stdout)[1] == 0, again.stdout


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill", "interrupt"])
def test_a_pool_run_stopped_midway_leaves_a_consistent_store_a_rerun_finishes(
    large_store: tuple[Path, dict[str, int]], tmp_path: Path, sig: signal.Signals
) -> None:
    db, expected = large_store
    reference = _copy(db, tmp_path / "ref" / "v.db")
    stopped = _copy(db, tmp_path / "stopped" / "v.db")
    done = run_cli("reparse", "--db", str(reference), "--workers", "2", cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    versions = "SELECT count(*) FROM articles WHERE supersedes IS NOT NULL"
    total_changed = count(reference, versions)
    assert total_changed >= expected["changed_at_least"] - 100

    proc = subprocess.Popen(
        cli("reparse", "--db", str(stopped), "--workers", "2"), cwd=ROOT,
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while count(stopped, versions) < 50:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "reparse stored nothing in 120 s"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 130), err
    assert wait_for_empty_group(proc.pid) == []  # no parser process outlived it
    stored_then = count(stopped, versions)
    assert 50 <= stored_then < total_changed, "stopped too late to test anything"
    assert_consistent(stopped)

    # the writer lock went with the process (no worker kept it): the rerun is not refused
    rerun = run_cli("reparse", "--db", str(stopped), "--workers", "2", cwd=ROOT, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert 0 < summary(rerun.stdout)[1] < summary(done.stdout)[1]
    assert_consistent(stopped)
    # pages are stored in page order, one transaction each: a run stopped anywhere and
    # finished by a rerun leaves what one run leaves, row for row
    assert dump(stopped) == dump(reference)


def _run_on_a_terminal(*argv: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (a progress bar draws only on one)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        cli(*argv), cwd=ROOT, env=subprocess_env(),
        stdout=subprocess.PIPE, stderr=follower, text=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    stdout, _ = proc.communicate(timeout=120)
    return proc.returncode, stdout, b"".join(chunks).decode("utf-8", "replace")


def test_the_progress_bar_counts_pages_to_the_total(
    small_store: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    db = _copy(small_store[0], tmp_path / "v.db")
    code, stdout, terminal = _run_on_a_terminal("reparse", "--db", str(db), "--workers", "2")
    assert code == 0, terminal
    pages = summary(stdout)[0]
    counts = [(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) \[", terminal)]
    assert counts, terminal
    assert {total for _, total in counts} == {pages}
    done = [n for n, _ in counts]
    assert done == sorted(done) and done[-1] == pages
    assert "100%" in terminal and "page/s" in terminal


def test_no_bar_off_a_terminal_or_with_quiet(
    small_store: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    db = _copy(small_store[0], tmp_path / "v.db")
    piped = run_cli("reparse", "--db", str(db), "--workers", "2", cwd=ROOT, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""
    code, _, terminal = _run_on_a_terminal("reparse", "--db", str(db), "--quiet")
    assert code == 0 and terminal == ""


def test_workers_must_be_positive(tmp_path: Path) -> None:
    result = run_cli("reparse", "--db", str(tmp_path / "v.db"), "--workers", "0", cwd=ROOT)
    assert result.returncode == 2 and "at least 1 worker" in result.stderr
