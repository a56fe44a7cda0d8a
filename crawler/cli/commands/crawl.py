"""``vksnd crawl``: one incremental pass, then a summary."""

from __future__ import annotations

import argparse
import asyncio

from vksnd.crawler.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_settings_arguments,
    load,
    run_reporting,
    stop_on_signals,
)
from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.passes import incremental_pass, open_resources, pipeline_config, summary
from vksnd.storage.records import RunCounters

HELP = "One incremental pass: new articles, edits of recent ones (conditional GETs), due retries."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return EXIT_USAGE
    outcome = run_reporting("crawl", lambda: _crawl(settings))
    if isinstance(outcome, int):
        return outcome
    stop, counters = outcome
    print(f"crawl: {summary(counters)}")
    if stop:
        return EXIT_INTERRUPTED
    return EXIT_OK  # failed URLs are in the summary and the store, retried later


async def _crawl(settings: Settings) -> tuple[bool, RunCounters]:
    stop = asyncio.Event()
    async with open_resources(settings, pipeline_config(settings)) as resources:
        with stop_on_signals(stop):
            counters = await incremental_pass(resources, stop)
    return stop.is_set(), counters
