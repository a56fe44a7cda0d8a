"""``vksnd stats``: what the database holds, read-only (safe while a daemon writes)."""

from __future__ import annotations

import argparse
import json
import sys

from vksnd.crawler.cli.common import add_db_arguments, failure_exit_code, storage_settings
from vksnd.crawler.config import ConfigError
from vksnd.crawler.crawl.storage_engine import open_reader
from vksnd.storage.errors import StorageError
from vksnd.storage.records import ScopeStats, SiteStats, StorageStats

HELP = "show URLs by state, articles, versions, dedupe, failures and the last runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")


def run(args: argparse.Namespace) -> int:
    try:
        settings = storage_settings(args)
        with open_reader(settings.db, settings.storage) as reader:
            stats = reader.stats()
    except (StorageError, ConfigError) as exc:
        print(f"vksnd stats: {exc}", file=sys.stderr)
        return failure_exit_code(exc)
    if args.json:
        print(json.dumps(stats.as_json(), ensure_ascii=False, indent=2))
    else:
        print(render(stats))
    return 0


def _table(title: str, rows: tuple[tuple[str, int], ...]) -> list[str]:
    lines = [title]
    if not rows:
        return [*lines, "  (none)"]
    width = max(len(name) for name, _ in rows)
    lines.extend(f"  {name:<{width}}  {count:>9,}" for name, count in rows)
    return lines


def render(stats: StorageStats) -> str:
    mib = 1024 * 1024
    ratio = stats.raw_bytes / stats.archive_bytes if stats.archive_bytes else 0.0
    lines = [
        f"database   {stats.path}  ({stats.db_bytes / mib:,.1f} MiB)",
        "",
        *_table("URLs by state", stats.urls_by_state),
        *_table("URLs by kind", stats.urls_by_kind),
        *_table("fetched, not an article, by reason", stats.not_articles_by_reason),
        "",
        "articles",
        f"  articles               {stats.articles:>9,}",
        f"  versions               {stats.versions:>9,}",
        f"    current              {stats.current_versions:>9,}",
        f"    superseded           {stats.superseded_versions:>9,}",
        f"    reverts              {stats.reverted_versions:>9,}",
        f"  URLs mapped            {stats.article_urls:>9,}",
        f"  URLs collapsed (dedupe){stats.urls_collapsed:>9,}",
        "",
        "archive",
        f"  pages                  {stats.pages_archived:>9,}",
        f"  raw                    {stats.raw_bytes / mib:>9,.1f} MiB",
        f"  stored                 {stats.archive_bytes / mib:>9,.1f} MiB  ({ratio:.1f}x)",
        "",
        *_table("waiting for a retry (or gone), by state/reason", stats.waiting_by_reason),
        *_table("failed attempts logged, by reason", stats.failures_by_reason),
        "",
        *_scopes(stats.scopes),
        "",
        *_sites(stats.sites),
        "",
        "last runs",
    ]
    if not stats.last_runs:
        lines.append("  (none)")
    for run in stats.last_runs:
        status = "running/killed" if run.outcome is None else run.outcome.value
        counters = " ".join(f"{k}={v}" for k, v in run.counters if v)
        lines.append(
            f"  #{run.id} {run.site} {run.kind} {run.started_at} -> {run.finished_at or '-'}"
            f" {status}"
        )
        if counters:
            lines.append(f"      {counters}")
        if run.reason:
            lines.append(f"      why: {run.reason}")
    return "\n".join(lines)


def _sites(sites: tuple[SiteStats, ...]) -> list[str]:
    """Per site (``sites = [...]``): its articles, URLs by state and last run."""
    lines = ["by site"]
    if not sites:
        return [*lines, "  (none)"]
    for s in sites:
        urls = ", ".join(f"{state} {n:,}" for state, n in s.urls_by_state) or "no URLs"
        last = s.last_run_outcome.value if s.last_run_outcome is not None else "no run"
        lines.append(
            f"  {s.site}: {s.articles:,} articles, {s.versions:,} versions;"
            f" URLs: {urls}; last run: {last}"
        )
    return lines


def _scopes(scopes: tuple[ScopeStats, ...]) -> list[str]:
    """Per listing scope: how far back its listings were read, and what is missing."""
    lines = ["listings by category (walked to: oldest date read; complete to: no page missing"]
    lines.append("  above it; articles: stored / pending / failed / skipped / gone)")
    if not scopes:
        return [*lines, "  (none walked yet)"]
    header = ("scope", "pages", "failed", "walked to", "complete to", "articles")
    rows = [
        (
            s.scope,
            f"{s.pages_read:,}",
            f"{s.pages_failed:,}",
            s.walked_to or "-",
            s.complete_to or "none",
            f"{s.articles_stored:,} / {s.articles_pending:,} / {s.articles_failed:,}"
            f" / {s.articles_skipped:,} / {s.articles_gone:,}",
        )
        for s in scopes
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines.extend(
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in (header, *rows)
    )
    return lines
