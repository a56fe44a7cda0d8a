"""``vksnd backfill``: store every article published within a date range (resumable)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from vksnd.crawler.cli.common import (
    EXIT_USAGE,
    StopSignal,
    add_settings_arguments,
    exit_code,
    iso_day,
    load,
    run_reporting,
    stop_on_signals,
    writer_flags,
)
from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.backfill import BackfillRequest, BackfillState, backfill
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.passes import CrawlResources, summary
from vksnd.crawler.crawl.sites import SitesReport, open_sites, run_sites
from vksnd.parsers.dates import VIETNAM_TZ

HELP = "Walk the listings back to --since and store every article in range (resumable)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    writer_flags(parser)
    group = parser.add_argument_group("range")
    group.add_argument("--since", type=iso_day, required=True, help="oldest date, YYYY-MM-DD")
    group.add_argument(
        "--until",
        type=iso_day,
        default=None,
        help="newest date, YYYY-MM-DD (default: today, Vietnam time)",
    )
    group.add_argument(
        "--category",
        dest="category_ids",
        type=int,
        action="append",
        default=None,
        metavar="ID",
        help="only this category (repeatable)",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="walk the listings and count; fetch articles only to date them",
    )


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return EXIT_USAGE
    until = args.until or datetime.now(VIETNAM_TZ).date()
    if until < args.since:
        print(f"vksnd: --until {until} is before --since {args.since}", file=sys.stderr)
        return EXIT_USAGE
    request = BackfillRequest(
        since=args.since,
        until=until,
        categories=tuple(args.category_ids) if args.category_ids else None,
        dry_run=args.dry_run,
    )
    if request.categories is not None and len(settings.sites) > 1:
        print("vksnd: --category names one site's categories: not with several sites",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    signals = StopSignal()
    state = BackfillState.of(request)
    sites = SitesReport(state.report)
    ended = run_reporting(
        "backfill", lambda: _backfill(settings, state, sites, signals, wait=args.wait), signals
    )
    report = state.report
    for name, site_report in sites.by_site.items():  # several sites: each one's line first
        if site_report.outcome is not None and not request.dry_run:
            print(f"backfill {name}: {summary(site_report)}", flush=True)
    if report.outcome is not None:
        if request.dry_run:
            print(
                f"backfill (dry run): {report.outcome.value}: {state.planned} articles to fetch"
                f" in {request.since}..{request.until};"
                f" {report.counters.listing_pages} listing pages walked"
            )
        else:
            print(f"backfill: {summary(report)}", flush=True)
    if isinstance(ended, int):
        return ended
    return exit_code(report.outcome, signals)


async def _backfill(
    settings: Settings,
    state: BackfillState,
    sites: SitesReport,
    signals: StopSignal,
    *,
    wait: bool,
) -> None:
    stop = asyncio.Event()
    request = state.request
    async with open_sites(settings, wait=wait, dry_run=request.dry_run) as resources:
        with stop_on_signals(stop, signals):
            if len(resources) == 1:
                await backfill(resources[0], request, stop, state=state)
                return
            # Several sites: each one's backfill at once, its own progress and run.
            states: list[BackfillState] = []

            async def one_site(
                site: CrawlResources, stop: asyncio.Event, report: RunReport
            ) -> RunReport:
                site_state = BackfillState(
                    "backfill", report, since=request.since, until=request.until,
                    request=request,
                )  # fmt: skip
                states.append(site_state)
                await backfill(site, request, stop, progress=None, state=site_state)
                return report

            try:
                await run_sites(resources, stop, sites, one_site)
            finally:
                state.planned = sum(s.planned for s in states)
