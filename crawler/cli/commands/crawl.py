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
from vksnd.crawler.crawl.passes import incremental_pass, open_resources, pipeline_config, summary

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
    report = RunReport("crawl")
    ended = run_reporting(
        "crawl",
        lambda: _crawl(settings, report, signals, wait=args.wait, since=args.recheck_since),
        signals,
    )
    if report.outcome is not None:
        print(f"crawl: {summary(report)}", flush=True)
    if isinstance(ended, int):
        return ended
    return exit_code(report.outcome, signals)


async def _crawl(
    settings: Settings, report: RunReport, signals: StopSignal, *, wait: bool, since: date | None
) -> None:
    stop = asyncio.Event()
    async with open_resources(settings, pipeline_config(settings), wait=wait) as resources:
        with stop_on_signals(stop, signals):
            await incremental_pass(
                resources, stop, report, recheck_since=since, progress=sys.stderr
            )
