"""Crawl benchmarks against the replica, printed as tables.

    python bench/crawl.py                      # everything (about 3-4 minutes on 2 cores)
    python bench/crawl.py --only throughput    # vksnd (+ Scrapy) pages/s at concurrency 8 and 32
    python bench/crawl.py --only rss           # peak RSS of a 20,000-article backfill

Throughput: the replica runs in its own process with 50 ms added to every page; vksnd runs
``vksnd crawl`` (politeness lifted: high rate, robots ignored) in a subprocess on an empty
database, and its pages/s (listing + article pages over the pass's duration) is set beside the
bound ``concurrency / latency``. Scrapy (``bench`` extra) crawls the same replica, same
concurrency, parsing articles with trafilatura; it writes no database. Both parse executors
(thread, process) are measured for vksnd. A bare httpx loop (same concurrency, one connection
per slot, bodies read, nothing parsed or stored) fetches the same article pages: the ceiling
the machine leaves any httpx crawler. Each row also gives the CPU time per page of the tool's
processes (startup included) and of the replica, which shares the machine's cores.

RSS: ``vksnd backfill`` of a 20,000-article replica (no latency), sampled from /proc every
0.1 s with the number of stored articles; the table gives the RSS at 5,000 stored and the peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 50
THROUGHPUT_ARTICLES = 4000
RSS_ARTICLES = 20_000
PAGE_SIZE = 50
LIFTED = ("--rate", "100000", "--ignore-robots", "--retry-attempts", "2")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VKSND_")}
    return env


@dataclass(frozen=True, slots=True)
class Replica:
    url: str
    pid: int


@contextmanager
def replica(articles: int, latency_ms: int) -> Iterator[Replica]:
    """The replica in its own process (its own GIL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vksnd.fixtures.portal", "--port", "0", "--articles", str(articles),
         "--latency-ms", str(latency_ms), "--page-size", str(PAGE_SIZE), "--broken", "0",
         "--redirects", "0"],
        stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("serving "):
            raise RuntimeError(f"replica did not start: {line!r}")
        yield Replica(line.removeprefix("serving "), proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process so far; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        one = stack.pop()
        found.append(one)
        try:
            stack += [int(c) for c in Path(f"/proc/{one}/task/{one}/children").read_text().split()]
        except OSError:
            continue
    return found


def run_measured(argv: Sequence[str], server: Replica, cwd: str) -> tuple[str, float, float]:
    """Run a tool to the end; its stderr, the CPU seconds of its whole process tree (a parse
    pool's workers hang off a forkserver, which nobody waits for, so rusage would miss them:
    /proc is sampled every 50 ms instead, losing at most that much of a process that ends),
    and the replica's CPU seconds meanwhile."""
    served = _cpu_seconds(server.pid) or 0.0
    proc = subprocess.Popen(argv, env=_env(), cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    seen: dict[int, float] = {}
    assert proc.stderr is not None
    with proc.stderr:
        reader = _Drain(proc.stderr)
        while proc.poll() is None:
            for one in _descendants(proc.pid):
                spent = _cpu_seconds(one)
                if spent is not None:
                    seen[one] = max(spent, seen.get(one, 0.0))
            time.sleep(0.05)
        stderr = reader.result()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[1:4]} exited {proc.returncode}:\n{stderr[-2000:]}")
    return stderr, sum(seen.values()), (_cpu_seconds(server.pid) or 0.0) - served


class _Drain:
    """Reads a pipe to the end in a thread, so a chatty tool never blocks on a full pipe."""

    def __init__(self, stream: IO[str]) -> None:
        self._chunks: list[str] = []
        self._thread = threading.Thread(target=lambda: self._chunks.append(stream.read()))
        self._thread.start()

    def result(self) -> str:
        self._thread.join()
        return "".join(self._chunks)


@dataclass(frozen=True, slots=True)
class Throughput:
    tool: str
    concurrency: int
    pages: int
    seconds: float
    cpu: float = 0.0  # CPU seconds of the tool's processes, startup included
    replica_cpu: float = 0.0

    @property
    def cpu_ms_per_page(self) -> float:
        return self.cpu / self.pages * 1000 if self.pages else 0.0

    @property
    def replica_ms_per_page(self) -> float:
        return self.replica_cpu / self.pages * 1000 if self.pages else 0.0

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def vksnd_crawl(server: Replica, concurrency: int, executor: str) -> Throughput:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "vksnd.crawler", "crawl", "--base-url", server.url,
                "--db", str(Path(tmp) / "bench.db"), "--host-concurrency", str(concurrency),
                "--global-concurrency", str(concurrency), "--parse-executor", executor,
                "--log-format", "json", *LIFTED]  # fmt: skip
        stderr, cpu, replica_cpu = run_measured(argv, server, tmp)
    for line in stderr.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "crawl_pass":
            pages = int(event["pages_fetched"]) + int(event["listing_pages"])
            return Throughput(f"vksnd ({executor})", concurrency, pages,
                              event["duration_ms"] / 1000, cpu, replica_cpu)  # fmt: skip
    raise RuntimeError(f"no crawl_pass event in the log:\n{stderr[-2000:]}")


