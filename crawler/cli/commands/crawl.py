"""``vksnd crawl``: one incremental pass, then a summary; the exit code is its outcome."""

from __future__ import annotations

import argparse
import asyncio

from vksnd.crawler.cli.common import (
    EXIT_USAGE,
    StopSignal,
    add_settings_arguments,
    exit_code,
    load,
    run_reporting,
    stop_on_signals,
    writer_flags,
)
from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.passes import incremental_pass, open_resources, pipeline_config, summary

HELP = "One incremental pass: new articles, edits of recent ones (conditional GETs), due retries."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    writer_flags(parser)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return EXIT_USAGE
    signals = StopSignal()
    report = RunReport("crawl")
    ended = run_reporting(
        "crawl", lambda: _crawl(settings, report, signals, wait=args.wait), signals
    )
    if report.outcome is not None:
        print(f"crawl: {summary(report)}", flush=True)
    if isinstance(ended, int):
        return ended
    return exit_code(report.outcome, signals)


async def _crawl(settings: Settings, report: RunReport, signals: StopSignal, *, wait: bool) -> None:
    stop = asyncio.Event()
    async with open_resources(settings, pipeline_config(settings), wait=wait) as resources:
        with stop_on_signals(stop, signals):
            await incremental_pass(resources, stop, report)
