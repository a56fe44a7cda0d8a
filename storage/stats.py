"""What ``vksnd stats`` reports, read from a reader connection (safe while a daemon writes)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vksnd.storage.errors import translate_sqlite_error

DEFAULT_LAST_RUNS = 10
DEFAULT_TOP_REASONS = 20


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    kind: str
    started_at: str
    finished_at: str | None
    ok: bool | None  # None: still running, or killed before it could finish
    error: str | None
    counters: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class StorageStats:
    path: str
    db_bytes: int  # the file plus its WAL
    urls_by_state: tuple[tuple[str, int], ...]
    urls_by_kind: tuple[tuple[str, int], ...]
    not_articles_by_reason: tuple[tuple[str, int], ...]  # fetched for an article, not one
    articles: int  # distinct articles (version chains)
    versions: int  # stored versions, every edit counted
    current_versions: int
    superseded_versions: int
    reverted_versions: int  # versions restoring an older text
    article_urls: int  # URLs (fetched or canonical) mapped to an article
    urls_collapsed: int  # fetched URLs folded into an article another URL already had
    pages_archived: int
    archive_bytes: int  # compressed bodies
    raw_bytes: int  # the same bodies uncompressed
    failures_by_reason: tuple[tuple[str, int], ...]
    last_runs: tuple[RunSummary, ...]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        pairs = ("urls_by_state", "urls_by_kind", "not_articles_by_reason", "failures_by_reason")
        for key in pairs:
            data[key] = dict(getattr(self, key))
        data["last_runs"] = [
            {**asdict(run), "counters": dict(run.counters)} for run in self.last_runs
        ]
        return data


def _scalar(conn: sqlite3.Connection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0] or 0) if row else 0


def _pairs(conn: sqlite3.Connection, sql: str) -> tuple[tuple[str, int], ...]:
    return tuple((str(name), int(count)) for name, count in conn.execute(sql))


def _counters(value: str | None) -> tuple[tuple[str, int], ...]:
    if not value:
        return ()
    loaded = json.loads(value)
    flat: list[tuple[str, int]] = []
    for key, item in loaded.items():
        if isinstance(item, dict):
            flat.extend((f"{key}.{k}", int(v)) for k, v in item.items())
        else:
            flat.append((key, int(item)))
    return tuple(flat)


def collect_stats(
    conn: sqlite3.Connection,
    path: Path,
    *,
    last_runs: int = DEFAULT_LAST_RUNS,
    top_reasons: int = DEFAULT_TOP_REASONS,
) -> StorageStats:
    """All counts from one read snapshot."""
    try:
        conn.execute("BEGIN")
        try:
            stats = _collect(conn, path, last_runs, top_reasons)
        finally:
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise translate_sqlite_error(exc, path) from exc
    return stats


def _collect(conn: sqlite3.Connection, path: Path, last_runs: int, top: int) -> StorageStats:
    runs = tuple(
        RunSummary(
            id=row[0],
            kind=row[1],
            started_at=row[2],
            finished_at=row[3],
            ok=None if row[4] is None else bool(row[4]),
            error=row[5],
            counters=_counters(row[6]),
        )
        for row in conn.execute(
            "SELECT id, kind, started_at, finished_at, ok, error, counters FROM runs"
            " ORDER BY id DESC LIMIT ?",
            (last_runs,),
        )
    )
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    archive = conn.execute(
        "SELECT count(*), coalesce(sum(length(body)), 0), coalesce(sum(body_size), 0) FROM pages"
    ).fetchone()
    versions = conn.execute(
        "SELECT count(*), coalesce(sum(is_current), 0), count(reverts_to) FROM articles"
    ).fetchone()
    return StorageStats(
        path=str(path),
        db_bytes=size,
        urls_by_state=_pairs(
            conn, "SELECT state, count(*) FROM urls GROUP BY state ORDER BY count(*) DESC"
        ),
        urls_by_kind=_pairs(
            conn, "SELECT kind, count(*) FROM urls GROUP BY kind ORDER BY count(*) DESC"
        ),
        not_articles_by_reason=_pairs(
            conn,
            "SELECT not_article, count(*) FROM urls WHERE not_article IS NOT NULL"
            " GROUP BY not_article ORDER BY count(*) DESC",
        ),
        articles=_scalar(conn, "SELECT count(*) FROM articles WHERE id = root_id"),
        versions=int(versions[0]),
        current_versions=int(versions[1]),
        superseded_versions=int(versions[0]) - int(versions[1]),
        reverted_versions=int(versions[2]),
        article_urls=_scalar(conn, "SELECT count(*) FROM article_urls"),
        urls_collapsed=_scalar(
            conn,
            "SELECT count(*) - count(DISTINCT root_id) FROM article_urls"
            " WHERE content_hash IS NOT NULL",
        ),
        pages_archived=int(archive[0]),
        archive_bytes=int(archive[1]),
        raw_bytes=int(archive[2]),
        failures_by_reason=tuple(
            (str(reason), int(count))
            for reason, count in conn.execute(
                "SELECT reason, count(*) FROM failures GROUP BY reason"
                " ORDER BY count(*) DESC, reason LIMIT ?",
                (top,),
            )
        ),
        last_runs=runs,
    )
