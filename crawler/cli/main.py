"""The ``vksnd`` command line: one subcommand per module in ``vksnd.crawler.cli.commands``.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Keeping the commands in their own modules keeps this file a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

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
    "replica",
)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"vksnd.crawler.cli.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vksnd",
        description="Crawl, clean and export the articles of vksndtc.gov.vn.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _load(name)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
