"""``vksnd clean FILE...``: the text-level rules alone, for text dumps like ``fixtures/seeds``.

Useful on text extracted by other tools (copy/paste, other scrapers): it drops the image
toolbar and captions, page chrome and the trailing byline (``vksnd.parsers.textrules``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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


def run(args: argparse.Namespace) -> int:
    status = 0
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        try:
            raw = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            print(f"vksnd clean: cannot read {path}: {exc}", file=sys.stderr)
            status = 2
            continue
        result = clean_text(raw)
        if args.json:
            payload = {"file": str(path), "text": result.text,
                       "captions": list(result.captions), "byline": result.byline}  # fmt: skip
            output = json.dumps(payload, ensure_ascii=False)
        else:
            output = result.text
        if args.out is not None:
            target = args.out / (path.stem + ".json" if args.json else path.name)
            target.write_text(output, encoding="utf-8")
        else:
            print(output)
    return status
