"""Storage throughput: dedupe + versioned inserts with the raw archive, and the corpus export.

    python bench/storage.py [--articles 50000] [--batch 500] [--single 5000] [--dir DIR]
    python bench/storage.py --counters-cost    # also without the counting triggers (their cost)

Synthetic articles: 3-6 KB of Vietnamese text made of the seeds' sentences, each with a ~30 KB
portal-like raw page (menus, related links, a ViewState blob, the body) that is archived. The
stream holds ~10% duplicates (the same text republished under another article number, half of
them in the other tone spelling) and ~5% edits of earlier articles (new versions).

Rows: ``store_articles`` in batches (one transaction per batch: how a backfill stores), the
one-article ``store_article`` the crawler calls per page (one transaction each), the same batch
run with the archive off, then the export (one ``.txt`` per current article + manifest) and its
idempotent second run. Only the store/export calls are timed, not the generation of the data.
Targets (issue 4): >= 5,000 articles/s stored and >= 5,000 files/s exported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import re
import shutil
import sqlite3
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vksnd.fixtures.text_bank import seed_sentences
from vksnd.parsers.hashing import content_hash
from vksnd.parsers.records import Article, Extractor
from vksnd.storage.export import export_corpus
from vksnd.storage.records import ExportFilter, RawPage, StoreRequest, StoreResult
from vksnd.storage.schema import open_reader
from vksnd.storage.sqlite import SqliteStore, StoreConfig

BASE = "https://vksndtc.gov.vn"
TARGET_TEXT_BYTES = (3_000, 6_000)
TARGET_PAGE_BYTES = 30_000
DUPLICATE_SHARE = 0.10
EDIT_SHARE = 0.05
GENERATED_AT_ONCE = 5_000


def _tone_pairs() -> dict[str, str]:
    """Word-final ``òa`` -> ``oà`` (and ``oe``, ``uy``, capitals): the other accepted spelling."""
    pairs: dict[str, str] = {}
    for first, second in (("o", "a"), ("o", "e"), ("u", "y")):
        for f, s in ((first, second), (first.upper(), second.upper()), (first.upper(), second)):
            for tone in ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323"):
                old = unicodedata.normalize("NFC", f + tone) + s
                pairs[old] = f + unicodedata.normalize("NFC", s + tone)
    return pairs


_TONE_PAIRS = _tone_pairs()
_TONE_RE = re.compile("(" + "|".join(_TONE_PAIRS) + r")(?!\w)")


def other_tone_spelling(text: str) -> str:
    return _TONE_RE.sub(lambda m: _TONE_PAIRS[m.group(1)], text)


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    count: int
    seconds: float
    unit: str
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


class Corpus:
    """A deterministic stream of store requests with duplicates and edits mixed in."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sentences = seed_sentences()
        self.texts: list[str] = []  # text of article number i (latest version)
        self.originals: list[int] = []  # numbers stored under their own text (editable)
        self.chrome_head, self.chrome_tail = self._chrome()
        self.outcomes_expected: Counter[str] = Counter()

    def _chrome(self) -> tuple[str, str]:
        rng = random.Random(0)
        menu = "".join(
            f'<li class="menu-item"><a href="/tin-tuc/muc-{i}/">'
            f"{rng.choice(self.sentences)[:40]}</a><ul class=sub>"
            + "".join(f"<li><a href=/m{i}/{j}/>Mục {j}</a></li>" for j in range(6))
            + "</ul></li>"
            for i in range(60)
        )
        head = (
            '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title>'
            '<link rel="stylesheet" href="/Portals/_default/skin.css"></head><body>'
            '<form id="Form" method="post"><input type="hidden" name="__VIEWSTATE" value="{vs}">'
            '<div id="header"><div class="portal-name">CỔNG THÔNG TIN ĐIỆN TỬ</div>'
            '<div class="org-name">VIỆN KIỂM SÁT NHÂN DÂN TỐI CAO</div></div>'
            f'<ul class="menu">{menu}</ul><div class="news-detail"><h1 class="news-title">{{title}}'
            '</h1><div class="news-date">{date}</div><div class="news-content">'
        )
        footer = "".join(f"<p class=footer-line>{s}</p>" for s in self.sentences[:12])
        tail = "</div>{related}</div><div id=footer>" + footer + "</div></form></body></html>"
        return head, tail

    def _text(self, number: int) -> str:
        target = self.rng.randint(*TARGET_TEXT_BYTES)
        paragraphs: list[str] = [f"Bài số {number}."]
        size = 0
        while size < target:
            paragraph = " ".join(
                self.rng.choice(self.sentences) for _ in range(self.rng.randint(2, 5))
            )
            paragraphs.append(paragraph)
            size += len(paragraph.encode("utf-8")) + 2
        return "\n\n".join(paragraphs)

    def _page(self, url: str, title: str, text: str, when: datetime) -> RawPage:
        related = "".join(
            f'<li><a href="{BASE}/tin-tuc/x/bai-{self.rng.randrange(99999)}'
            f'-d2-t{self.rng.randrange(99999)}.html">{self.rng.choice(self.sentences)[:90]}</a></li>'
            for _ in range(12)
        )
        body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        viewstate = base64.b64encode(self.rng.randbytes(1_500)).decode()
        html = (
            self.chrome_head.format(title=title, vs=viewstate, date=when.strftime("%d/%m/%Y"))
            + body
            + self.chrome_tail.format(related=f'<ul class="other-news">{related}</ul>')
        )
        padding = max(0, TARGET_PAGE_BYTES - len(html.encode("utf-8")))
        html = html.replace("</body>", f"<!-- {'x ' * (padding // 2)} --></body>", 1)
        return RawPage(
            url=url,
            final_url=url,
            status=200,
            headers=(
                ("Content-Type", "text/html; charset=utf-8"),
                ("Server", "Microsoft-IIS/10.0"),
            ),
            body=html.encode("utf-8"),
            fetched_at=when,
        )

    def requests(self, count: int) -> Iterator[StoreRequest]:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(count):
            when = start + timedelta(minutes=i)
            roll = self.rng.random()
            number = len(self.texts)
            if self.texts and roll < DUPLICATE_SHARE:
                original = self.rng.randrange(len(self.texts))
                text = self.texts[original]
                if roll < DUPLICATE_SHARE / 2:
                    text = other_tone_spelling(text)
                url = f"{BASE}/tintuc/Pages/lists.aspx?Cat=10&ItemID={number}"
                self.texts.append(text)
                kind = "duplicate"
            elif self.originals and roll < DUPLICATE_SHARE + EDIT_SHARE:
                number = self.rng.choice(self.originals)
                text = self.texts[number] + f"\n\nĐính chính lần {i}."
                self.texts[number] = text
                url = f"{BASE}/tin-tuc/tin-hoat-dong/bai-viet-{number}-d2-t{number}.html"
                kind = "new_version"
            else:
                text = self._text(number)
                self.texts.append(text)
                self.originals.append(number)
                url = f"{BASE}/tin-tuc/tin-hoat-dong/bai-viet-{number}-d2-t{number}.html"
                kind = "new"
            self.outcomes_expected[kind] += 1
            title = f"Bài viết {number}"
            article = Article(
                url=url,
                canonical_url=url,
                title=title,
                published_at=when,
                author="V.T",
                category="Tin hoạt động",
                text=text,
                captions=(),
                images=(),
                content_hash=content_hash(text),
                extractor=Extractor("vksndtc"),
            )
            yield StoreRequest(article, self._page(url, title, text, when), f'"{i}"', None)


