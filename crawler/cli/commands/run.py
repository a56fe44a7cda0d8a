"""``vksnd run``: the daemon (incremental pass every interval, retry pass for failed URLs)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from vksnd.crawler.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    StopSignal,
    add_settings_arguments,
    load,
    minutes,
    run_reporting,
    seconds,
    stop_on_signals,
    writer_flags,
)
from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.sites import open_sites
from vksnd.crawler.service.daemon import Daemon, Schedule
from vksnd.crawler.service.http_api import DEFAULT_HOST, DEFAULT_PORT, HttpBindError, parse_bind
from vksnd.crawler.service.monitor import service

HELP = "Run as a daemon: an incremental pass every --interval, retries of failed URLs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    writer_flags(parser)
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
    service = parser.add_argument_group("service")
    service.add_argument(
        "--http",
        dest="http_bind",
        nargs="?",
        const=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        default=None,
        metavar="HOST:PORT",
        help="serve /healthz, /metrics and /articles (off unless given; bare --http: "
        f"{DEFAULT_HOST}:{DEFAULT_PORT}, loopback)",
    )
    service.add_argument(
        "--export-dir",
        dest="export_dir",
        type=Path,
        default=None,
        help="refresh this corpus folder (.txt files + manifest) after each pass",
    )


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return EXIT_USAGE
    if settings.http_bind is not None:
        try:
            parse_bind(settings.http_bind)
        except ValueError as exc:
            print(f"vksnd run: --http: {exc}", file=sys.stderr)
            return EXIT_USAGE
    signals = StopSignal()
    try:
        ended = run_reporting("run", lambda: _daemon(settings, signals, args.wait), signals)
    except HttpBindError as exc:
        print(f"vksnd run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # The daemon only ends on a signal: 130 (SIGINT) or 143 (SIGTERM), like every command.
    return signals.exit_code if ended is None else ended


async def _daemon(settings: Settings, signals: StopSignal, wait: bool) -> None:
    stop = asyncio.Event()
    schedule = Schedule.from_settings(settings)
    async with (
        open_sites(settings, in_daemon=True, wait=wait) as resources,
        service(settings, resources[0].fetcher.stats, schedule.interval) as monitor,
    ):
        with stop_on_signals(stop, signals):
            await Daemon(resources, schedule, stop, monitor).run()
