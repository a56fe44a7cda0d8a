"""``SqliteReader``: the reads of a store, on a query-only connection of its own.

What the crawler's readers ask (``vksnd.crawler.crawl.ports.StoreReader``): the stats, the article
feed page by page, one article version, every version an export wants, the corpus export itself.
Each call reads one snapshot; WAL lets it read while a daemon writes through ``SqliteStore``.
Synchronous, as ``sqlite3`` is: the daemon's HTTP API and export run it on a worker thread, one
reader per request, the CLI directly. Errors come out as ``StorageError`` (``storage.errors``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from vksnd.storage import export, stats
from vksnd.storage.records import (
    ExportedArticle,
    ExportFilter,
    ExportReport,
    FeedPage,
    StorageStats,
)
from vksnd.storage.schema import DEFAULT_BUSY_TIMEOUT_MS, open_reader


class SqliteReader:
    """``with SqliteReader.open(path) as reader: reader.stats()``; never writes, never migrates."""

    def __init__(self, path: Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self._conn = open_reader(path, busy_timeout_ms)

    @classmethod
    def open(cls, path: Path, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> SqliteReader:
        """Refuses a missing file or one not migrated to this version (``storage.errors``)."""
        return cls(path, busy_timeout_ms)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stats(
        self,
        *,
        last_runs: int = stats.DEFAULT_LAST_RUNS,
        top_reasons: int = stats.DEFAULT_TOP_REASONS,
    ) -> StorageStats:
        return stats.collect_stats(
            self._conn, self.path, last_runs=last_runs, top_reasons=top_reasons
        )

    def articles(self, filt: ExportFilter) -> Iterator[ExportedArticle]:
        """Matching versions in ``seq`` order, streamed (memory stays flat)."""
        return export.iter_articles(self._conn, filt)

    def feed(self, after_seq: int, limit: int, *, site: str | None = None) -> FeedPage:
        """Up to ``limit`` versions (superseded ones too) with ``seq > after_seq`` (of
        ``site`` only, when given)."""
        everything = ExportFilter(after_seq=after_seq, include_superseded=True, site=site)
        found = list(export.iter_articles(self._conn, everything, limit=limit + 1))
        page = tuple(found[:limit])
        return FeedPage(page, page[-1].seq if page else after_seq, len(found) > limit)

    def article(self, seq: int) -> ExportedArticle | None:
        return export.article_by_seq(self._conn, seq)

    def export_corpus(self, out_dir: Path, filt: ExportFilter) -> ExportReport:
        return export.export_corpus(self._conn, out_dir, filt)

    def export_jsonl(self, stream: IO[str], filt: ExportFilter) -> int:
        return export.export_jsonl(self._conn, stream, filt)

    def export_jsonl_file(self, path: Path, filt: ExportFilter) -> int:
        return export.export_jsonl_file(self._conn, path, filt)
