"""Where a crawl's CPU goes: a backfill beside its parts, on the same replica pages (issue 17,
targets 1 and 2).

    python bench/crawl_cost.py                       # 3 rounds, 4,000 articles, concurrency 32
    python bench/crawl_cost.py --profile             # + py-spy and cProfile of one backfill

In one run, against one replica process (50 ms added latency, its own process and GIL):

- bare: a bare httpx GET loop over the article pages (``bench/crawl.py``'s), nothing parsed;
- parse: vksnd's parse step (``parse_article_pages``, batches of ``DEFAULT_PARSE_BATCH``) alone,
  in one process, on the bodies the replica served;
- store: vksnd's store alone (``SqliteStore.store_articles``, batches of ``DEFAULT_STORE_BATCH``,
  archive on) on those articles and pages, into an empty database;
- backfill / crawl: ``vksnd backfill`` (and ``vksnd crawl``) end to end on an empty database,
  politeness lifted as in ``bench/crawl.py``.

CPU is user + system of the process tree from /proc (threads and pool workers included).
Each process's start (interpreter and imports) is measured apart and taken off, so the rows
compare the work per page; "raw" columns keep it. The target: backfill CPU per stored page
<= 1.25 x (bare + parse + store). Rounds interleave the tools, so a noisy neighbour hits
all of them; the ratios are per round, then min/median/max.

``--profile`` runs one more backfill under py-spy (all threads, native frames off, 250 Hz) and
one under cProfile (the event loop's thread: call counts), and prints where the CPU went by
component and the top functions outside fetch, parse and store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crawl import LIFTED, Replica, _env, _table, replica, run_measured

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTICLES = 4_000
DEFAULT_LATENCY_MS = 50
DEFAULT_CONCURRENCY = 32
STARTUP_IMPORTS = (
    "import vksnd.crawler.cli.main, vksnd.crawler.crawl.passes, vksnd.crawler.crawl.backfill,"
    " vksnd.parsers.article, vksnd.storage.sqlite, httpx, selectolax.lexbor"
)


@dataclass(frozen=True, slots=True)
class Run:
    tool: str
    pages: int  # pages fetched (articles + listings) or handled
    stored: int  # articles stored (the per-page denominator of the target)
    seconds: float
    cpu: float  # whole process tree, start included
    start_cpu: float  # what starting the process costs (measured apart)

    @property
    def net(self) -> float:
        return max(0.0, self.cpu - self.start_cpu)

    def per(self, count: int) -> float:
        return self.net / count * 1000 if count else 0.0


# -- children ----------------------------------------------------------------------------------


def child_bodies(base_url: str, out: str) -> None:
    """Fetch every article page once (for the parse and store rows), 32 at a time."""
    import httpx

    truth = httpx.get(base_url + "/_replica/truth.json", timeout=60).json()
    urls = [item["canonical_url"] for item in truth["articles"]]

    async def fetch_all() -> list[tuple[str, str, tuple[tuple[str, str], ...], bytes]]:
        gate = asyncio.Semaphore(32)
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(url: str) -> tuple[str, str, tuple[tuple[str, str], ...], bytes]:
                async with gate:
                    response = await client.get(url)
                response.raise_for_status()
                return url, str(response.url), tuple(response.headers.items()), response.content

            return list(await asyncio.gather(*(one(url) for url in urls)))

    Path(out).write_bytes(pickle.dumps(asyncio.run(fetch_all())))


def child_parse(bodies: str, out: str) -> None:
    from vksnd.crawler.config import DEFAULT_PARSE_BATCH
    from vksnd.crawler.crawl.parse_pool import ParseJob, parse_article_pages

    pages = pickle.loads(Path(bodies).read_bytes())
    jobs = [
        ParseJob(body, final, dict(headers).get("content-type"), None)
        for _, final, headers, body in pages
    ]
    c0, w0 = time.process_time(), time.perf_counter()
    parsed = []
    for start in range(0, len(jobs), DEFAULT_PARSE_BATCH):
        parsed.extend(parse_article_pages(jobs[start : start + DEFAULT_PARSE_BATCH]))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    ok = sum(p.article is not None for p in parsed)
    Path(out).write_text(json.dumps({"cpu": cpu, "wall": wall, "pages": len(jobs), "ok": ok}))


def child_store(bodies: str, db: str, out: str) -> None:
    from vksnd.crawler.config import DEFAULT_STORE_BATCH
    from vksnd.crawler.crawl.parse_pool import ParseJob, parse_article_page
    from vksnd.storage.records import RawPage, StoreRequest
    from vksnd.storage.sqlite import SqliteStore, StoreConfig

    pages = pickle.loads(Path(bodies).read_bytes())
    now = datetime.now(UTC)
    requests = []
    for url, final, headers, body in pages:
        parsed = parse_article_page(ParseJob(body, final, dict(headers).get("content-type"), None))
        if parsed.article is not None:
            raw = RawPage(url, final, 200, headers, body, now)
            requests.append(StoreRequest(parsed.article, raw, dict(headers).get("etag"), None))

    async def store() -> int:
        stored = 0
        async with await SqliteStore.open(Path(db), StoreConfig()) as st:
            for start in range(0, len(requests), DEFAULT_STORE_BATCH):
                results = await st.store_articles(requests[start : start + DEFAULT_STORE_BATCH])
                stored += sum(r.outcome.value in ("new", "new_version") for r in results)
        return stored

    c0, w0 = time.process_time(), time.perf_counter()
    stored = asyncio.run(store())
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    Path(out).write_text(
        json.dumps({"cpu": cpu, "wall": wall, "pages": len(requests), "stored": stored})
    )


def child_cprofile(out: str, argv: list[str]) -> None:
    """``vksnd ARGV`` under cProfile timed by the main thread's own CPU (``thread_time``): the
    event loop's CPU by function, without the time it sleeps in ``epoll``."""
    import cProfile
    import runpy

    profile = cProfile.Profile(time.thread_time)
    sys.argv = ["vksnd", *argv]
    profile.enable()
    try:
        runpy.run_module("vksnd.crawler", run_name="__main__")
    except SystemExit:
        pass
    finally:
        profile.disable()
        profile.dump_stats(out)


