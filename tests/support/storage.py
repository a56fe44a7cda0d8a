"""Helpers for the storage tests: article records built directly, and invariant checks.

Articles carry the parser's real ``content_hash`` (``vksnd.parsers.hashing``), so tone-spelling
variants hash alike exactly as they do in production. Invariants are checked with plain
``sqlite3`` so the assertions do not trust the code under test.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vksnd.parsers.hashing import content_hash
from vksnd.parsers.records import Article, Extractor
from vksnd.parsers.urls import article_key_text
from vksnd.storage import counts
from vksnd.storage.reader import SqliteReader
from vksnd.storage.records import RawPage

ROOT = Path(__file__).resolve().parents[2]
SEED_WORDS = tuple(
    word
    for path in sorted((ROOT / "fixtures" / "seeds").glob("*.txt"))
    for word in path.read_text(encoding="utf-8").split()
)
FETCHED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def article_url(article_id: int, category: int = 2) -> str:
    return f"https://vksndtc.gov.vn/tin-tuc/tin-hoat-dong/bai-viet-so-{article_id}-d{category}-t{article_id}.html"


def make_article(
    url: str,
    text: str,
    *,
    canonical_url: str | None = None,
    title: str = "Tiêu đề",
    published_at: datetime | None = datetime(2024, 6, 17, 9, 0, tzinfo=UTC),
    captions: tuple[str, ...] = (),
) -> Article:
    return Article(
        url=url,
        canonical_url=canonical_url or url,
        title=title,
        published_at=published_at,
        author="V.T",
        category="Tin hoạt động",
        text=text,
        captions=captions,
        images=(),
        content_hash=content_hash(text),
        extractor=Extractor("vksndtc"),
        # as the parser computes it: the key of the URL, else of the canonical URL
        key=article_key_text(url) or article_key_text(canonical_url or url),
    )


def make_raw(url: str, body: bytes | None = None, fetched_at: datetime = FETCHED_AT) -> RawPage:
    return RawPage(
        url=url,
        final_url=url,
        status=200,
        headers=(("Content-Type", "text/html; charset=utf-8"), ("ETag", '"abc"')),
        body=body if body is not None else f"<html><body>{url}</body></html>".encode(),
        fetched_at=fetched_at,
    )


def vietnamese_text(rng: random.Random, paragraphs: int = 6, words: int = 80) -> str:
    """Paragraphs of seed words, separated by one blank line, like the clean text."""
    return "\n\n".join(
        " ".join(rng.choice(SEED_WORDS) for _ in range(words)) for _ in range(paragraphs)
    )


def check_invariants(path: Path) -> None:
    """What must hold after any sequence of writes."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # exactly one current version per chain
        bad = conn.execute(
            "SELECT root_id, sum(is_current) FROM articles GROUP BY root_id"
            " HAVING sum(is_current) != 1"
        ).fetchall()
        assert bad == []
        # seq increases with id; links are symmetric and stay inside a chain
        rows = conn.execute(
            "SELECT id, seq, root_id, supersedes, superseded_by, is_current FROM articles"
            " ORDER BY id"
        ).fetchall()
        seqs = [r[1] for r in rows]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        by_id = {r[0]: r for r in rows}
        for row_id, _seq, root, prev, nxt, current in rows:
            assert by_id[root][2] == root
            if prev is not None:
                assert by_id[prev][4] == row_id and by_id[prev][2] == root
            else:
                assert root == row_id
            assert (nxt is None) == bool(current)
        # every mapped URL points at a chain root
        orphans = conn.execute(
            "SELECT au.url FROM article_urls au JOIN articles a ON a.id = au.root_id"
            " WHERE a.root_id != a.id"
        ).fetchall()
        assert orphans == []
        # the counters ``stats`` reads equal a recount of the tables
        assert counts.stored(conn) == counts.recount(conn)
    finally:
        conn.close()


@dataclass
class Readers:
    """A reader factory for the service (``ReaderFactory``) that counts the readers it opened."""

    db: Path
    opened: int = 0

    def __call__(self) -> SqliteReader:
        self.opened += 1
        return SqliteReader.open(self.db)


def undo_migration_7(conn: sqlite3.Connection) -> None:
    """Back to what schema version 6 left on disk: no per-site counter or checked-order index."""
    for trigger in ("ins", "del", "upd"):
        conn.execute(f"DROP TRIGGER counts_articles_site_{trigger}")
    conn.execute("DELETE FROM counts WHERE name = 'current_site'")
    conn.execute("DROP INDEX urls_site_checked")
    conn.execute("PRAGMA user_version = 6")


def undo_migration_6(conn: sqlite3.Connection) -> None:
    """Back to what schema version 5 left on disk: no counters, change log or scale indexes."""
    names = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'index')"
        " AND (name LIKE 'counts_%' OR name LIKE 'changes_%')"
    ).fetchall()
    for kind, name in names:
        conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
    conn.execute("DROP TABLE counts")
    conn.execute("DROP TABLE changes")
    conn.execute("DROP INDEX urls_checked")
    conn.execute("DROP INDEX articles_current_url")
    conn.execute("PRAGMA user_version = 5")
