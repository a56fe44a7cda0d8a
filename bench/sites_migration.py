"""The cost of the ``site`` columns (#15): migration 5 on a big schema-4 database, and the reads
that filter or count by site.

    python bench/sites_migration.py [--articles 200000] [--dir DIR]

Builds a database as the code before sites left it (schema version 4: ``MIGRATIONS[:4]``), with
``--articles`` current articles of ~6 KB and their URLs, then times: opening it with
``SqliteStore`` (which runs migration 5: the columns, back-filled by their default, and three
indexes), ``vksnd stats`` as the reader computes it, its per-site part alone, and a feed page with
``?site=`` in the middle of the store. The file is deleted afterwards (~8.7 KB per article).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from vksnd.storage import stats
from vksnd.storage.reader import SqliteReader
from vksnd.storage.schema import MIGRATIONS
from vksnd.storage.sqlite import SqliteStore, StoreConfig

NOW = "2026-01-02T03:04:05.000000+00:00"
TEXT = "Viện kiểm sát nhân dân tối cao tổ chức hội nghị " * 130  # ~6 KB, like an article


def build_schema_4(db: Path, articles: int) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        for statement in (s for migration in MIGRATIONS[:4] for s in migration):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        conn.execute("BEGIN")
        urls = [f"https://vksndtc.gov.vn/tin-tuc/bai-{i}-d2-t{i}.html" for i in range(articles + 1)]
        conn.executemany(
            "INSERT INTO articles (id, seq, root_id, content_hash, url, canonical_url,"
            " article_key, title, text, captions, images, extractor, is_current, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'Tiêu đề', ?, '[]', '[]', 'vksndtc', 1, ?)",
            (
                (i, i, i, f"{i:064x}", urls[i], urls[i], str(i), TEXT, NOW)
                for i in range(1, articles + 1)
            ),
        )
        conn.executemany(
            "INSERT INTO urls (url, kind, state, first_seen_at, article_key, article_id)"
            " VALUES (?, 'article', 'fetched', ?, ?, ?)",
            ((urls[i], NOW, str(i), i) for i in range(1, articles + 1)),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def migrate(db: Path) -> float:
    started = time.perf_counter()
    store = await SqliteStore.open(db, StoreConfig(checkpoint_every=0))
    took = time.perf_counter() - started
    await store.close()
    return took


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vksnd-sites-", dir=args.dir))
    db = folder / "v4.db"
    try:
        build_schema_4(db, args.articles)
        size = db.stat().st_size / 2**20
        rows = [("articles", f"{args.articles:,}"), ("database (schema 4)", f"{size:,.0f} MiB")]
        rows.append(("migration 5 (open + migrate)", f"{asyncio.run(migrate(db)):.2f} s"))
        with SqliteReader.open(db) as reader:
            reader.stats()  # warm the page cache once
            rows.append(("vksnd stats (all of it)", f"{timed(reader.stats):.2f} s"))
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            conn.row_factory = sqlite3.Row
            rows.append(("stats by site alone", f"{timed(lambda: stats._sites(conn)):.3f} s"))
            conn.close()
            middle = args.articles // 2
            feed = timed(lambda: reader.feed(middle, 100, site="vksndtc"))
            rows.append(("feed page ?site= (middle)", f"{feed * 1000:.1f} ms"))
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
