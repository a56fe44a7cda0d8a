"""How each cost grows with the corpus: stores of 10k, 100k and 1M articles (issue 17, target 4).

    python bench/scale.py                                # build (or reuse) and measure 10k/100k/1M
    python bench/scale.py --sizes 10000 100000           # smaller ladder
    python bench/scale.py --reuse                        # measure the stores already built
    python bench/scale.py --clean                        # delete the work directory and stop

Build: one store grows through the store's own batch path (``SqliteStore.store_articles``, archive
on, batches of 500) and is copied aside at each size, so the 10k store is the first 10k of the 1M
one. Article ``i`` is a pure function of ``i`` (resumable: a killed build continues where its last
recorded batch ended): 3-6 KB of Vietnamese text from the seeds' sentences, a ~30 KB portal-like
page archived with it, ~5% edits of an earlier article (new versions) and ~3% republished
duplicates. Four hosts, built with the default site map: every row is of the default site
(``vksndtc``), the worst case for a pass's per-site queries, which then cover the whole store;
article numbers are kept disjoint per host. Articles
go in newest first, as a backfill stores them, 5 minutes apart: the last 14 days hold the same
~4,000 articles at every size. The frontier is left as a finished crawl leaves it: every article
URL fetched (by ``store_articles``), plus one listing page per 20 articles (fetched), ~1% failed
URLs (half due), ~0.5% gone, ~0.3% fetched-not-an-article, written with plain SQL beside the
batches (no archived listing bodies).

Measure: each operation runs in a child process (its peak RSS is the child's ``ru_maxrss``,
interpreter and imports included, ~30 MB), warm page cache, ``--repeat`` times (min/median/max).
Every SQL statement an operation runs is captured (``sqlite3`` trace callback) and shown with its
``EXPLAIN QUERY PLAN`` and its time alone at each size. The revalidation step asks as a pass
does (``crawl.revalidation.choose_rechecks``): for its site, overdue ones counted up to the due
limit, then the slice of fetched article URLs last checked longest ago.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vksnd.fixtures.text_bank import seed_sentences
from vksnd.parsers.hashing import content_hash
from vksnd.parsers.records import Article, Extractor
from vksnd.storage.records import ExportFilter, RawPage, StoreRequest
from vksnd.storage.sites import DEFAULT_SITE

DEFAULT_DIR = Path("/tmp/vksnd-scale")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
BATCH = 500
TEXT_BYTES = (3_000, 6_000)
PAGE_BYTES = 30_000
EDIT_SHARE = 0.05
DUPLICATE_SHARE = 0.03
SPACING = timedelta(minutes=5)
RECHECK_DAYS = 14  # crawler.config.DEFAULT_RECHECK_DAYS
DUE_LIMIT = 5_000  # crawler.config.DEFAULT_DUE_LIMIT
RESUME_SCAN = 20_000  # crawl.discovery.DEFAULT_RESUME_SCAN
FEED_LIMIT = 100  # service.http_api.DEFAULT_LIMIT
LISTED_URLS = 1_000
REVALIDATE_AFTER = timedelta(days=7)
REVALIDATE_SLICE = 1_000
CHANGES = 1_000  # new or edited articles before the incremental export
# (host, share, first article number, categories): article numbers disjoint per site
SITES = (
    ("vksndtc.gov.vn", 0.55, 0, ("tin-hoat-dong", "thong-tin-chung", "cai-cach-tu-phap")),
    ("vksnd.hanoi.gov.vn", 0.15, 100_000_000, ("tin-tuc", "hoat-dong")),
    ("vksnd.hochiminhcity.gov.vn", 0.15, 200_000_000, ("tin-tuc", "nghien-cuu")),
    ("baovephapluat.vn", 0.15, 300_000_000, ("kiem-sat-24h", "cong-to-kiem-sat")),
)


# -- the synthetic corpus -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """What article ``i`` of the build stream is."""

    kind: str  # new, edit, duplicate
    number: int  # the article it is (for an edit or duplicate: the earlier one's number)
    site: int


class Corpus:
    """Article ``i`` as a pure function of ``i`` and the build's end time."""

    def __init__(self, end: datetime, salt: str = "") -> None:
        self.end = end
        self.salt = salt
        self.sentences = seed_sentences()
        self.chrome = [self._chrome(host, cats) for host, _, _, cats in SITES]
        cumulative, total = [], 0.0
        for _, share, _, _ in SITES:
            total += share
            cumulative.append(total)
        self.cumulative = cumulative

    def _chrome(self, host: str, cats: tuple[str, ...]) -> tuple[str, str]:
        rng = random.Random(host)
        menu = "".join(
            f'<li class="menu-item"><a href="https://{host}/{rng.choice(cats)}/muc-{i}/">'
            f"{rng.choice(self.sentences)[:40]}</a><ul class=sub>"
            + "".join(f"<li><a href=/m{i}/{j}/>Mục {j}</a></li>" for j in range(6))
            + "</ul></li>"
            for i in range(60)
        )
        head = (
            '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title>'
            f'</head><body><form id="Form" method="post"><div id="header">{host}</div>'
            '<input type="hidden" name="__VIEWSTATE" value="{vs}">'
            f'<ul class="menu">{menu}</ul><div class="news-detail"><h1>{{title}}</h1>'
            '<div class="news-date">{date}</div><div class="news-content">'
        )
        footer = "".join(f"<p class=footer-line>{s}</p>" for s in self.sentences[:12])
        return head, "</div>{related}</div><div id=footer>" + footer + "</div></form></body></html>"

    def spec(self, i: int) -> Spec:
        rng = random.Random(f"spec{self.salt}{i}")
        roll = rng.random()
        site = self._site(rng.random())
        if i > 100 and roll < EDIT_SHARE:
            return Spec("edit", rng.randrange(i), site)
        if i > 100 and roll < EDIT_SHARE + DUPLICATE_SHARE:
            return Spec("duplicate", rng.randrange(i), site)
        return Spec("new", i, site)

    def _site(self, roll: float) -> int:
        return next((n for n, edge in enumerate(self.cumulative) if roll < edge), len(SITES) - 1)

    def base_text(self, number: int) -> str:
        rng = random.Random(f"text{number}")
        target = rng.randint(*TEXT_BYTES)
        paragraphs = [f"Bài số {number}."]
        size = 0
        while size < target:
            paragraph = " ".join(rng.choice(self.sentences) for _ in range(rng.randint(2, 5)))
            paragraphs.append(paragraph)
            size += len(paragraph.encode("utf-8")) + 2
        return "\n\n".join(paragraphs)

    def origin(self, number: int) -> Spec:
        """The ``new`` article an edit or duplicate chain ends at."""
        spec = self.spec(number)
        while spec.kind != "new":
            spec = self.spec(spec.number)
        return spec

    def url(self, number: int, site: int, alias: int | None = None) -> str:
        host, _, first, cats = SITES[site]
        cat = cats[number % len(cats)]
        if alias is not None:  # a republished copy under a number of its own
            number = alias
        key = first + number
        return f"https://{host}/{cat}/bai-viet-so-{number}-d{number % 9 + 1}-t{key}.html"

    def request(self, i: int) -> tuple[StoreRequest, str]:
        spec = self.spec(i)
        origin = self.origin(spec.number) if spec.kind != "new" else spec
        text = self.base_text(origin.number)
        if spec.kind == "edit":
            text += f"\n\nĐính chính lần {i}."
            url = self.url(origin.number, origin.site)
        elif spec.kind == "duplicate":
            url = self.url(i, spec.site, alias=i)
        else:
            url = self.url(i, spec.site)
        published = self.end - SPACING * (origin.number if spec.kind == "edit" else i)
        fetched = self.end - timedelta(seconds=random.Random(f"f{i}").randrange(30 * 86_400))
        title = f"Bài viết số {origin.number}"
        article = Article(
            url=url,
            canonical_url=url,
            title=title,
            published_at=published,
            author="V.T",
            category=SITES[spec.site][3][0],
            text=text,
            captions=(),
            images=(),
            content_hash=content_hash(text),
            extractor=Extractor("vksndtc"),
        )
        raw = self._page(i, url, title, text, published, fetched, spec.site)
        return StoreRequest(article, raw, f'"{i:x}"', None), spec.kind

    def _page(
        self, i: int, url: str, title: str, text: str, when: datetime, fetched: datetime, site: int
    ) -> RawPage:
        rng = random.Random(f"page{i}")
        head, tail = self.chrome[site]
        related = "".join(
            f'<li><a href="{self.url(rng.randrange(10**6), site)}">'
            f"{rng.choice(self.sentences)[:90]}</a></li>"
            for _ in range(12)
        )
        body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        html = (
            head.format(
                title=title,
                vs=base64.b64encode(rng.randbytes(1_500)).decode(),
                date=when.strftime("%d/%m/%Y"),
            )
            + body
            + tail.format(related=f'<ul class="other-news">{related}</ul>')
        )
        padding = max(0, PAGE_BYTES - len(html.encode("utf-8")))
        html = html.replace("</body>", f"<!-- {'x ' * (padding // 2)} --></body>", 1)
        headers = (("Content-Type", "text/html; charset=utf-8"), ("ETag", f'"{i:x}"'))
        return RawPage(url, url, 200, headers, html.encode("utf-8"), fetched)


