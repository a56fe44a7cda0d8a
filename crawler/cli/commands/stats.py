"""``vksnd stats``: what the database holds, read-only (safe while a daemon writes)."""

from __future__ import annotations

import argparse
import json
import sys

from vksnd.crawler.cli.common import add_db_arguments, storage_settings
from vksnd.crawler.config import ConfigError
from vksnd.crawler.crawl.storage_engine import open_reader
from vksnd.storage.errors import StorageError
from vksnd.storage.records import StorageStats

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
        return 1
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
        *_table("failures by reason", stats.failures_by_reason),
        "",
        "last runs",
    ]
    if not stats.last_runs:
        lines.append("  (none)")
    for run in stats.last_runs:
        status = "running/killed" if run.ok is None else ("ok" if run.ok else "FAILED")
        counters = " ".join(f"{k}={v}" for k, v in run.counters if v)
        lines.append(
            f"  #{run.id} {run.kind} {run.started_at} -> {run.finished_at or '-'} {status}"
        )
        if counters:
            lines.append(f"      {counters}")
        if run.error:
            lines.append(f"      error: {run.error}")
    return "\n".join(lines)