# -- the parent --------------------------------------------------------------------------------


def start_cpu(code: str, rounds: int = 3) -> float:
    """CPU seconds of starting a process that imports what ``code`` imports (median)."""
    spent = []
    for _ in range(rounds):
        before = os.times()
        subprocess.run([sys.executable, "-c", code], check=True, env=_env(), cwd=ROOT)
        after = os.times()
        spent.append(
            after.children_user
            - before.children_user
            + after.children_system
            - before.children_system
        )
    return statistics.median(spent)


def bare(server: Replica, concurrency: int, start: float) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        argv = [
            sys.executable,
            str(ROOT / "bench" / "crawl.py"),
            "_bare",
            server.url,
            str(concurrency),
            str(stats),
        ]
        _, cpu, _ = run_measured(argv, server, tmp)
        data = json.loads(stats.read_text())
    return Run("bare httpx loop", data["pages"], data["pages"], data["seconds"], cpu, start)


def vksnd(server: Replica, command: str, concurrency: int, start: float) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            "-m",
            "vksnd.crawler",
            command,
            *(["--since", "1990-01-01"] if command == "backfill" else []),
            "--base-url",
            server.url,
            "--db",
            str(Path(tmp) / "bench.db"),
            "--host-concurrency",
            str(concurrency),
            "--global-concurrency",
            str(concurrency),
            "--log-format",
            "json",
            *LIFTED,
        ]
        stderr, cpu, _ = run_measured(argv, server, tmp)
    for line in stderr.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == f"{'backfill' if command == 'backfill' else 'crawl'}_pass":
            pages = int(event["pages_fetched"]) + int(event["listing_pages"])
            stored = int(event["new_articles"]) + int(event["new_versions"])
            return Run(f"vksnd {command}", pages, stored, event["duration_ms"] / 1000, cpu, start)
    raise RuntimeError(f"no {command}_pass event in the log:\n{stderr[-2000:]}")


