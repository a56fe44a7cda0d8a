"""``vksnd profile check|init|show``: adapt vksnd to a site with a file, and see what matched.

``check URL|FILE``: one page through the configured profile (``--profile``): each key, matched or
not and what it gave; the article's fields and what produced each; for a listing its items and
next page. Exit 0 when the profile reads the page (an article by its selectors, a listing with
items), 1 when it does not, 2 on a bad profile or flag.

``init URL``: fetch a listing page and print a draft profile (``--out FILE`` writes it), inferred
from its links and pager (``vksnd.parsers.profiles.infer``); ``check`` then confirms it.

``show``: the resolved profile (which file, its keys' values), for ``vksnd config``'s one line.

Pages are fetched through the crawler's fetcher (robots.txt, rate, User-Agent), as ``parse`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from vksnd.crawler.cli.commands.parse import article_json, binary_kind
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
from vksnd.parsers.profiles.check import PageCheck, check_page
from vksnd.parsers.profiles.infer import InferenceError, infer_profile
from vksnd.parsers.profiles.model import SiteProfile

HELP = "site profiles: check a page against one, draft one from a listing (init), show it"
LISTED_ITEMS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="which profile keys match one page, and what they give")
    check.add_argument("source", metavar="URL|FILE", help="a page URL, or a saved HTML file")
    check.add_argument("--url", default=None, help="the page's URL when SOURCE is a file")
    check.add_argument("--json", action="store_true", help="one JSON object")
    add_profile_argument(check)
    add_config_argument(check)
    init = sub.add_parser("init", help="draft a profile from a listing page's links and pager")
    init.add_argument("source", metavar="URL", help="a category listing page of the site")
    init.add_argument("--name", default=None, help="the profile's name (default: from the host)")
    init.add_argument("--out", type=Path, default=None, help="write the draft here")
    add_config_argument(init)
    show = sub.add_parser("show", help="the resolved profile: where it comes from, its keys")
    add_profile_argument(show)
    add_config_argument(show)


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def _settings(args: argparse.Namespace, url: str | None) -> Settings:
    cli: dict[str, object] = {"profile": getattr(args, "profile", None)}
    if url is not None:
        parts = urlsplit(url)
        cli["base_url"] = f"{parts.scheme}://{parts.netloc}"
    return load_settings(cli, os.environ, args.config)


async def _fetch(url: str, settings: Settings) -> tuple[bytes, str, str | None]:
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(url)
    return result.body, result.final_url, result.header("content-type")


def _read(args: argparse.Namespace, settings: Settings) -> tuple[bytes, str, str | None]:
    source: str = args.source
    if _is_url(source):
        return asyncio.run(_fetch(source, settings))
    path = Path(source)
    return path.read_bytes(), getattr(args, "url", None) or path.resolve().as_uri(), None


def render_check(found: PageCheck) -> str:
    lines = [
        f"page: {found.url}",
        f"kind: {found.kind}" + (" (profile reads it)" if found.ok else ""),
    ]
    lines.append("keys:")
    lines.extend(f"  {'✓' if k.matched else '✗'} {k.key}: {k.detail}" for k in found.keys)
    if found.article is not None:
        article = found.article
        lines.append(f"article (extractor {article.extractor.label}):")
        fields = {
            "title": article.title,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "author": article.author,
            "category": article.category,
            "key": article.key,
            "text": f"{len(article.text)} chars, {article.text.count(chr(10) * 2) + 1} paragraphs",
            "captions": f"{len(article.captions)}",
        }
        sources = dict(found.sources)
        for name, value in fields.items():
            source = sources.get(name)
            lines.append(f"  {name}: {value}" + (f"  [{source}]" if source else ""))
    if found.listing is not None:
        listing = found.listing
        lines.append(f"listing: {len(listing.items)} items, next page {listing.next_page_url}")
        for item in listing.items[:LISTED_ITEMS]:
            when = item.published_on.isoformat() if item.published_on else "-"
            lines.append(f"  {when} {item.url}  {item.title or ''}")
        if len(listing.items) > LISTED_ITEMS:
            lines.append(f"  … {len(listing.items) - LISTED_ITEMS} more")
    if found.problem and found.listing is None:
        lines.append(f"not an article: {found.problem}")
    return "\n".join(lines)


def check_json(found: PageCheck) -> str:
    data: dict[str, object] = {
        "url": found.url,
        "kind": found.kind,
        "ok": found.ok,
        "keys": [{"key": k.key, "matched": k.matched, "detail": k.detail} for k in found.keys],
        "sources": dict(found.sources),
        "problem": found.problem,
        "article": json.loads(article_json(found.article)) if found.article else None,
        "listing": None
        if found.listing is None
        else {
            "items": [item.url for item in found.listing.items],
            "next_page_url": found.listing.next_page_url,
        },
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def render_profile(profile: SiteProfile) -> str:
    lines = [
        f"profile: {profile.name} ({profile.source})",
        f"base_url: {profile.base_url}",
        f"hosts: {', '.join(sorted(profile.hosts))}",
        f"urls.article: {profile.article_path.pattern}",
        *[f"urls.legacy: {f.path.pattern} (id {f.id_param})" for f in profile.legacy],
        f"listing.template: {profile.listing_url_template} (first page {profile.first_page})",
        "listing.categories: "
        + ", ".join(
            c.slug + (f" ({c.id})" if c.id is not None else "") for c in profile.categories
        ),
        f"time_zone: {profile.time_zone}",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    source: str | None = getattr(args, "source", None)
    url = source if source is not None and _is_url(source) else None
    try:
        settings = _settings(args, url)
    except ConfigError as exc:
        print(f"vksnd profile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "show":
        print(render_profile(settings.profile))
        return EXIT_OK
    try:
        body, final_url, content_type = _read(args, settings)
    except (OSError, FetchError) as exc:
        print(f"vksnd profile {args.action}: cannot read {source}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    kind = binary_kind(body)
    if kind is not None:
        print(
            f"vksnd profile {args.action}: {source} is not an HTML page ({kind})", file=sys.stderr
        )
        return EXIT_FAILED
    if args.action == "init":
        try:
            draft = infer_profile(body, final_url, content_type, args.name)
        except InferenceError as exc:
            print(f"vksnd profile init: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if args.out is not None:
            args.out.write_text(draft.toml, encoding="utf-8")
            print(f"draft profile written to {args.out}", file=sys.stderr)
        else:
            print(draft.toml, end="")
        return EXIT_OK
    found = check_page(body, final_url, content_type, settings.profile)
    print(check_json(found) if args.json else render_check(found))
    return EXIT_OK if found.ok else EXIT_FAILED
