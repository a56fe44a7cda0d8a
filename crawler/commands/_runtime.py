"""What the network commands (crawl, backfill, run) share: flags, settings, logging, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import date, timedelta
from typing import TypeVar

from crawler.config import ConfigError, Settings, add_common_arguments, settings_from_args
from crawler.logs import setup_logging
from storage.errors import StorageError

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, default_unit: str) -> timedelta:
    """``90s``, ``30m``, ``1.5h``; a bare number is in ``default_unit``."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 30s, 15m, 2h)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or default_unit]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


def iso_day(text: str) -> date:
    """An argparse type for ``YYYY-MM-DD`` flags (--since, --until)."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def minutes(text: str) -> float:
    return parse_duration(text, "m").total_seconds() / 60


def seconds(text: str) -> float:
    if text.strip() in ("0", "0s"):
        return 0.0
    return parse_duration(text, "s").total_seconds()


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    group = parser.add_argument_group("runtime")
    group.add_argument(
        "--parse-executor",
        choices=("thread", "process"),
        default="thread",
        help="where pages are parsed off the event loop (default: thread; see bench/crawl.py)",
    )
    group.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="DEBUG logs one line per page",
    )


def storage_failure(error: BaseException) -> StorageError | None:
    """The storage error behind ``error``, also inside task-group exception groups."""
    if isinstance(error, StorageError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = storage_failure(inner)
            if found is not None:
                return found
    return None


def run_reporting(command: str, main: Callable[[], Coroutine[object, object, T]]) -> T | int:
    """``asyncio.run(main())``; a storage failure (disk full, read-only, locked…) ends the run
    with one line naming it, ``vksnd COMMAND: REASON: PATH``, and EXIT_FAILED. The details are
    in the log above it; anything else propagates as a bug would."""
    try:
        return asyncio.run(main())
    except Exception as exc:
        failure = storage_failure(exc)
        if failure is None:
            raise
        print(f"vksnd {command}: {failure}", file=sys.stderr, flush=True)
        return EXIT_FAILED


def load(args: argparse.Namespace) -> Settings | None:
    """Settings from flags/env/file, logging configured; None (after a message) if invalid."""
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"vksnd: {exc}", file=sys.stderr)
        return None
    setup_logging(settings.log_format, args.log_level)
    return settings
