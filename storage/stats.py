"""What ``vksnd stats`` reports, read from a reader connection (safe while a daemon writes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from vksnd.storage.errors import translate_sqlite_error
from vksnd.storage.records import RunOutcome, RunSummary, ScopeStats, SiteStats, StorageStats

DEFAULT_LAST_RUNS = 10
DEFAULT_TOP_REASONS = 20


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
            outcome=RunOutcome(row["outcome"]) if row["outcome"] else None,
            reason=row["reason"] or row["error"],
            counters=_counters(row["counters"]),
            site=row["site"],
        )
        for row in conn.execute(
            "SELECT id, kind, started_at, finished_at, outcome, reason, error, counters, site"
            " FROM runs ORDER BY id DESC LIMIT ?",
            (last_runs,),
        )
    )
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    # Counters kept by triggers in each writing transaction (storage/counts.py): O(1) reads.
    counters: dict[str, list[tuple[str, int]]] = {}
    for row in conn.execute(
        "SELECT name, key, n FROM counts WHERE n != 0 ORDER BY name, n DESC, key"
    ):
        counters.setdefault(row["name"], []).append((str(row["key"]), int(row["n"])))

    def total(name: str) -> int:
        return _total(counters, name)

    versions, current = total("versions"), total("current")
    return StorageStats(
        path=str(path),
        db_bytes=size,
        urls_by_state=tuple(counters.get("urls_state", ())),
        urls_by_kind=tuple(counters.get("urls_kind", ())),
        not_articles_by_reason=tuple(counters.get("not_article", ())),
        articles=total("articles"),
        versions=versions,
        current_versions=current,
        superseded_versions=versions - current,
        reverted_versions=total("reverts"),
        article_urls=total("article_urls"),
        urls_collapsed=total("urls_collapsed"),
        pages_archived=total("pages"),
        archive_bytes=total("pages_stored"),
        raw_bytes=total("pages_raw"),
        failures_by_reason=tuple(counters.get("failures", ())[:top]),
        last_runs=runs,
        waiting_by_reason=tuple(counters.get("waiting", ())),
        scopes=_scopes(conn, counters),
        sites=_sites(conn, counters),
    )


# The distinct values of an indexed leading column, one index seek each (a loose index scan):
# SQLite would otherwise read every entry of the index to find two or three names.
_DISTINCT_SITES = """
WITH RECURSIVE s(site) AS (
    SELECT min(site) FROM {table}
    UNION ALL
    SELECT (SELECT min(site) FROM {table} WHERE site > s.site) FROM s WHERE s.site IS NOT NULL
)
SELECT site FROM s WHERE site IS NOT NULL
"""


def _site_names(conn: sqlite3.Connection) -> set[str]:
    names: set[str] = set()
    for table in ("urls", "articles"):
        names.update(str(row[0]) for row in conn.execute(_DISTINCT_SITES.format(table=table)))
    return names


def _total(counters: dict[str, list[tuple[str, int]]], name: str) -> int:
    return sum(n for _, n in counters.get(name, ()))


def _sites(
    conn: sqlite3.Connection, counters: dict[str, list[tuple[str, int]]]
) -> tuple[SiteStats, ...]:
    """Per site: articles, versions, URLs by state and its newest finished run. A store of
    one site (the usual case) reads them from the whole store's counters; several sites are
    counted by site on their indexes (linear in the store: ~45 ms at 100,000 articles)."""
    runs = {
        row["site"]: row
        for row in conn.execute(
            "SELECT site, outcome, finished_at FROM runs r WHERE id = (SELECT max(id) FROM runs"
            " WHERE site = r.site AND finished_at IS NOT NULL)"
        )
    }
    names = _site_names(conn) | set(runs)
    # per site: (chains, versions, current versions) and URLs by state
    articles: dict[str, tuple[int, int, int]] = {}
    urls: dict[str, list[tuple[str, int]]] = {}
    if len(names) == 1:
        (site,) = names
        articles[site] = (
            _total(counters, "articles"),
            _total(counters, "versions"),
            _total(counters, "current"),
        )
        urls[site] = list(counters.get("urls_state", ()))
    else:
        for row in conn.execute(
            "SELECT site, state, count(*) AS n FROM urls GROUP BY site, state ORDER BY site, n DESC"
        ):
            urls.setdefault(row["site"], []).append((row["state"], int(row["n"])))
        for row in conn.execute(
            "SELECT site, count(*) AS versions, coalesce(sum(is_current), 0) AS current,"
            " coalesce(sum(id = root_id), 0) AS chains FROM articles GROUP BY site"
        ):
            articles[row["site"]] = (int(row["chains"]), int(row["versions"]), int(row["current"]))
    out = []
    for site in sorted({*urls, *articles, *runs}):
        chains, versions, current = articles.get(site, (0, 0, 0))
        run = runs.get(site)
        out.append(
            SiteStats(
                site=site,
                articles=chains,
                versions=versions,
                current_versions=current,
                urls_by_state=tuple(urls.get(site, ())),
                last_run_outcome=RunOutcome(run["outcome"]) if run and run["outcome"] else None,
                last_run_at=run["finished_at"] if run else None,
            )
        )
    return tuple(out)


_SCOPE_SQL = """
SELECT lp.scope AS scope,
       sum(lp.state = 'read') AS pages_read,
       sum(lp.state = 'failed') AS pages_failed,
       sum(lp.state != 'read') AS holes,
       sum(lp.state != 'read' AND lp.newest IS NULL) AS open_holes,
       max(CASE WHEN lp.state != 'read' THEN lp.newest END) AS hole_top,
       min(CASE WHEN lp.state = 'read' THEN lp.oldest END) AS walked_to,
       max(CASE WHEN lp.state = 'read' THEN lp.updated_at END) AS last_read_at
