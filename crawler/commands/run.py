"""``vksnd run``: the daemon (incremental pass every interval, retry pass for failed URLs)."""

from __future__ import annotations

import argparse
import asyncio

from crawler.commands._runtime import (
    EXIT_OK,
    EXIT_USAGE,
    add_runtime_arguments,
    load,
    minutes,
    seconds,
)
from crawler.config import Settings
from crawler.daemon import Daemon, Schedule, stop_on_signals
from crawler.passes import open_session, pipeline_config
from crawler.pipeline import ExecutorKind

HELP = "Run as a daemon: an incremental pass every --interval, retries of failed URLs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_runtime_arguments(parser)
    group = parser.add_argument_group("schedule")
    # dests are the settings' keys, so the flags win over VKSND_* and the TOML file.
    group.add_argument(
        "--interval",
        dest="interval_minutes",
        type=minutes,
        default=None,
        help="time between incremental passes: 30m (default), 2h, 45s",
    )
    group.add_argument(
        "--jitter",
        dest="interval_jitter",
        type=seconds,
        default=None,
        help="random delay added to each pass, capped at interval/10 (120s)",
    )
    group.add_argument(
        "--retry-interval",
        dest="retry_pass_minutes",
        type=minutes,
        default=None,
        help="time between retry passes for failed URLs (60m)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return EXIT_USAGE
    asyncio.run(_daemon(settings, args.parse_executor))
    return EXIT_OK


async def _daemon(settings: Settings, executor: ExecutorKind) -> None:
    stop = asyncio.Event()
    async with open_session(settings, pipeline_config(settings, executor=executor)) as session:
        with stop_on_signals(stop):
            await Daemon(session, Schedule.from_settings(settings), stop).run()