def frontier_rows(corpus: Corpus, start: int, stop: int) -> list[tuple[Any, ...]]:
    """The frontier rows a crawl leaves beside articles ``start..stop``: listing pages, failed,
    gone and not-an-article URLs (the article URLs are written by ``store_articles``)."""
    rows: list[tuple[Any, ...]] = []
    end = corpus.end
    for i in range(start, stop):
        site = corpus.spec(i).site
        host, _, _, cats = SITES[site]
        ts = (end - timedelta(seconds=i)).isoformat(timespec="microseconds")
        if i % 20 == 0:
            rows.append(
                (
                    f"https://{host}/{cats[0]}/trang-{i // 20}.html",
                    "listing",
                    "fetched",
                    200,
                    0,
                    None,
                    None,
                    ts,
                    ts,
                    None,
                )
            )
        roll = random.Random(f"frontier{i}").random()
        missing = corpus.url(10**7 + i, site)
        if roll < 0.01:
            due = end + timedelta(hours=1 if roll < 0.005 else -1)
            rows.append(
                (
                    missing,
                    "article",
                    "failed",
                    503,
                    2,
                    "http_503",
                    due.isoformat(timespec="microseconds"),
                    ts,
                    ts,
                    None,
                )
            )
        elif roll < 0.015:
            rows.append((missing, "article", "gone", 404, 1, "http_404", None, ts, ts, None))
        elif roll < 0.018:
            rows.append((missing, "other", "fetched", 200, 0, None, None, ts, ts, "listing"))
    return rows


