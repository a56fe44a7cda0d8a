"""``vksnd reparse`` on one core and on every core, side by side (issue 17, target 5).

    python bench/reparse.py                  # 100,000 archived portal pages, 3 rounds
    python bench/reparse.py --pages 20000 --rounds 5

Builds once (kept under ``--work``, default ``/tmp/vksnd-reparse``) a store of replica article
pages archived as a backfill leaves them: each page rendered by the replica's templates, parsed
by vksnd and stored through ``SqliteStore.store_articles`` (archive on). Then each round runs
``vksnd reparse --quiet`` as a subprocess with ``--workers 1`` and with ``--workers N`` (default:
one per core), alternating which goes first, and prints pages/s of each (the whole command:
start, counting and storing included) and the pool's speed-up per round, min/median/max. The
parser is the one that built the store, so every page compares unchanged: the run is the same
each time and leaves the store as it was. CPU is the reparse process's own (with what it waited
for): the pool's workers are the fork server's children, not counted, so with a pool it is the
parent's share per page (reading the archive, sending chunks, storing), the part that must stay
small for the workers to scale.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vksnd.fixtures.generator import build_site
from vksnd.fixtures.layouts import encode_page, render_portal
from vksnd.fixtures.model import SiteArticle
from vksnd.fixtures.urls import article_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.records import Article
from vksnd.storage.records import RawPage, StoreRequest
from vksnd.storage.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://vksndtc.gov.vn"
DEFAULT_PAGES = 100_000
DEFAULT_WORK = Path("/tmp/vksnd-reparse")
_BUILD_CHUNK = 500
_PAGES_LINE = re.compile(r"^(\d+) archived pages re-extracted: (\d+) changed", re.M)


@functools.cache
def _site(count: int) -> list[SiteArticle]:
    return build_site(count, seed=17)


def _render_chunk(start: int, stop: int, count: int) -> list[tuple[Article, RawPage]]:
    site = _site(count)[start:stop]  # once per build process
    fetched = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i, item in enumerate(site, start):
        url = BASE + article_path(item)
        body, content_type = encode_page(render_portal(item, url), "utf-8")
        article = parse_article(body, url, content_type)
        raw = RawPage(url, url, 200, (("Content-Type", content_type),), body,
                      fetched + timedelta(seconds=i))  # fmt: skip
        out.append((article, raw))
    return out


async def _store(db: Path, chunks: concurrent.futures.Executor, pages: int) -> None:
    async with await SqliteStore.open(db) as store:
        loop = asyncio.get_running_loop()
        bounds = [(i, min(i + _BUILD_CHUNK, pages)) for i in range(0, pages, _BUILD_CHUNK)]
        futures = [loop.run_in_executor(chunks, _render_chunk, a, b, pages) for a, b in bounds]
        for done, future in enumerate(futures, 1):
            rendered = await future
            await store.store_articles([StoreRequest(a, raw) for a, raw in rendered])
            if done % 20 == 0:
                print(f"  built {done * _BUILD_CHUNK:,} pages", file=sys.stderr)


def build(db: Path, pages: int) -> None:
    if db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    partial = db.with_suffix(".partial")
    for leftover in db.parent.glob(partial.name + "*"):
        leftover.unlink()
    started = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor() as pool:
        asyncio.run(_store(partial, pool, pages))
    partial.rename(db)
    print(f"built {db} ({pages:,} pages) in {time.monotonic() - started:.0f} s", file=sys.stderr)


def _group_cpu(pgid: int, seen: dict[int, float]) -> None:
    """CPU seconds so far of every process in the group (the command and its pool's workers),
    kept per pid so a worker that has exited keeps its last reading."""
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            seen[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick


def reparse_once(db: Path, workers: int) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds of the reparse process and of all its processes (sampled
    every 50 ms from /proc: a worker's last 50 ms may be missed), pages re-extracted."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vksnd.crawler", "reparse", "--db", str(db), "--quiet",
         "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    seen: dict[int, float] = {}
    while proc.poll() is None:
        _group_cpu(proc.pid, seen)
        time.sleep(0.05)
    stdout = proc.stdout.read() if proc.stdout is not None else ""
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    others = sum(cpu for pid, cpu in seen.items() if pid != proc.pid)
    match = _PAGES_LINE.search(stdout)
    if proc.returncode != 0 or match is None or match.group(2) != "0":
        raise SystemExit(f"unexpected reparse output: {stdout!r}")
    return wall, own, own + others, int(match.group(1))


def _mmm(values: Sequence[float], fmt: str) -> str:
    return (
        f"{fmt.format(statistics.median(values))}"
        f" ({fmt.format(min(values))}-{fmt.format(max(values))})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    options = parser.parse_args(argv)
    db = options.work / f"reparse-{options.pages}.db"
    build(db, options.pages)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f};"
        f" {db}: reparse --workers 1 against --workers {options.workers}"
    )
    rates: dict[int, list[float]] = {1: [], options.workers: []}
    own_ms: dict[int, list[float]] = {1: [], options.workers: []}
    all_ms: dict[int, list[float]] = {1: [], options.workers: []}
    speedups = []
    for n in range(options.rounds):
        order = [1, options.workers] if n % 2 == 0 else [options.workers, 1]
        this: dict[int, float] = {}
        for workers in order:
            wall, own, total, pages = reparse_once(db, workers)
            this[workers] = pages / wall
            rates[workers].append(pages / wall)
            own_ms[workers].append(own / pages * 1000)
            all_ms[workers].append(total / pages * 1000)
            print(
                f"  round {n + 1}, --workers {workers}: {pages:,} pages in {wall:.1f} s,"
                f" {pages / wall:,.0f} pages/s, CPU {own / pages * 1000:.3f} ms/page in the"
                f" reparse process, {total / pages * 1000:.3f} in all, load"
                f" {os.getloadavg()[0]:.1f}"
            )
        speedups.append(this[options.workers] / this[1])
    print()
    print("| reparse | pages/s | CPU ms/page: reparse process | all processes |")
    print("|---|---|---|---|")
    for workers in rates:
        label = "one process (`--workers 1`)" if workers == 1 else f"`--workers {workers}`"
        print(
            f"| {label} | {_mmm(rates[workers], '{:,.0f}')} | {_mmm(own_ms[workers], '{:.3f}')}"
            f" | {_mmm(all_ms[workers], '{:.3f}')} |"
        )
    print(f"| speed-up, per round | {_mmm(speedups, '{:.2f}×')} | | target ≥ 1.70× |")
    # On free cores: one process runs at 1 / its CPU per page; the pool at the slower of its
    # workers (cores / their CPU per page) and its parent (1 / the parent's CPU per page).
    single = statistics.median(all_ms[1])
    parent = statistics.median(own_ms[options.workers])
    workers_ms = statistics.median(all_ms[options.workers]) - parent
    cores = min(options.workers, len(os.sched_getaffinity(0)))
    pool = min(cores / (workers_ms + parent), 1 / parent) if parent > 0 else 0.0
    print(
        f"On {cores} free cores, from the CPU per page (medians): one process"
        f" {1000 / single:,.0f} pages/s, the pool {1000 * pool:,.0f} pages/s"
        f" ({pool * single:.2f}×); figures in median (min-max) of {options.rounds} rounds."
    )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