def in_process(kind: str, bodies: Path, start: float) -> Run:
    """The parse or store row: CPU counted inside the child, after its imports and loading."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        extra = [str(Path(tmp) / "store.db")] if kind == "store" else []
        subprocess.run(
            [sys.executable, __file__, f"_{kind}", str(bodies), *extra, str(out)],
            check=True,
            env=_env(),
            cwd=ROOT,
        )
        data = json.loads(out.read_text())
    stored = data.get("stored", data.get("ok", data["pages"]))
    return Run(f"vksnd {kind} alone", data["pages"], stored, data["wall"], data["cpu"], 0.0)


def rounds(articles: int, latency: int, concurrency: int, count: int) -> list[dict[str, Run]]:
    vksnd_start = start_cpu(STARTUP_IMPORTS)
    bare_start = start_cpu("import httpx, asyncio, json")
    results = []
    with replica(articles, latency) as server, tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.pickle"
        subprocess.run(
            [sys.executable, __file__, "_bodies", server.url, str(bodies)],
            check=True,
            env=_env(),
            cwd=ROOT,
        )
        bare(server, concurrency, bare_start)  # warm the replica's page cache
        for n in range(count):
            one = {
                "bare": bare(server, concurrency, bare_start),
                "parse": in_process("parse", bodies, 0.0),
                "store": in_process("store", bodies, 0.0),
                "backfill": vksnd(server, "backfill", concurrency, vksnd_start),
                "crawl": vksnd(server, "crawl", concurrency, vksnd_start),
            }
            results.append(one)
            print(
                f"  round {n + 1}: "
                + ", ".join(
                    f"{k} {r.per(r.stored):.2f} ms/page {r.pages / r.seconds:.0f}/s"
                    for k, r in one.items()
                ),
                file=sys.stderr,
            )
    return results


def _mmm(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(med)} ({fmt.format(lo)}-{fmt.format(hi)})"


def report(results: list[dict[str, Run]], concurrency: int, latency: int) -> str:
    lines = []
    rows = []
    for key in ("bare", "parse", "store", "backfill", "crawl"):
        runs = [r[key] for r in results]
        first = runs[0]
        rows.append(
            (
                first.tool,
                first.pages,
                first.stored,
                _mmm([r.per(r.stored) for r in runs]),
                _mmm([r.cpu / r.stored * 1000 for r in runs]),
                _mmm([r.pages / r.seconds for r in runs], "{:.0f}")
                if key not in ("parse", "store")
                else "-",
            )
        )
    lines.append(
        _table(
            ("row", "pages", "stored", "CPU ms/stored page", "raw (start incl.)", "pages/s"), rows
        )
    )
    bound = [
        r["bare"].per(r["bare"].stored)
        + r["parse"].per(r["parse"].stored)
        + r["store"].per(r["store"].stored)
        for r in results
    ]
    ratio = [
        r["backfill"].per(r["backfill"].stored) / b for r, b in zip(results, bound, strict=True)
    ]
    rate = [
        (r["crawl"].pages / r["crawl"].seconds) / (r["bare"].pages / r["bare"].seconds)
        for r in results
    ]
    rate_b = [
        (r["backfill"].pages / r["backfill"].seconds) / (r["bare"].pages / r["bare"].seconds)
        for r in results
    ]
    lines.append("")
    lines.append(f"bare + parse + store: {_mmm(bound)} ms/page")
    lines.append(f"target 1: backfill / (bare + parse + store) = {_mmm(ratio)}  (target <= 1.25)")
    lines.append(
        f"target 2: crawl pages/s / bare pages/s at {concurrency} = {_mmm(rate, '{:.0%}')}"
        f"  (target >= 90%); backfill {_mmm(rate_b, '{:.0%}')};"
        f" bound {concurrency / latency * 1000:.0f}/s"
    )
    return "\n".join(lines)


def _task_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` so far (tid -> seconds)."""
    spent = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return spent
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        spent[tid] = (int(fields[11]) + int(fields[12])) / tick
    return spent