FRONTIER_SQL = (
    "INSERT INTO urls (url, kind, state, http_status, attempts, last_error, next_retry_at,"
    " first_seen_at, last_fetched_at, not_article) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (url) DO NOTHING"
)


# -- the build ----------------------------------------------------------------------------------


def _state_path(work: Path) -> Path:
    return work / "build.json"


def load_state(work: Path) -> dict[str, Any]:
    path = _state_path(work)
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(work: Path, state: dict[str, Any]) -> None:
    temp = _state_path(work).with_suffix(".tmp")
    temp.write_text(json.dumps(state, indent=1))
    temp.replace(_state_path(work))


def db_files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal")) if p.exists()]


def db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db_files(db))


_CORPUS: dict[str, Corpus] = {}


def make_batch(
    end: str, start: int, stop: int
) -> tuple[list[StoreRequest], Counter[str], list[tuple[Any, ...]]]:
    """Articles ``start..stop`` and their frontier rows (in a worker process)."""
    corpus = _CORPUS.setdefault(end, Corpus(datetime.fromisoformat(end)))
    made = [corpus.request(i) for i in range(start, stop)]
    kinds = Counter(kind for _, kind in made)
    return [r for r, _ in made], kinds, frontier_rows(corpus, start, stop)


async def grow(work: Path, sizes: Sequence[int], state: dict[str, Any]) -> None:
    """Grow ``grow.db`` to each size in turn, copying it to ``{size}.db`` on the way. The next
    batch is generated in a worker process while this one is stored."""
    from vksnd.storage.sqlite import SqliteStore, StoreConfig

    end = state["end"]
    db = work / "grow.db"
    done = int(state.get("done", 0))
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1) as pool:
        async with await SqliteStore.open(db, StoreConfig()) as store:
            side = sqlite3.connect(db, isolation_level=None, timeout=60)
            for size in sorted(sizes):
                if str(size) in state.get("sizes", {}):
                    continue
                started, cpu0, first = time.perf_counter(), time.process_time(), done
                kinds: Counter[str] = Counter()
                spent_store = 0.0

                def batch(at: int, size: int = size) -> Any:
                    return loop.run_in_executor(pool, make_batch, end, at, min(size, at + BATCH))

                ahead = batch(done)
                while done < size:
                    requests, made, frontier = await ahead
                    stop = done + len(requests)
                    if stop < size:
                        ahead = batch(stop)
                    kinds.update(made)
                    t0 = time.perf_counter()
                    await store.store_articles(requests)
                    spent_store += time.perf_counter() - t0
                    side.execute("BEGIN IMMEDIATE")
                    side.executemany(FRONTIER_SQL, frontier)
                    side.execute("COMMIT")
                    done = stop
                    if done % 20_000 == 0 or done == size:
                        state["done"] = done
                        save_state(work, state)
                        rate = (done - first) / (time.perf_counter() - started)
                        print(f"  built {done:,} ({rate:,.0f} articles/s)", file=sys.stderr)
                seconds = time.perf_counter() - started
                side.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                copy = work / f"{size}.db"
                for suffix in ("", "-wal", "-shm"):
                    copy.with_name(copy.name + suffix).unlink(missing_ok=True)
                if size != max(sizes):  # the largest is moved below: no second copy of it
                    shutil.copyfile(db, copy)
                state.setdefault("sizes", {})[str(size)] = {
                    "articles": done - first,
                    "seconds": seconds,
                    "store_seconds": spent_store,
                    "cpu": time.process_time() - cpu0,
                    "kinds": dict(kinds),
                }
                save_state(work, state)
            side.close()
    largest = work / f"{max(sizes)}.db"
    if db.exists() and not largest.exists():
        db.replace(largest)
        for suffix in ("-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)


# -- measured operations (each in a child process) ---------------------------------------------


class Trace:
    """Every statement a connection runs, as run (parameters expanded)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, sql: str) -> None:
        if len(self.statements) < 5_000:
            self.statements.append(sql)


def timed(repeat: int, call: Callable[[], Any]) -> tuple[list[float], list[float], Any]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        result = call()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, result


def op_migrate(db: Path) -> dict[str, Any]:
    """Open the store once as the writer: migrations a store built by older code lacks run
    here (migration 5 fills the counters and builds the scale indexes: one pass per table)."""
    from vksnd.storage.sqlite import SqliteStore, StoreConfig

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    before = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.close()

    async def run() -> None:
        async with await SqliteStore.open(db, StoreConfig()):
            pass

    walls, cpus, _ = timed(1, lambda: asyncio.run(run()))
    return {"wall": walls, "cpu": cpus, "note": f"from schema version {before}"}


def op_stats(db: Path, repeat: int, trace: Trace) -> dict[str, Any]:
    from vksnd.storage.reader import SqliteReader

    with SqliteReader.open(db) as reader:
        reader._conn.set_trace_callback(trace)  # bench only: the statements it runs
        walls, cpus, stats = timed(repeat, reader.stats)
    return {"wall": walls, "cpu": cpus, "note": f"{stats.articles:,} articles"}


def op_feed(db: Path, repeat: int, trace: Trace, where: str) -> dict[str, Any]:
    from vksnd.storage.reader import SqliteReader

    with SqliteReader.open(db) as reader:
        top = int(reader._conn.execute("SELECT max(seq) AS m FROM articles").fetchone()["m"])
        after = {"start": 0, "middle": top // 2, "end": max(0, top - FEED_LIMIT)}[where]
        reader._conn.set_trace_callback(trace)
        walls, cpus, page = timed(repeat, lambda: reader.feed(after, FEED_LIMIT))
    return {"wall": walls, "cpu": cpus, "note": f"{len(page.articles)} from seq {after:,}"}


def op_revalidation(db: Path, repeat: int, trace: Trace, end: datetime) -> dict[str, Any]:
    """What a pass asks for its rolling re-checks (``crawl.revalidation.choose_rechecks``):
    the counts behind the quota, then the slice of least recently checked older articles."""
    from vksnd.storage.sqlite import SqliteStore, StoreConfig

    cutoff = end - timedelta(days=RECHECK_DAYS)
    checked_before = end - REVALIDATE_AFTER

    async def run() -> dict[str, Any]:
        async with await SqliteStore.open(db, StoreConfig()) as store:
            raw = store._conn._conn  # bench only: aiosqlite's sqlite3 connection
            await store._conn._execute(raw.set_trace_callback, trace)
            walls, cpus, parts = [], [], {}
            counted: tuple[int, int] = (0, 0)
            rows: list[Any] = []
            for _ in range(repeat):
                c0, w0 = time.process_time(), time.perf_counter()
                # as a pass asks: for its site, the overdue ones counted up to its due limit
                counted = await store.revalidation_counts(
                    cutoff, checked_before, site=DEFAULT_SITE, overdue_limit=DUE_LIMIT
                )
                c1 = time.process_time()
                rows = await store.least_recently_checked(
                    cutoff, REVALIDATE_SLICE, site=DEFAULT_SITE
                )
                parts.setdefault("revalidation_counts", []).append(c1 - c0)
                parts.setdefault("least_recently_checked", []).append(time.process_time() - c1)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
        note = f"{len(rows)} URLs; older {counted[0]:,}, overdue {counted[1]:,}"
        return {"wall": walls, "cpu": cpus, "note": note, "parts": parts}

    return asyncio.run(run())


def op_pass(db: Path, repeat: int, trace: Trace, end: datetime) -> dict[str, Any]:
    """What an incremental pass with nothing new asks the store, through the store's methods."""
    from vksnd.crawler.crawl.discovery import settled_urls
    from vksnd.storage.sqlite import SqliteStore, StoreConfig

    async def run() -> dict[str, Any]:
        async with await SqliteStore.open(db, StoreConfig()) as store:
            return await queries(store)

    async def queries(store: SqliteStore) -> dict[str, Any]:
        raw = store._conn._conn  # bench only: aiosqlite's sqlite3 connection
        await store._conn._execute(raw.set_trace_callback, trace)
        listed = _listed_urls(db)
        parts: dict[str, list[float]] = {}

        async def step(name: str, call: Callable[[], Any]) -> Any:
            c0 = time.process_time()
            result = await call()
            parts.setdefault(name, []).append(time.process_time() - c0)
            return result

        walls, cpus = [], []
        counts: dict[str, int] = {}
        now = end
        for _ in range(repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            recent = await step(
                "recent_article_urls",
                lambda: store.recent_article_urls(now - timedelta(days=RECHECK_DAYS)),
            )
            resume = await step("due_urls (resume scan)", lambda: store.due_urls(now, RESUME_SCAN))
            settled = await step(
                "settled_urls x1000", lambda: settled_urls(store, listed, retry_failed=False)
            )
            due = await step("due_urls (due limit)", lambda: store.due_urls(now, DUE_LIMIT))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            counts = {
                "recent": len(recent),
                "resume": len(resume),
                "settled": len(settled),
                "due": len(due),
            }
        note = ", ".join(f"{k} {v}" for k, v in counts.items())
        return {"wall": walls, "cpu": cpus, "note": note, "parts": parts}

    return asyncio.run(run())


def _listed_urls(db: Path) -> list[str]:
    """~1,000 URLs as listings show them: mostly the newest articles, a few frontier-only ones."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    newest = [
        r[0]
        for r in conn.execute(  # built newest first: the lowest seq
            "SELECT url FROM articles ORDER BY seq LIMIT ?", (LISTED_URLS * 9 // 10,)
        )
    ]
    others = [
        r[0]
        for r in conn.execute(
            "SELECT url FROM urls WHERE state IN ('failed', 'gone') OR not_article IS NOT NULL"
            " LIMIT ?",
            (LISTED_URLS // 10,),
        )
    ]
    conn.close()
    return newest + others


def op_export(db: Path, repeat: int, trace: Trace, out: Path) -> dict[str, Any]:
    from vksnd.storage.reader import SqliteReader

    with SqliteReader.open(db) as reader:
        reader._conn.set_trace_callback(trace)
        walls, cpus, report = timed(1, lambda: reader.export_corpus(out, ExportFilter()))
    note = f"written {report.written:,}, restored {report.restored}, unchanged {report.skipped:,}"
    return {"wall": walls, "cpu": cpus, "note": note, "count": report.written}


def op_change(db: Path, trace: Trace, end: datetime, run: str) -> dict[str, Any]:
    """``CHANGES`` articles, half new and half edits of stored ones, in two batches."""
    from vksnd.storage.sqlite import SqliteStore, StoreConfig

    corpus = Corpus(end, salt=f"changes{run}")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    top = int(conn.execute("SELECT max(seq) FROM articles").fetchone()[0])
    current = [
        r[0]
        for r in conn.execute(
            "SELECT url FROM articles WHERE is_current = 1 AND seq % ? = 0",
            (max(1, top // CHANGES),),
        )
    ][: CHANGES // 2]
    conn.close()
    requests = []
    for n, url in enumerate(current):
        req, _ = corpus.request(10**8 + n)
        article = req.article
        text = article.text + f"\n\nSửa {run}.{n}."
        edited = replace(
            article, url=url, canonical_url=url, text=text, content_hash=content_hash(text)
        )
        raw = RawPage(url, url, 200, req.raw.headers, req.raw.body, end)
        requests.append(StoreRequest(edited, raw))
    for n in range(CHANGES - len(requests)):
        req, _ = corpus.request(2 * 10**8 + n)
        url = corpus.url(5 * 10**7 + n, 0).replace("bai-viet-so", f"ban-tin-{run}")
        text = req.article.text + f"\n\nBản tin {run}.{n}."
        article = replace(
            req.article, url=url, canonical_url=url, text=text, content_hash=content_hash(text)
        )
        requests.append(
            StoreRequest(article, RawPage(url, url, 200, req.raw.headers, req.raw.body, end))
        )

    async def run() -> Counter[str]:
        outcomes: Counter[str] = Counter()
        async with await SqliteStore.open(db, StoreConfig()) as store:
            for start in range(0, len(requests), BATCH):
                results = await store.store_articles(requests[start : start + BATCH])
                outcomes.update(r.outcome.value for r in results)
        return outcomes

    walls, cpus, outcomes = timed(1, lambda: asyncio.run(run()))
    return {"wall": walls, "cpu": cpus, "note": ", ".join(f"{k} {v}" for k, v in outcomes.items())}


def explain(db: Path, statements: Sequence[str]) -> list[dict[str, Any]]:
    """Each distinct read statement: its plan and its time alone (warm)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    seen: dict[str, dict[str, Any]] = {}
    for sql in statements:
        head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if head not in ("SELECT", "WITH"):
            continue
        shape = _shape(sql)
        if shape in seen:
            seen[shape]["runs"] += 1
            continue
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        w0 = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())
        seen[shape] = {
            "sql": shape,
            "plan": plan,
            "ms": (time.perf_counter() - w0) * 1000,
            "rows": rows,
            "runs": 1,
        }
    conn.close()
    return list(seen.values())


_LITERAL_RE = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|X'[0-9A-F]*'")
_LIST_RE = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")


def _shape(sql: str) -> str:
    """A statement with its literals as ``?`` and long ``IN`` lists folded: one per query."""
    return " ".join(_LIST_RE.sub("(?, ...)", _LITERAL_RE.sub("?", sql)).split())


def _vm_hwm_kib() -> int:
    """This process's peak RSS. Not ``ru_maxrss`` from ``wait4``: Linux carries the parent's
    peak over ``fork`` + ``exec`` into it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(argv: Sequence[str]) -> int:
    name, db, repeat, extra = argv[0], Path(argv[1]), int(argv[2]), argv[3:]
    trace = Trace()
    end = datetime.fromisoformat(extra[0]) if extra else datetime.now(UTC)
    ops: dict[str, Callable[[], dict[str, Any]]] = {
        "migrate": lambda: op_migrate(db),
        "stats": lambda: op_stats(db, repeat, trace),
        "feed start": lambda: op_feed(db, repeat, trace, "start"),
        "feed middle": lambda: op_feed(db, repeat, trace, "middle"),
        "feed end": lambda: op_feed(db, repeat, trace, "end"),
        "crawl pass queries": lambda: op_pass(db, repeat, trace, end),
        "revalidation slice": lambda: op_revalidation(db, repeat, trace, end),
        "export (full)": lambda: op_export(db, repeat, trace, Path(extra[1])),
        "store 1,000 changes": lambda: op_change(db, trace, end, extra[2]),
        "export (incremental)": lambda: op_export(db, repeat, trace, Path(extra[1])),
    }
    result = ops[name]()
    result["hwm_kib"] = _vm_hwm_kib()
    if name not in ("store 1,000 changes", "migrate"):
        result["queries"] = explain(db, trace.statements)
    print(json.dumps(result))
    return 0


@dataclass(slots=True)
class Measured:
    wall: list[float]
    cpu: list[float]
    rss_mib: float
    note: str
    queries: list[dict[str, Any]]
    parts: dict[str, list[float]]
    count: int


def run_child(op: str, db: Path, repeat: int, *extra: str) -> Measured:
    argv = [sys.executable, __file__, "_op", op, str(db), str(repeat), *extra]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{op} on {db} exited {proc.returncode}")
    data = json.loads(proc.stdout)
    return Measured(
        data["wall"],
        data["cpu"],
        data["hwm_kib"] / 1024,
        data.get("note", ""),
        data.get("queries", []),
        data.get("parts", {}),
        data.get("count", 0),
    )


# -- the report ---------------------------------------------------------------------------------

OPS = (
    ("stats", "< 2 s"),
    ("feed start", "< 50 ms"),
    ("feed middle", "< 50 ms"),
    ("feed end", "< 50 ms"),
    ("crawl pass queries", "< 2 s CPU"),
    ("revalidation slice", "< 50 ms"),
    ("export (full)", ">= 5,000 files/s"),
    ("store 1,000 changes", ">= 5,000 art./s"),
    ("export (incremental)", "< 5 s"),
)


def _fmt_s(values: Sequence[float]) -> str:
    lo, med, hi = min(values), statistics.median(values), max(values)
    unit, k = ("ms", 1000) if hi < 1 else ("s", 1)
    if len(values) == 1:
        return f"{med * k:,.1f} {unit}" if unit == "ms" else f"{med:,.2f} s"
    return f"{med * k:,.1f} ({lo * k:,.1f}-{hi * k:,.1f}) {unit}"


def measure(
    work: Path, sizes: Sequence[int], repeat: int, end: datetime, run: int
) -> dict[int, Any]:
    results: dict[int, Any] = {}
    for size in sizes:
        db = work / f"{size}.db"
        out = work / f"export-{size}"
        shutil.rmtree(out, ignore_errors=True)
        per: dict[str, Measured] = {}
        bytes_before = db_bytes(db)
        per["migrate"] = run_child("migrate", db, 1)  # a store built by an older schema
        print(f"  {size:>9,}  migrate {_fmt_s(per['migrate'].wall)}  {per['migrate'].note}",
              file=sys.stderr)  # fmt: skip
        for op, _ in OPS:
            extra = [end.isoformat(), str(out), str(run)]
            reps = (
                1
                if op in ("export (full)", "store 1,000 changes", "export (incremental)")
                else repeat
            )
            per[op] = run_child(op, db, reps, *extra)
            m = per[op]
            print(
                f"  {size:>9,}  {op:<22} {_fmt_s(m.wall):>26}  CPU {_fmt_s(m.cpu):>24}"
                f"  RSS {m.rss_mib:5.0f} MiB  {m.note}",
                file=sys.stderr,
            )
        results[size] = {"ops": per, "bytes": bytes_before}
        shutil.rmtree(out, ignore_errors=True)
    return results


def load_results(path: Path) -> dict[int, Any]:
    """Results written by ``--json`` (one run per file: sizes measured at different times)."""
    loaded = json.loads(path.read_text())
    return {
        int(size): {"bytes": r["bytes"], "ops": {op: Measured(**m) for op, m in r["ops"].items()}}
        for size, r in loaded.items()
    }


def report(state: dict[str, Any], results: dict[int, Any]) -> str:
    sizes = sorted(results)
    heads = [f"{s // 1000:,}k" if s < 10**6 else f"{s // 10**6}M" for s in sizes]
    lines = []
    built = state.get("sizes", {})
    rows: list[tuple[str, list[str], str]] = []
    rates = []
    for s in sizes:
        b = built.get(str(s))
        rates.append(f"{b['articles'] / b['store_seconds']:,.0f}/s" if b else "-")
    rows.append(("build: store_articles rate (segment)", rates, ">= 5,000/s"))
    if all("migrate" in results[s]["ops"] for s in sizes):
        rows.append(
            (
                "migration of the built store (once)",
                [
                    f"{_fmt_s(results[s]['ops']['migrate'].wall)}"
                    f" ({results[s]['ops']['migrate'].note.split()[-1]}->5)"
                    for s in sizes
                ],
                "",
            )
        )
    for op, target in OPS:
        cells = []
        for s in sizes:
            m: Measured = results[s]["ops"][op]
            cell = _fmt_s(m.wall)
            if op == "export (full)":
                cell += f" ({m.count / m.wall[0]:,.0f} files/s)"
            if op == "store 1,000 changes":
                cell += f" ({CHANGES / m.wall[0]:,.0f}/s)"
            cells.append(cell)
        rows.append((op, cells, target))
        if op in ("crawl pass queries", "revalidation slice"):
            target = "< 2 s" if op == "crawl pass queries" else ""
            rows.append(("  (CPU)", [_fmt_s(results[s]["ops"][op].cpu) for s in sizes], target))
            for part in results[sizes[0]]["ops"][op].parts:
                rows.append(
                    (
                        f"    CPU {part}",
                        [_fmt_s(results[s]["ops"][op].parts[part]) for s in sizes],
                        "",
                    )
                )
    rows.append(
        (
            "db size per 1,000 articles",
            [f"{results[s]['bytes'] / s * 1000 / 2**20:.1f} MiB" for s in sizes],
            "",
        )
    )
    rows.append(("db size", [f"{results[s]['bytes'] / 2**30:.2f} GiB" for s in sizes], ""))
    for op, _ in OPS:
        rows.append(
            (
                f"peak RSS: {op}",
                [f"{results[s]['ops'][op].rss_mib:.0f} MiB" for s in sizes],
                "< 200 MB",
            )
        )
    width = max(len(r[0]) for r in rows)
    cw = [max(len(h), *(len(r[1][i]) for r in rows)) for i, h in enumerate(heads)]
    lines.append(
        f"{'measurement':<{width}}  "
        + "  ".join(h.rjust(w) for h, w in zip(heads, cw, strict=True))
        + "  target"
    )
    lines.append("-" * (width + sum(cw) + 2 * len(cw) + 10))
    for name, cells, target in rows:
        lines.append(
            f"{name:<{width}}  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, cw, strict=True))
            + f"  {target}"
        )
    lines.append("")
    lines.append("Queries (time alone, warm; plan by EXPLAIN QUERY PLAN at the largest size):")
    for op, _ in OPS:
        shapes: dict[str, dict[int, dict[str, Any]]] = {}
        for s in sizes:
            for q in results[s]["ops"][op].queries:
                shapes.setdefault(q["sql"], {})[s] = q
        for sql, by_size in shapes.items():
            times = "  ".join(
                f"{by_size[s]['ms']:>9,.1f}" if s in by_size else f"{'-':>9}" for s in sizes
            )
            last = by_size[max(by_size)]
            flags = _flags(last["plan"])
            lines.append(f"[{op}] ms {times}  x{last['runs']}  {flags}")
            lines.append(f"    {sql[:300]}")
            lines.extend(f"      plan: {p}" for p in last["plan"])
    return "\n".join(lines)


def _flags(plan: Sequence[str]) -> str:
    flags = []
    for step in plan:
        if step.startswith("SCAN (") or step.startswith("SCAN CONSTANT"):
            continue  # a subquery's rows, not a table
        if step.startswith("SCAN") and "INDEX" not in step:
            flags.append("FULL SCAN " + step.split()[1])
        elif step.startswith("SCAN"):
            flags.append("INDEX SCAN " + step.split()[1])
        if "TEMP B-TREE" in step:
            flags.append("SORT")
    return ", ".join(flags) or "index lookups"


def main() -> int:
    if sys.argv[1:2] == ["_op"]:
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="measure only (stores built)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--clean", action="store_true", help="delete --dir and stop")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--report-from", type=Path, nargs="+", default=None, help="print the table of --json files"
    )
    args = parser.parse_args()
    work: Path = args.dir
    if args.clean:
        shutil.rmtree(work, ignore_errors=True)
        return 0
    work.mkdir(parents=True, exist_ok=True)
    state = load_state(work)
    state.setdefault("end", datetime.now(UTC).replace(microsecond=0).isoformat())
    save_state(work, state)
    if not args.reuse:
        asyncio.run(grow(work, args.sizes, state))
    missing = [s for s in args.sizes if not (work / f"{s}.db").exists()]
    if missing:
        print(f"no store built for {missing} in {work}", file=sys.stderr)
        return 1
    if args.build_only:
        return 0
    end = datetime.fromisoformat(state["end"])
    if args.report_from:
        results = {}
        for path in args.report_from:
            results.update(load_results(path))
        print(report(state, results))
        return 0
    # "store 1,000 changes" adds to each store: each run makes other changes (salted by time)
    results = measure(work, args.sizes, args.repeat, end, int(time.time()))
    print(
        f"\nscale bench: {', '.join(f'{s:,}' for s in args.sizes)} articles, {len(SITES)} sites,"
        f" archive on; python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} cores; each operation in its own process, warm cache\n"
    )
    print(report(state, results))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    str(s): {
                        "bytes": r["bytes"],
                        "ops": {
                            k: v.__dict__
                            if hasattr(v, "__dict__")
                            else {f: getattr(v, f) for f in v.__slots__}
                            for k, v in r["ops"].items()
                        },
                    }
                    for s, r in results.items()
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
