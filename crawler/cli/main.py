"""The ``vksnd`` command line: one subcommand per module in ``vksnd.crawler.cli.commands``.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Keeping the commands in their own modules keeps this file a table of contents. Only the command
being run is imported (``vksnd backfill`` does not pay for the daemon, the HTTP API or the replica's
aiohttp server at every start: 0.4 s of a 0.7 s start); ``vksnd --help`` and a mistyped command
import them all, to list them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from vksnd.crawler.cli.common import EXIT_INTERRUPTED, EXIT_OK
from vksnd.crawler.config import DEFAULT_PROFILE, package_version

COMMANDS: tuple[str, ...] = (
    "parse",
    "clean",
    "crawl",
    "backfill",
    "run",
    "export",
    "stats",
    "reparse",
    "retry",
    "config",
    "profile",
    "replica",
)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"vksnd.crawler.cli.commands.{name}")


def command_named(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs, if it names one: the first word not an option (the top level
    has no option taking a value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser: every command, or only the command ``only`` (what ``main`` runs)."""
    parser = argparse.ArgumentParser(
        prog="vksnd",
        description="Crawl, clean and export the articles of a news site described by a site"
        f" profile (default: {DEFAULT_PROFILE.base_url}; docs/PROFILES.md).",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 partial, 4 database busy,"
        " 130/143 interrupted by SIGINT/SIGTERM (README: Exit codes).",
    )
    parser.add_argument("--version", action="version", version=f"vksnd {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else (only,):
        module = _load(name)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=command_named(words))
    args = parser.parse_args(words)
    try:
        code: int = args._run(args)
        sys.stdout.flush()  # a reader that left is found here, not in the interpreter's exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `vksnd stats | head`: the reader had what it wanted; not an error of ours. Later
        # writes (the interpreter's own flush at exit) go nowhere instead of failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


if __name__ == "__main__":
    raise SystemExit(main())
