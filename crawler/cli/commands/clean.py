"""``vksnd clean FILE...``: the text-level rules alone, for text dumps like ``fixtures/seeds``.

Useful on text extracted by other tools (copy/paste, other scrapers): it drops the image
toolbar and captions, page chrome and the trailing byline (``vksnd.parsers.textrules``).
Input must be UTF-8 (a BOM is fine): other bytes are refused with a line saying so, not
silently replaced. ``--out`` never overwrites an input file.

Exit: 0 every file cleaned, 3 some could not be read, 1 none could, 2 usage (an ``--out`` that
would overwrite an input, or that cannot be created).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vksnd.crawler.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    PROFILE_ENV,
    add_profile_argument,
)
from vksnd.parsers.errors import ProfileError
from vksnd.parsers.profiles.load import resolve_profile
from vksnd.parsers.textrules import clean_text

HELP = "clean text dumps (toolbar + captions, chrome, byline) and print or write them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", metavar="FILE", nargs="+", type=Path, help="UTF-8 text dumps")
    parser.add_argument(
        "--out", type=Path, default=None, help="write each result to DIR under the same name"
    )
    parser.add_argument(
        "--json", action="store_true", help="JSON with the text, captions and byline found"
    )
    add_profile_argument(parser)  # the site's masthead and chrome phrases


def _target(out: Path, path: Path, as_json: bool) -> Path:
    return out / (path.stem + ".json" if as_json else path.name)


def read_utf8(path: Path) -> str:
    """The file's text; ``ValueError`` naming the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start});"
            " convert it first, e.g. iconv -f windows-1258 -t utf-8"
        ) from exc


def run(args: argparse.Namespace) -> int:
    try:
        profile = resolve_profile(args.profile or os.environ.get(PROFILE_ENV))
    except ProfileError as exc:
        print(f"vksnd clean: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out is not None:
        inputs = {path.resolve() for path in args.files}
        for path in args.files:
            if _target(args.out, path, args.json).resolve() in inputs:
                print(
                    f"vksnd clean: refusing to overwrite the input {path} (choose another --out)",
                    file=sys.stderr,
                )
                return EXIT_USAGE
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"vksnd clean: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    failed = 0
    for path in args.files:
        try:
            raw = read_utf8(path)
        except OSError as exc:
            print(f"vksnd clean: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            failed += 1
            continue
        except ValueError as exc:
            print(f"vksnd clean: {exc}", file=sys.stderr)
            failed += 1
            continue
        result = clean_text(raw, profile.text)
        if args.json:
            payload = {"file": str(path), "text": result.text,
                       "captions": list(result.captions), "byline": result.byline}  # fmt: skip
            output = json.dumps(payload, ensure_ascii=False)
        else:
            output = result.text
        if args.out is not None:
            _target(args.out, path, args.json).write_text(output, encoding="utf-8")
        else:
            print(output)
    if not failed:
        return EXIT_OK
    return EXIT_FAILED if failed == len(args.files) else EXIT_PARTIAL
