"""``vksnd parse PATH|URL``: one page through the parser, for checking what users will get.

A local file is read as bytes (its charset sniffed like a fetched page's, ``--content-type`` to
force one); a URL is fetched once with the crawler's own client (scope, robots.txt, size cap,
retries), so what is printed is what a crawl would store. A file that is not a page (a PDF,
an image, other binary data) is refused before parsing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import urlsplit

from vksnd.crawler.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_config_argument,
    add_profile_argument,
)
from vksnd.crawler.config import ConfigError, Settings, load_settings
from vksnd.crawler.fetch.errors import FetchError
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.parsers.article import DEFAULT_LIMITS, ParseLimits, parse_article
from vksnd.parsers.errors import NotAnArticle, ParseError
from vksnd.parsers.records import Article

HELP = "parse one page (file or URL) and print its clean text, or every field with --json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="PATH|URL", help="an HTML file or an http(s) URL")
    parser.add_argument(
        "--url", default=None, help="the page's URL when SOURCE is a file (for links, canonical)"
    )
    parser.add_argument(
        "--content-type",
        dest="content_type",
        default=None,
        help="Content-Type to assume for a file, e.g. 'text/html; charset=windows-1258'",
    )
    parser.add_argument("--json", action="store_true", help="every field as one JSON object")
    add_config_argument(parser)  # for URLs: the fetcher's settings
    add_profile_argument(parser)


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def _settings(source: str, args: argparse.Namespace) -> Settings:
    """The settings of this parse: the profile (flag > env > file), and for a URL the
    fetcher's settings with the URL's origin as base URL."""
    cli: dict[str, object] = {"profile": args.profile}
    if _is_url(source):
        parts = urlsplit(source)
        cli["base_url"] = f"{parts.scheme}://{parts.netloc}"
    return load_settings(cli, os.environ, args.config)


async def _fetch(url: str, settings: Settings) -> tuple[bytes, str, str | None, ParseLimits]:
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(url)
    limits = replace(DEFAULT_LIMITS, max_bytes=settings.fetch.max_body_bytes)
    return result.body, result.final_url, result.header("content-type"), limits


def article_json(article: Article) -> str:
    data = asdict(article)
    del data["published_date_only"]  # published_at says it: a date alone, or a time
    when = article.published_at
    data["published_at"] = (
        None
        if when is None
        else (when.date().isoformat() if article.published_date_only else when.isoformat())
    )
    data["captions"] = list(article.captions)
    data["images"] = list(article.images)
    data["extractor"] = article.extractor.label
    return json.dumps(data, ensure_ascii=False, indent=2)


# What a file starts with when it is a document or an image, not a page.
_BINARY_MAGIC = (
    (b"%PDF", "PDF"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"\xff\xd8\xff", "JPEG"),
    (b"PK\x03\x04", "ZIP (docx, xlsx…)"), (b"\xd0\xcf\x11\xe0", "an Office document"),
    (b"\x1f\x8b", "gzip"), (b"\x7fELF", "a program"),
)  # fmt: skip
_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE/BE


def binary_kind(body: bytes) -> str | None:
    """What a file is when it is not a page: a known signature, or NUL bytes in a file
    without a UTF-16 byte order mark. None for text."""
    for magic, kind in _BINARY_MAGIC:
        if body.startswith(magic):
            return kind
    head = body[:8192]
    if not head.startswith(_TEXT_BOMS) and b"\x00" in head:
        return "binary data"
    return None


def run(args: argparse.Namespace) -> int:
    """Exit 0 the page was parsed; 1 it could not be read, is not a page or not an article."""
    source: str = args.source
    limits = DEFAULT_LIMITS
    try:
        settings = _settings(source, args)
    except ConfigError as exc:
        print(f"vksnd parse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if _is_url(source):
            body, url, content_type, limits = asyncio.run(_fetch(source, settings))
        else:
            body = Path(source).read_bytes()
            url = args.url or Path(source).resolve().as_uri()
            content_type = args.content_type
    except (OSError, FetchError, ConfigError) as exc:
        print(f"vksnd parse: cannot read {source}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    kind = binary_kind(body)
    if kind is not None:
        print(f"vksnd parse: {source} is not an HTML page ({kind})", file=sys.stderr)
        return EXIT_FAILED
    try:
        article = parse_article(body, url, content_type, profile=settings.profile, limits=limits)
    except (NotAnArticle, ParseError) as exc:
        print(f"vksnd parse: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(article_json(article) if args.json else article.text)
    return EXIT_OK