async def bench_store(
    db: Path, count: int, batch: int, config: StoreConfig, seed: int
) -> tuple[float, Counter[str], Counter[str]]:
    """Time the store calls only. Requests are generated ``GENERATED_AT_ONCE`` at a time (not
    timed); batches go in with at most two calls in flight, so the compression of the next
    batch (in a worker thread) overlaps the transaction of the previous one, as it does under
    a crawler's concurrent workers. Transactions still commit in submission order."""
    corpus = Corpus(seed)
    outcomes: Counter[str] = Counter()
    seconds = 0.0
    stream = corpus.requests(count)
    async with await SqliteStore.open(db, config) as store:
        while True:
            generated = [r for _, r in zip(range(GENERATED_AT_ONCE), stream, strict=False)]
            if not generated:
                break
            started = time.perf_counter()
            if batch == 1:
                for r in generated:
                    result = await store.store_article(r.article, r.raw, r.etag, r.last_modified)
                    outcomes[result.outcome.value] += 1
            else:
                in_flight: asyncio.Task[list[StoreResult]] | None = None
                for start in range(0, len(generated), batch):
                    task = asyncio.create_task(
                        store.store_articles(generated[start : start + batch])
                    )
                    if in_flight is not None:
                        outcomes.update(r.outcome.value for r in await in_flight)
                    in_flight = task
                if in_flight is not None:
                    outcomes.update(r.outcome.value for r in await in_flight)
            seconds += time.perf_counter() - started
    return seconds, outcomes, corpus.outcomes_expected


