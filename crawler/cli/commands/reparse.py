"""``vksnd reparse``: re-extract archived article pages with the current parser. No network.

Where the clean text changed, the new text is stored under the usual rules (a new version of the
article, or a duplicate of another one); pages whose text did not change leave no trace. Pages
fetched for an article but refused by the parser of the day (``urls.not_article``) are read
again too: one the current parser takes is stored as a new article. Run it after a parser fix,
then ``vksnd export`` writes the new versions. Parsing runs in a pool of ``--workers``
processes (default: one per core); a progress bar (pages done/total, rate, time left) is drawn
on a terminal unless ``--quiet``. Stopped midway, the database is consistent and a rerun
finishes the job.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, time

from tqdm import tqdm

from vksnd.crawler.cli.common import (
    EXIT_FAILED,
    add_db_arguments,
    add_profile_argument,
    failure_exit_code,
    iso_day,
    storage_settings,
    writer_flags,
)
from vksnd.crawler.config import ConfigError, Settings
from vksnd.crawler.crawl.reparse import ReparseReport, default_workers, reparse
from vksnd.crawler.crawl.sites import SiteRules, open_sites_store, plan_sites
from vksnd.storage.errors import StorageError

HELP = "re-extract archived pages with the current parser; store changed texts as new versions"


async def _reparse(
    settings: Settings, since: datetime | None, wait: bool, workers: int, bar: bool
) -> ReparseReport:
    """Each page read with its site's profile and stored as its site's (``sites``)."""
    plans = plan_sites(settings)
    profile_of = SiteRules.of(plans).profile_of
    async with await open_sites_store(settings, plans, wait=wait) as store:
        if not bar:
            return await reparse(store, since, profile_of=profile_of, workers=workers)
        total = await store.count_archived_article_pages(since)
        with tqdm(total=total, unit="page", file=sys.stderr, dynamic_ncols=True) as progress:
            return await reparse(
                store, since, profile_of=profile_of, workers=workers, on_pages=progress.update
            )


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_arguments(parser)
    add_profile_argument(parser)
    writer_flags(parser)
    parser.add_argument(
        "--since", type=iso_day, default=None, help="only pages fetched on/after YYYY-MM-DD (UTC)"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="parser processes (default: one per core; 1 parses in this process)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar (none is drawn off a terminal)"
    )


def run(args: argparse.Namespace) -> int:
    since = datetime.combine(args.since, time(0), tzinfo=UTC) if args.since else None
    workers = args.workers if args.workers is not None else default_workers()
    bar = not args.quiet and sys.stderr.isatty()
    try:
        settings = storage_settings(args)
        if not settings.db.is_file():
            print(f"vksnd reparse: no database at {settings.db}", file=sys.stderr)
            return EXIT_FAILED
        report = asyncio.run(_reparse(settings, since, args.wait, workers, bar))
    except (StorageError, ConfigError) as exc:
        print(f"vksnd reparse: {exc}", file=sys.stderr)
        return failure_exit_code(exc)
    print(report.render())
    return 0