def scrapy_crawl(server: Replica, concurrency: int) -> Throughput | None:
    try:
        import scrapy  # noqa: F401
        import trafilatura  # noqa: F401
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        argv = [sys.executable, __file__, "_scrapy", server.url, str(concurrency), str(stats)]
        _, cpu, replica_cpu = run_measured(argv, server, tmp)
        data = json.loads(stats.read_text())
    return Throughput("scrapy + trafilatura", concurrency, data["pages"], data["seconds"], cpu,
                      replica_cpu)  # fmt: skip


def bare_httpx(server: Replica, concurrency: int) -> Throughput:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        argv = [sys.executable, __file__, "_bare", server.url, str(concurrency), str(stats)]
        _, cpu, replica_cpu = run_measured(argv, server, tmp)
        data = json.loads(stats.read_text())
    return Throughput("bare httpx loop", concurrency, data["pages"], data["seconds"], cpu,
                      replica_cpu)  # fmt: skip


def run_bare(base_url: str, concurrency: int, stats_path: str) -> None:
    """Child process: GET every article page of the replica, ``concurrency`` at a time, and
    nothing else; what a crawler built on httpx could reach here if parsing and storing
    were free."""
    import httpx

    truth = httpx.get(base_url + "/_replica/truth.json", timeout=60).json()
    urls = iter([item["canonical_url"] for item in truth["articles"]])

    async def crawl() -> int:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [httpx.AsyncClient(limits=limits) for _ in range(concurrency)]
        fetched = 0

        async def fetcher(client: httpx.AsyncClient) -> None:
            nonlocal fetched
            for url in urls:
                response = await client.get(url)
                response.raise_for_status()
                fetched += 1

        try:
            await asyncio.gather(*(fetcher(client) for client in clients))
        finally:
            for client in clients:
                await client.aclose()
        return fetched

    started = time.monotonic()
    pages = asyncio.run(crawl())
    seconds = time.monotonic() - started
    Path(stats_path).write_text(json.dumps({"pages": pages, "seconds": seconds}))


def run_scrapy(base_url: str, concurrency: int, stats_path: str) -> None:
    """Child process: one Scrapy crawl of the listings and articles, stats to a JSON file."""
    import re

    import scrapy
    import trafilatura
    from scrapy.crawler import CrawlerProcess

    from vksnd.parsers.profiles.vksndtc import PROFILE

    article = re.compile(r"-[ds]\d+-t\d+\.html")
    extracted = [0]

    class PortalSpider(scrapy.Spider):
        name = "portal"
        start_urls = [  # noqa: RUF012 (Scrapy's own attribute)
            base_url + PROFILE.listing_url_template.format(cat=cat, id=cat, page=1)
            for cat in PROFILE.category_keys
        ]

        def parse(self, response: scrapy.http.Response) -> Iterator[scrapy.Request]:
            for href in response.css(".news-item a::attr(href)").getall():
                if article.search(href):
                    yield response.follow(href, self.parse_article)
            following = response.css("a.next::attr(href)").get()
            if following:
                yield response.follow(following, self.parse)

        def parse_article(self, response: scrapy.http.Response) -> None:
            if trafilatura.extract(response.text):
                extracted[0] += 1

    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": concurrency, "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": False, "AUTOTHROTTLE_ENABLED": False,
        "LOG_LEVEL": "WARNING", "COOKIES_ENABLED": False, "TELNETCONSOLE_ENABLED": False,
    })  # fmt: skip
    crawler = process.create_crawler(PortalSpider)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats()
    Path(stats_path).write_text(json.dumps({
        "pages": stats.get("response_received_count", 0),
        "seconds": stats.get("elapsed_time_seconds", 0.0),
        "extracted": extracted[0],
    }))  # fmt: skip


