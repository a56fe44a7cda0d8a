"""What the commands share: flags (``--db``, ``--config``, runtime), settings, logging, signals,
exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from vksnd.crawler.cli.logs import setup_logging
from vksnd.crawler.config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONFIG_PATH,
    DEFAULT_CONTACT_URL,
    DEFAULT_DB,
    DEFAULT_HOST_CONCURRENCY,
    DEFAULT_RATE,
    ConfigError,
    Settings,
    duration_seconds,
    load_settings,
    settings_from_args,
)
from vksnd.crawler.crawl.outcomes import storage_failure
from vksnd.parsers.profiles.load import DEFAULT_PROFILE_NAME, builtin_names
from vksnd.storage.errors import DatabaseBusy
from vksnd.storage.records import RunOutcome

T = TypeVar("T")

log = logging.getLogger("vksnd.signals")

# Exit codes, every command (README "Exit codes"): a run's outcome, or why there was none.
EXIT_OK = 0
EXIT_FAILED = 1  # the run failed, or storage refused (disk full, read-only, corrupt)
EXIT_USAGE = 2  # bad flags or settings (argparse's own code)
EXIT_PARTIAL = 3  # some of the run's scope failed or was skipped; queued for a retry
EXIT_BUSY = 4  # another vksnd is writing to the database
EXIT_INTERRUPTED = 130  # SIGINT (128 + 2)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)
_OUTCOME_EXIT = {
    RunOutcome.OK: EXIT_OK,
    RunOutcome.PARTIAL: EXIT_PARTIAL,
    RunOutcome.FAILED: EXIT_FAILED,
}


def parse_duration(text: str, default_unit: str) -> timedelta:
    """``90s``, ``30m``, ``1.5h``; a bare number is in ``default_unit`` (the settings' parser,
    so a flag, ``VKSND_*`` and the file take the same forms)."""
    try:
        seconds = duration_seconds(text, default_unit)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
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


def add_config_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"TOML settings file (default {DEFAULT_CONFIG_PATH} if present)",
    )


PROFILE_ENV = "VKSND_PROFILE"


def add_profile_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--profile``: the commands that crawl, parse, reparse or export (docs/PROFILES.md)."""
    parser.add_argument(
        "--profile",
        dest="profile",
        default=None,
        metavar="NAME|PATH",
        help=f"site profile: a built-in name ({', '.join(builtin_names())}) or a TOML file"
        f" (env {PROFILE_ENV}, default {DEFAULT_PROFILE_NAME}; docs/PROFILES.md)",
    )


def add_db_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--config`` and ``--db``: all the storage commands (export, stats, reparse) take."""
    add_config_argument(parser)
    parser.add_argument(
        "--db", type=Path, default=None, help=f"database (default {DEFAULT_DB}, env VKSND_DB)"
    )


def writer_flags(parser: argparse.ArgumentParser) -> None:
    """``--wait``: the commands that write take the database's writer lock for their run."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="if another vksnd is writing to the database, wait for it to finish instead of"
        f" refusing (exit {EXIT_BUSY})",
    )


def failure_exit_code(error: BaseException) -> int:
    """The exit code of a command that could not run: bad settings 2, a busy database 4,
    anything storage refused 1."""
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    if isinstance(storage_failure(error), DatabaseBusy):
        return EXIT_BUSY
    return EXIT_FAILED


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings flags of the commands that crawl (and of ``vksnd config``). Each ``dest`` is
    the setting's key; all default to None so that the lower layers apply."""
    group = parser.add_argument_group("settings (flags > VKSND_* env > TOML file > defaults)")
    add_db_arguments(group)
    add_profile_argument(group)
    group.add_argument(
        "--base-url",
        dest="base_url",
        default=None,
        help=f"portal origin (default {DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--sites",
        default=None,
        metavar="NAME,NAME",
        help="crawl these sites (profile names) together; per-site settings: [sites.NAME]",
    )
    group.add_argument("--user-agent", dest="user_agent", default=None)
    group.add_argument(
        "--contact-url",
        dest="contact_url",
        default=None,
        help=f"contact URL in the default User-Agent ({DEFAULT_CONTACT_URL})",
    )
    group.add_argument(
        "--rate", type=float, default=None, help=f"requests/s per host (default {DEFAULT_RATE})"
    )
    group.add_argument(
        "--host-concurrency",
        dest="host_concurrency",
        type=int,
        default=None,
        help=f"requests in flight per host (default {DEFAULT_HOST_CONCURRENCY})",
    )
    group.add_argument(
        "--global-concurrency",
        dest="global_concurrency",
        type=int,
        default=None,
        help="requests in flight, all hosts together",
    )
    group.add_argument("--max-body-bytes", dest="max_body_bytes", type=int, default=None)
    group.add_argument("--retry-attempts", dest="retry_attempts", type=int, default=None)
    group.add_argument("--read-timeout", dest="read_timeout", type=float, default=None)
    group.add_argument(
        "--ignore-robots",
        dest="obey_robots",
        action="store_const",
        const=False,
        default=None,
        help="do not obey robots.txt (benchmarks against the replica)",
    )
    group.add_argument(
        "--parse-executor",
        dest="parse_executor",
        choices=("thread", "process"),
        default=None,
        help="where pages are parsed off the event loop (default: thread; see bench/crawl.py)",
    )
    group.add_argument("--log-format", dest="log_format", choices=("text", "json"), default=None)
    group.add_argument(
        "--log-level",
        dest="log_level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default=None,
        help="DEBUG logs one line per page (default INFO)",
    )