def thread_split(server: Replica, concurrency: int) -> str:
    """One backfill with its threads' CPU read from /proc every 50 ms: the event loop's own
    thread against the others (parse threads, the SQLite connection threads, compression)."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            "-m",
            "vksnd.crawler",
            "backfill",
            "--since",
            "1990-01-01",
            "--base-url",
            server.url,
            "--db",
            str(Path(tmp) / "t.db"),
            "--host-concurrency",
            str(concurrency),
            "--global-concurrency",
            str(concurrency),
            "--log-format",
            "json",
            *LIFTED,
        ]
        proc = subprocess.Popen(
            argv, env=_env(), cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        seen: dict[int, float] = {}
        assert proc.stderr is not None
        with proc.stderr:
            while proc.poll() is None:
                for tid, cpu in _task_cpu(proc.pid).items():
                    seen[tid] = max(cpu, seen.get(tid, 0.0))
                time.sleep(0.05)
            stderr = proc.stderr.read()
    stored = 0
    for line in stderr.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "backfill_pass":
            stored = int(event["new_articles"]) + int(event["new_versions"])
    main = seen.pop(proc.pid, 0.0)
    others = sorted(seen.values(), reverse=True)
    lines = [f"threads of one backfill ({stored} stored; CPU ms per stored page, /proc):"]
    lines.append(f"  event loop (main thread)  {main / stored * 1000:.2f}")
    lines += [
        f"  other thread {n + 1:<12} {cpu / stored * 1000:.2f}"
        for n, cpu in enumerate(others)
        if cpu / stored * 1000 >= 0.01
    ]
    return "\n".join(lines)


# -- profiles ----------------------------------------------------------------------------------

COMPONENTS = (  # frames read "func (path:line)", paths relative to sys.path
    ("parse (vksnd.parsers, selectolax)", ("(parsers/", "selectolax/")),
    (
        "store (vksnd.storage, sqlite3, aiosqlite, isal)",
        ("(storage/", "sqlite3/", "aiosqlite/", "isal/"),
    ),
    ("vksnd fetch layer (crawler/fetch)", ("(crawler/fetch/",)),
    (
        "httpx stack (httpx, httpcore, h11, anyio)",
        ("httpx/", "httpcore/", "h11/", "anyio/", "sniffio/", "ssl.py", "socket.py", "idna/"),
    ),
    ("logging", ("logging/", "(crawler/cli/logs.py")),
    ("vksnd crawl (pipeline, discovery, passes)", ("(crawler/",)),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
    ("threads, futures, queues", ("threading.py", "concurrent/futures", "queue.py")),
    ("imports", ("importlib", "<frozen")),
)


def classify(stack: list[str]) -> str:
    """The component of a sample: the innermost frame that belongs to a known component."""
    for frame in reversed(stack):
        for name, marks in COMPONENTS:
            if any(mark in frame for mark in marks):
                return name
    return "other"


def profile_pyspy(server: Replica, concurrency: int, out: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            "py-spy",
            "record",
            "--rate",
            "250",
            "--format",
            "raw",
            "--threads",
            "--subprocesses",
            "-o",
            str(out),
            "--",
            sys.executable,
            "-m",
            "vksnd.crawler",
            "backfill",
            "--since",
            "1990-01-01",
            "--base-url",
            server.url,
            "--db",
            str(Path(tmp) / "p.db"),
            "--host-concurrency",
            str(concurrency),
            "--global-concurrency",
            str(concurrency),
            *LIFTED,
        ]
        subprocess.run(
            argv,
            check=True,
            env=_env(),
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    by_component: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    main_by_component: Counter[str] = Counter()
    leaves: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        frames = stack_text.split(";")
        n = int(count)
        total += n
        process = frames[0].split(":", 1)[0].removeprefix("process ")
        thread = next((f for f in frames if f.startswith("thread ")), "?")
        body = [f for f in frames if not f.startswith(("process ", "thread "))]
        component = classify(body)
        by_component[component] += n
        main_thread = thread.startswith(f"thread ({process})")
        if main_thread:
            main_by_component[component] += n
        name = thread.split(": ", 1)[1] if ": " in thread else thread
        by_thread["event loop (main thread)" if main_thread else name.rstrip("_0123456789")] += n
        if not any(component.startswith(c) for c in ("parse", "store", "fetch")):
            leaves[(component, body[-1] if body else "?")] += n
    lines = [f"py-spy: {total} samples at 250 Hz ({total / 250:.1f} CPU s)", "", "by component:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_component.most_common()]
    main = sum(main_by_component.values()) or 1
    lines += ["", "the event loop's thread by component (target 2: where the loop goes):"]
    lines += [f"  {n / main:6.1%}  {name}" for name, n in main_by_component.most_common()]
    lines += ["", "by thread:"] + [
        f"  {n / total:6.1%}  {name}" for name, n in by_thread.most_common(8)
    ]
    lines += ["", "top innermost frames outside fetch, parse and store:"]
    lines += [
        f"  {n / total:6.1%}  [{c.split(' ')[0]}] {f[:110]}" for (c, f), n in leaves.most_common(25)
    ]
    return "\n".join(lines)


def profile_cprofile(server: Replica, concurrency: int, out: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(out),
            "-m",
            "vksnd.crawler",
            "backfill",
            "--since",
            "1990-01-01",
            "--base-url",
            server.url,
            "--db",
            str(Path(tmp) / "p.db"),
            "--host-concurrency",
            str(concurrency),
            "--global-concurrency",
            str(concurrency),
            "--log-format",
            "json",
            *LIFTED,
        ]
        proc = subprocess.run(
            argv,
            env=_env(),
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    pages = 0
    for line in proc.stderr.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "backfill_pass":
            pages = int(event["pages_fetched"]) + int(event["listing_pages"])
    stats = pstats.Stats(str(out))
    rows = []
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in entries.values())
    for (path, line, func), (_, ncalls, tt, ct, _) in sorted(
        entries.items(), key=lambda kv: kv[1][2], reverse=True
    )[:30]:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if path != "~" else "~"
        rows.append(
            (
                f"{func[:40]}",
                where[-48:],
                f"{tt / total:.1%}",
                f"{ct / total:.1%}",
                f"{ncalls / max(pages, 1):.1f}",
            )
        )
    head = f"cProfile of the event loop's thread (its CPU): {pages} pages, {total:.2f} CPU s\n"
    return head + _table(("function", "where", "self", "cumulative", "calls/page"), rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_bodies"]:
        child_bodies(args[1], args[2])
        return 0
    if args[:1] == ["_cprofile"]:
        child_cprofile(args[1], args[2:])
        return 0
    if args[:1] == ["_parse"]:
        child_parse(args[1], args[2])
        return 0
    if args[:1] == ["_store"]:
        child_store(args[1], args[2], args[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=DEFAULT_ARTICLES)
    parser.add_argument("--latency-ms", type=int, default=DEFAULT_LATENCY_MS)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="+ py-spy and cProfile runs")
    parser.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()))
    options = parser.parse_args(args)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {options.articles} articles,"
        f" {options.latency_ms} ms latency, concurrency {options.concurrency}"
    )
    if options.rounds:
        results = rounds(options.articles, options.latency_ms, options.concurrency, options.rounds)
        print()
        print(report(results, options.concurrency, options.latency_ms))
    if options.profile:
        with replica(options.articles, options.latency_ms) as server:
            print()
            print(thread_split(server, options.concurrency))
            print()
            print(
                profile_pyspy(
                    server, options.concurrency, options.profile_dir / "vksnd-backfill.pyspy.txt"
                )
            )
            print()
            print(
                profile_cprofile(
                    server, options.concurrency, options.profile_dir / "vksnd-backfill.prof"
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
