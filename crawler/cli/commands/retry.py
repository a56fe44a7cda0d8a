"""``vksnd retry``: put failed, skipped or gone URLs back in the queue, by hand.

Transient failures (network, server, throttled) come back by themselves within minutes to a day,
and skipped URLs (too large, redirect, not HTML, robots, parse, other 4xx) after days
(``skipped_retry_days``); this is for not waiting: after a fix, after an outage, or to give a
``gone`` page another chance. The URLs turn pending and their attempts start over; the next
``vksnd crawl`` (or the daemon's next pass) fetches them, and listing pages among them are walked
on from, as any resume point.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, time

from vksnd.crawler.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_db_arguments,
    add_profile_argument,
    failure_exit_code,
    iso_day,
    storage_settings,
    writer_flags,
)
from vksnd.crawler.config import ConfigError, Settings
from vksnd.crawler.crawl.storage_engine import open_store
from vksnd.storage.errors import StorageError
from vksnd.storage.records import ReasonClass

HELP = "re-queue failed, skipped (or gone) URLs now, by reason class and date"
# Without --reason: everything that can be retried and is not known to be gone.
DEFAULT_CLASSES = tuple(c for c in ReasonClass if c.retried_on_schedule)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_arguments(parser)
    add_profile_argument(parser)
    writer_flags(parser)
    parser.add_argument(
        "--reason",
        dest="reasons",
        action="append",
        choices=[c.value for c in ReasonClass],
        default=None,
        metavar="CLASS",
        help="only this reason class (repeatable): "
        + ", ".join(c.value for c in ReasonClass)
        + "; default: all but gone and out_of_scope",
    )
    parser.add_argument(
        "--since",
        type=iso_day,
        default=None,
        help="only URLs whose last attempt was on/after YYYY-MM-DD (UTC)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")


def run(args: argparse.Namespace) -> int:
    classes = tuple(ReasonClass(r) for r in args.reasons) if args.reasons else DEFAULT_CLASSES
    since = datetime.combine(args.since, time(0), tzinfo=UTC) if args.since else None
    try:
        settings = storage_settings(args)
        if not settings.db.is_file():
            print(f"vksnd retry: no database at {settings.db}", file=sys.stderr)
            return EXIT_FAILED
        counts = asyncio.run(_requeue(settings, classes, since, args.dry_run, args.wait))
    except (StorageError, ConfigError) as exc:
        print(f"vksnd retry: {exc}", file=sys.stderr)
        return failure_exit_code(exc)
    total = sum(counts.values())
    if not total:
        print("retry: nothing to re-queue")
        return EXIT_OK
    detail = ", ".join(f"{c.value} {n}" for c, n in sorted(counts.items(), key=lambda i: -i[1]))
    verb = "would re-queue" if args.dry_run else "re-queued"
    print(
        f"retry: {verb} {total} URLs ({detail}); the next `vksnd crawl` or daemon pass fetches them"
    )
    return EXIT_OK


async def _requeue(
    settings: Settings,
    classes: tuple[ReasonClass, ...],
    since: datetime | None,
    dry_run: bool,
    wait: bool,
) -> dict[ReasonClass, int]:
    async with await open_store(
        settings.db, settings.storage, wait=wait, profile=settings.profile
    ) as store:
        return await store.requeue(classes, since=since, dry_run=dry_run)