def bench_throughput(executors: Sequence[str]) -> list[Throughput]:
    results: list[Throughput] = []
    with replica(THROUGHPUT_ARTICLES, LATENCY_MS) as server:
        bare_httpx(server, 32)  # the replica caches each page's gzip body: warm it first
        for concurrency in (8, 32):
            results.append(bare_httpx(server, concurrency))
            for executor in executors:
                results.append(vksnd_crawl(server, concurrency, executor))
            scrapy_result = scrapy_crawl(server, concurrency)
            if scrapy_result is not None:
                results.append(scrapy_result)
    return results


def _rss_kib(pid: int) -> int:
    """VmRSS of the process and its children (a process pool counts too)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    except sqlite3.Error:
        return 0


@dataclass(frozen=True, slots=True)
class RssRun:
    articles: int
    seconds: float
    samples: list[tuple[int, int]]  # (stored articles, RSS KiB)

    def at(self, stored: int) -> int:
        return max((rss for n, rss in self.samples if n <= stored), default=0)

    @property
    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


def bench_rss(executor: str, concurrency: int = 16) -> RssRun:
    with replica(RSS_ARTICLES, 0) as server, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rss.db"
        argv = [sys.executable, "-m", "vksnd.crawler", "backfill", "--since", "1990-01-01",
                "--base-url", server.url, "--db", str(db), "--host-concurrency", str(concurrency),
                "--global-concurrency", str(concurrency), "--parse-executor", executor,
                *LIFTED]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=_env(), cwd=tmp, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        samples: list[tuple[int, int]] = []
        last_count = 0.0
        stored = 0
        while proc.poll() is None:
            now = time.monotonic()
            if now - last_count > 1.0:
                stored, last_count = _stored(db), now
            rss = _rss_kib(proc.pid)
            if rss:
                samples.append((stored, rss))
            time.sleep(0.1)
        if proc.returncode != 0:
            raise RuntimeError(f"backfill exited {proc.returncode}")
        final = _stored(db)
        return RssRun(final, time.monotonic() - started, samples)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs)

    lines = [line(row) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_scrapy"]:
        run_scrapy(args[1], int(args[2]), args[3])
        return 0
    if args[:1] == ["_bare"]:
        run_bare(args[1], int(args[2]), args[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("throughput", "rss"), default=None)
    parser.add_argument("--executors", nargs="+", default=["thread", "process"],
                        choices=("thread", "process"))  # fmt: skip
    options = parser.parse_args(args)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    if options.only in (None, "throughput"):
        results = bench_throughput(options.executors)
        rows: list[tuple[object, ...]] = []
        for r in results:
            bound = r.concurrency / (LATENCY_MS / 1000)
            rows.append((r.tool, r.concurrency, r.pages, f"{r.seconds:.1f}", f"{r.rate:.0f}",
                         f"{bound:.0f}", f"{r.rate / bound:.0%}", f"{r.cpu_ms_per_page:.2f}",
                         f"{r.replica_ms_per_page:.2f}"))  # fmt: skip
        print(f"\nThroughput: {THROUGHPUT_ARTICLES} articles, {LATENCY_MS} ms latency per page")
        headers = ("tool", "conc.", "pages", "s", "pages/s", "bound", "of bound",
                   "CPU ms/page", "replica CPU ms/page")  # fmt: skip
        print(_table(headers, rows))
        print(
            f"\nThe machine has {os.cpu_count()} cores for the tool and the replica together; at"
            " 90% of the bound at concurrency 32 (576 pages/s) they can spend at most"
            f" {(os.cpu_count() or 1) / 576 * 1000:.1f} ms of CPU per page between them."
        )
    if options.only in (None, "rss"):
        rows = []
        for executor in options.executors:
            run = bench_rss(executor)
            rows.append((f"vksnd backfill ({executor})", run.articles, f"{run.seconds:.0f}",
                         *(f"{run.at(n) / 1024:.0f}" for n in (1000, 5000, 10_000)),
                         f"{run.peak / 1024:.0f}"))  # fmt: skip
        print(f"\nMemory: backfill of {RSS_ARTICLES} articles (RSS of process + children, MiB)")
        print(_table(("run", "stored", "s", "at 1k", "at 5k", "at 10k", "peak"), rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
