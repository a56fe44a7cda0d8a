"""``vksnd export``: the corpus as ``{seq:03d}_{hash16}.txt`` files plus a manifest, or JSONL.

Incremental and idempotent (see ``storage.export``); reads its own snapshot, so it runs while a
daemon writes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vksnd.crawler.cli.common import (
    add_db_arguments,
    add_profile_argument,
    failure_exit_code,
    iso_day,
    storage_settings,
)
from vksnd.crawler.config import ConfigError
from vksnd.crawler.crawl.storage_engine import open_reader
from vksnd.storage.errors import StorageError
from vksnd.storage.records import ExportFilter
from vksnd.storage.sites import SiteNameError, check_site_name

HELP = "write the corpus: one .txt per article + manifest.jsonl (or --format jsonl)"


def _seq(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"seq must be >= 0: {text!r}")
    return value


def _site(text: str) -> str:
    try:
        return check_site_name(text)
    except SiteNameError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_arguments(parser)
    add_profile_argument(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory (txt; required) or file (jsonl; default stdout)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--after-seq", dest="after_seq", type=_seq, default=None, help="only seq > N"
    )
    which.add_argument(
        "--since", type=iso_day, default=None, help="only articles published on/after YYYY-MM-DD"
    )
    parser.add_argument(
        "--site",
        type=_site,
        default=None,
        metavar="NAME",
        help="only this site's articles (a name of `sites`; file names unchanged)",
    )
    parser.add_argument("--format", choices=("txt", "jsonl"), default="txt")
    parser.add_argument(
        "--include-superseded",
        dest="include_superseded",
        action="store_true",
        help="every stored version, not only the current ones",
    )


def run(args: argparse.Namespace) -> int:
    filt = ExportFilter(
        after_seq=args.after_seq,
        since=args.since,
        include_superseded=args.include_superseded,
        site=args.site,
    )
    if args.format == "txt" and args.out is None:
        print("vksnd export: --out DIR is required with --format txt", file=sys.stderr)
        return 2
    try:
        settings = storage_settings(args)
        with open_reader(settings.db, settings.storage) as reader:
            if args.format == "jsonl":
                if args.out is None:
                    try:
                        count = reader.export_jsonl(sys.stdout, filt)
                        sys.stdout.flush()
                    except BrokenPipeError:  # `| head`: the reader left, not an error
                        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                        return 0
                else:
                    count = reader.export_jsonl_file(args.out, filt)
                print(f"exported {count} articles as JSONL", file=sys.stderr)
                return 0
            report = reader.export_corpus(args.out, filt)
    except (StorageError, ConfigError) as exc:
        print(f"vksnd export: {exc}", file=sys.stderr)
        return failure_exit_code(exc)
    print(
        f"{report.written} written, {report.restored} restored, {report.removed} removed"
        f" (superseded), {report.skipped} already exported ({report.matched} matching)"
        f" -> {args.out}"
    )
    return 0