FROM listing_pages lp
GROUP BY lp.scope
"""


def _scopes(
    conn: sqlite3.Connection, counters: dict[str, list[tuple[str, int]]]
) -> tuple[ScopeStats, ...]:
    """Per listing scope: pages read and failed, how far back and how completely, articles
    (from the counters: article URLs by scope and state, fetched ones holding an article)."""
    articles: dict[str, dict[str, int]] = {}
    for key, n in counters.get("scope_urls", ()):
        scope, _, state = key.partition("\t")
        if state != "fetched":
            articles.setdefault(scope, {})[state] = n
    for scope, n in counters.get("scope_mapped", ()):
        articles.setdefault(scope, {})["stored"] = n
    out: list[ScopeStats] = []
    for row in conn.execute(_SCOPE_SQL):
        if not row["holes"]:
            complete_to = row["walked_to"]
        elif row["open_holes"]:
            complete_to = None  # a page at the top of the listing is missing
        else:
            complete_to = row["hole_top"]
        counts = articles.get(row["scope"], {})
        out.append(
            ScopeStats(
                scope=row["scope"],
                pages_read=int(row["pages_read"] or 0),
                pages_failed=int(row["pages_failed"] or 0),
                walked_to=row["walked_to"],
                complete_to=complete_to,
                last_read_at=row["last_read_at"],
                articles_stored=counts.get("stored", 0),
                articles_pending=counts.get("pending", 0),
                articles_failed=counts.get("failed", 0),
                articles_skipped=counts.get("skipped", 0),
                articles_gone=counts.get("gone", 0),
            )
        )
    out.sort(key=_scope_order)
    return tuple(out)


def _scope_order(stats: ScopeStats) -> tuple[str, int, str]:
    """``cat:2`` before ``cat:10``: numbers in their order, names alphabetically."""
    kind, _, name = stats.scope.partition(":")
    return (kind, int(name), "") if name.isdigit() else (kind, 1 << 62, name)
