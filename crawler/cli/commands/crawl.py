"""``vksnd crawl``: one incremental pass, then a summary; the exit code is its outcome."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

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
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.passes import CrawlResources, incremental_pass, summary
from vksnd.crawler.crawl.sites import SitesReport, open_sites, run_sites

HELP = (
    "One incremental pass: new articles, edits (conditional GETs of recent articles and a"
    " rolling share of older ones), due retries."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    writer_flags(parser)
    parser.add_argument(
        "--recheck-since",
        dest="recheck_since",
        type=iso_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="also re-check (conditional GET) every article published since this day",
    )


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return EXIT_USAGE
    signals = StopSignal()
    sites = SitesReport(RunReport("crawl"))
    report = sites.overall
    ended = run_reporting(
        "crawl",
        lambda: _crawl(settings, sites, signals, wait=args.wait, since=args.recheck_since),
        signals,
    )
    if len(sites.by_site) > 1:  # each site's line, then the overall one (the worst wins)
        for name, site_report in sites.by_site.items():
            if site_report.outcome is not None:
                print(f"crawl {name}: {summary(site_report)}", flush=True)
    if report.outcome is not None:
        print(f"crawl: {summary(report)}", flush=True)
    if isinstance(ended, int):
        return ended
    return exit_code(report.outcome, signals)


async def _crawl(
    settings: Settings, report: SitesReport, signals: StopSignal, *, wait: bool, since: date | None
) -> None:
    stop = asyncio.Event()
    async with open_sites(settings, wait=wait) as resources:
        # One site shows its progress; several would interleave theirs: log lines only.
        progress = sys.stderr if len(resources) == 1 else None

        async def one_site(
            site: CrawlResources, stop: asyncio.Event, site_report: RunReport
        ) -> RunReport:
            return await incremental_pass(
                site, stop, site_report, recheck_since=since, progress=progress
            )

        with stop_on_signals(stop, signals):
            await run_sites(resources, stop, report, one_site)