def exit_code(outcome: RunOutcome | None, signals: StopSignal) -> int:
    """A run's exit code: its outcome's, or 128 + the signal that interrupted it."""
    if outcome is RunOutcome.INTERRUPTED or outcome is None:
        return signals.exit_code
    return _OUTCOME_EXIT[outcome]


def run_reporting(
    command: str, main: Callable[[], Coroutine[object, object, T]], signals: StopSignal
) -> T | int:
    """``asyncio.run(main())``; a storage failure (disk full, read-only, locked…) ends the run
    with one line naming it, ``vksnd COMMAND: REASON: PATH``, and EXIT_FAILED; a second signal
    (the run cancelled) ends it with 128 + the signal, no traceback. Anything else propagates
    as a bug would."""
    try:
        return asyncio.run(_dropping_signal_handlers(main()))
    except asyncio.CancelledError:
        print(f"vksnd {command}: interrupted", file=sys.stderr, flush=True)
        return signals.exit_code
    except Exception as exc:
        failure = storage_failure(exc)
        if failure is None:
            raise
        print(f"vksnd {command}: {failure}", file=sys.stderr, flush=True)
        return failure_exit_code(failure)


async def _dropping_signal_handlers(main: Coroutine[object, object, T]) -> T:
    """``main``, then the loop's signal handlers (``stop_on_signals``) removed while the loop
    still runs: the loop closes its self-pipe before it removes them itself, and a signal in
    between is written to a closed pipe ("Exception ignored ... wakeup fd"). From here a
    Ctrl-C is Python's KeyboardInterrupt again (exit 130, ``main``)."""
    try:
        return await main
    finally:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def load(args: argparse.Namespace) -> Settings | None:
    """Settings from flags/env/file, logging configured; None (after a message) if invalid."""
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"vksnd: {exc}", file=sys.stderr)
        return None
    setup_logging(settings.log_format, settings.log_level)
    return settings


def storage_settings(args: argparse.Namespace) -> Settings:
    """The settings of a storage command (``add_db_arguments``): the database is ``--db`` >
    ``VKSND_DB`` > TOML ``db`` > default, the rest from the environment and the file."""
    return load_settings(
        {"db": args.db, "profile": getattr(args, "profile", None)}, os.environ, args.config
    )


@dataclass(slots=True)
class StopSignal:
    """The signal that stopped a command (the first one), for its exit code."""

    signum: int | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.signum == signal.SIGTERM else EXIT_INTERRUPTED


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, signals: StopSignal) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (graceful); a second one cancels the main task (hard)."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal(signum: int) -> None:
        if stop.is_set() and main is not None:
            log.warning("second signal: stopping now", extra={"event": "hard_stop"})
            main.cancel()
            return
        signals.signum = signum
        log.info(
            f"{signal.Signals(signum).name}: finishing pages in flight"
            " (send it again to stop at once)",
            extra={"event": "graceful_stop"},
        )
        stop.set()

    def on_signal_while_closing(signum: int) -> None:
        log.info(
            f"{signal.Signals(signum).name}: already stopping, closing the database",
            extra={"event": "closing"},
        )

    handled = (signal.SIGINT, signal.SIGTERM)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        # The run is over; what follows closes the database and the pools. A signal now must
        # not interrupt that (a KeyboardInterrupt there left SQLite's thread running and the
        # process hanging at exit): it is noted and ignored until the loop closes, which
        # removes the handlers.
        for signum in handled:
            loop.add_signal_handler(signum, on_signal_while_closing, signum)
