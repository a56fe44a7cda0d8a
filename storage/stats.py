"""What ``vksnd stats`` reports, read from a reader connection (safe while a daemon writes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from vksnd.storage.errors import translate_sqlite_error
from vksnd.storage.records import RunSummary, StorageStats

DEFAULT_LAST_RUNS = 10
DEFAULT_TOP_REASONS = 20


def _count(conn: sqlite3.Connection, sql: str) -> int:
    """``sql`` selects one number, named ``n``."""
    row = conn.execute(sql).fetchone()
    return int(row["n"] or 0) if row else 0


def _counts_by(conn: sqlite3.Connection, sql: str, *params: object) -> tuple[tuple[str, int], ...]:
    """``sql`` selects a ``name`` and its count ``n`` per row."""
    return tuple((str(row["name"]), int(row["n"])) for row in conn.execute(sql, params))


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
            id=row["id"],
            kind=row["kind"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            ok=None if row["ok"] is None else bool(row["ok"]),
            error=row["error"],
            counters=_counters(row["counters"]),
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
        "SELECT count(*) AS pages, coalesce(sum(length(body)), 0) AS stored,"
        " coalesce(sum(body_size), 0) AS raw FROM pages"
    ).fetchone()
    versions = conn.execute(
        "SELECT count(*) AS versions, coalesce(sum(is_current), 0) AS current,"
        " count(reverts_to) AS reverts FROM articles"
    ).fetchone()
    return StorageStats(
        path=str(path),
        db_bytes=size,
        urls_by_state=_counts_by(
            conn, "SELECT state AS name, count(*) AS n FROM urls GROUP BY state ORDER BY n DESC"
        ),
        urls_by_kind=_counts_by(
            conn, "SELECT kind AS name, count(*) AS n FROM urls GROUP BY kind ORDER BY n DESC"
        ),
        not_articles_by_reason=_counts_by(
            conn,
            "SELECT not_article AS name, count(*) AS n FROM urls WHERE not_article IS NOT NULL"
            " GROUP BY not_article ORDER BY n DESC",
        ),
        articles=_count(conn, "SELECT count(*) AS n FROM articles WHERE id = root_id"),
        versions=int(versions["versions"]),
        current_versions=int(versions["current"]),
        superseded_versions=int(versions["versions"]) - int(versions["current"]),
        reverted_versions=int(versions["reverts"]),
        article_urls=_count(conn, "SELECT count(*) AS n FROM article_urls"),
        urls_collapsed=_count(
            conn,
            "SELECT count(*) - count(DISTINCT root_id) AS n FROM article_urls"
            " WHERE content_hash IS NOT NULL",
        ),
        pages_archived=int(archive["pages"]),
        archive_bytes=int(archive["stored"]),
        raw_bytes=int(archive["raw"]),
        failures_by_reason=_counts_by(
            conn,
            "SELECT reason AS name, count(*) AS n FROM failures GROUP BY reason"
            " ORDER BY n DESC, reason LIMIT ?",
            top,
        ),
        last_runs=runs,
    )