def bench_export(db: Path, out: Path) -> tuple[Row, Row]:
    conn = open_reader(db)
    try:
        started = time.perf_counter()
        first = export_corpus(conn, out, ExportFilter())
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = export_corpus(conn, out, ExportFilter())
        second_s = time.perf_counter() - started
    finally:
        conn.close()
    assert second.written == 0, "the second export must write nothing"
    return (
        Row("export (.txt + manifest)", first.written, first_s, "files/s"),
        Row("export again (idempotent)", second.matched, second_s, "rows checked/s",
            f"{second.written} written"),
    )  # fmt: skip


def bench_bare_files(db: Path, out: Path) -> Row:
    """The file system's share of the export: the same texts written the same way (temporary
    name, write, rename in one folder) with no database, manifest or metadata around them."""
    conn = open_reader(db)
    try:
        texts = [
            (f"{row[0]:03d}_bare.txt", str(row[1]).encode("utf-8"))
            for row in conn.execute("SELECT seq, text FROM articles WHERE is_current = 1")
        ]
    finally:
        conn.close()
    out.mkdir(parents=True, exist_ok=True)
    fd_dir = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        started = time.perf_counter()
        for name, data in texts:
            temp = f".{name}.tmp"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd_dir)
            os.write(fd, data)
            os.close(fd)
            os.replace(temp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
        seconds = time.perf_counter() - started
    finally:
        os.close(fd_dir)
    return Row("bare file writes (temp + rename, no db)", len(texts), seconds, "files/s",
               "the file system's share")  # fmt: skip


def drop_counting_triggers(db: Path) -> None:
    """The store without the triggers that keep ``stats``' counters and the export's change
    log (storage/counts.py, schema migration 5): what they cost on the write path."""
    asyncio.run(_open_once(db))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            " AND (name LIKE 'counts_%' OR name LIKE 'changes_%')"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
    finally:
        conn.close()


async def _open_once(db: Path) -> None:
    async with await SqliteStore.open(db, StoreConfig()):
        pass


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single", type=int, default=5_000, help="articles for the per-call row")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--no-archive-off", action="store_true", help="skip the archive-off run")
    parser.add_argument(
        "--counters-cost", action="store_true", help="also store with the counting triggers off"
    )
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="vksnd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    sizes: list[tuple[str, float]] = []
    try:
        db = work / "batch.db"
        seconds, outcomes, expected = asyncio.run(
            bench_store(db, args.articles, args.batch, StoreConfig(), args.seed)
        )
        mix = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        rows.append(Row(f"store_articles (batch {args.batch}, archive on)", args.articles, seconds,
                        "articles/s", mix))  # fmt: skip
        sizes.append(("archive on", _db_bytes(db) / args.articles * 1000 / 2**20))
        rows.extend(bench_export(db, work / "corpus"))
        rows.append(bench_bare_files(db, work / "bare"))
        if args.counters_cost:
            bare = work / "no-triggers.db"
            drop_counting_triggers(bare)
            seconds, _, _ = asyncio.run(
                bench_store(bare, args.articles, args.batch, StoreConfig(), args.seed)
            )
            name = f"store_articles (batch {args.batch}, no counting triggers)"
            rows.append(Row(name, args.articles, seconds, "articles/s", "their cost"))

        if args.single:
            single = work / "single.db"
            seconds, outcomes, _ = asyncio.run(
                bench_store(single, args.single, 1, StoreConfig(), args.seed)
            )
            rows.append(Row("store_article (one per call, archive on)", args.single, seconds,
                            "articles/s", "one transaction each"))  # fmt: skip
        if not args.no_archive_off:
            off = work / "off.db"
            seconds, _, _ = asyncio.run(
                bench_store(off, args.articles, args.batch, StoreConfig(archive=False), args.seed)
            )
            rows.append(Row(f"store_articles (batch {args.batch}, archive off)", args.articles,
                            seconds, "articles/s"))  # fmt: skip
            sizes.append(("archive off", _db_bytes(off) / args.articles * 1000 / 2**20))
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nstorage bench: {args.articles:,} articles (~10% duplicates, ~5% edits), "
          f"texts 3-6 KB, raw pages ~{TARGET_PAGE_BYTES // 1000} KB\n")  # fmt: skip
    print(f"{'step':<46} {'count':>8} {'seconds':>8} {'rate':>10}  unit")
    print("-" * 90)
    for row in rows:
        print(f"{row.name:<46} {row.count:>8,} {row.seconds:>8.2f} {row.rate:>10,.0f}  {row.unit}"
              + (f"  ({row.note})" if row.note else ""))  # fmt: skip
    print()
    for label, mib in sizes:
        print(f"database size per 1,000 articles ({label}): {mib:,.1f} MiB")
    print(f"expected mix: {dict(expected)}")


if __name__ == "__main__":
    main()
