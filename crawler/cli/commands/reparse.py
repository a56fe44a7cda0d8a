"""``vksnd reparse``: re-extract archived article pages with the current parser. No network.

Where the clean text changed, the new text is stored under the usual rules (a new version of the
article, or a duplicate of another one); pages whose text did not change leave no trace. Pages
fetched for an article but refused by the parser of the day (``urls.not_article``) are read
again too: one the current parser takes is stored as a new article. Run it after a parser fix,
then ``vksnd export`` writes the new versions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from vksnd.crawler.cli.common import (
    EXIT_FAILED,
    add_db_arguments,
    add_profile_argument,
    failure_exit_code,
    iso_day,
    storage_settings,
    writer_flags,
)
from vksnd.crawler.config import ConfigError, Settings
from vksnd.crawler.crawl.ports import ReparseStore
from vksnd.crawler.crawl.sites import SiteRules, open_sites_store, plan_sites
from vksnd.crawler.fetch.fetcher import header_value
from vksnd.parsers.article import parse_article
from vksnd.parsers.errors import NotAnArticle, ParseError
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.storage.errors import StorageError
from vksnd.storage.records import StoreOutcome

HELP = "re-extract archived pages with the current parser; store changed texts as new versions"


@dataclass(slots=True)
class ReparseReport:
    pages: int = 0
    unchanged: int = 0
    changed: int = 0  # the clean text differs from the one the URL showed last
    outcomes: Counter[str] = field(default_factory=Counter)  # of the changed pages
    failures: Counter[str] = field(default_factory=Counter)  # parse errors by reason
    refused: int = 0  # pages no parser took for an article yet
    recovered: int = 0  # of those, the ones the current parser reads as an article

    def render(self) -> str:
        lines = [
            f"{self.pages} archived pages re-extracted: {self.changed} changed,"
            f" {self.unchanged} unchanged, {sum(self.failures.values())} not parsed"
        ]
        if self.refused:
            lines.append(
                f"  of {self.refused} pages refused as not an article before,"
                f" {self.recovered} are articles now"
            )
        lines.extend(f"  {name}: {count}" for name, count in sorted(self.outcomes.items()))
        lines.extend(f"  parse error: {reason}: {n}" for reason, n in self.failures.most_common())
        return "\n".join(lines)


async def reparse(
    store: ReparseStore,
    since: datetime | None,
    profile: SiteProfile | Callable[[str], SiteProfile] = PROFILE,
) -> ReparseReport:
    """``profile``: the site's, or each page's by its URL (several sites: ``SiteRules``)."""
    profile_of = profile if callable(profile) else (lambda _url: profile)
    report = ReparseReport()
    async for page in store.archived_article_pages(since):
        report.pages += 1
        refused = page.not_article is not None
        report.refused += refused
        try:
            article = parse_article(
                page.body,
                page.url,
                header_value(page.headers, "content-type"),
                profile=profile_of(page.url),
                listing_date=page.listed_on,
            )
        except NotAnArticle as exc:
            if refused:  # still not an article: nothing new, nothing failed
                report.unchanged += 1
            else:
                report.failures[exc.reason] += 1
            continue
        except ParseError as exc:
            report.failures[exc.reason] += 1
            continue
        report.recovered += refused
        if article.content_hash == page.content_hash:
            report.unchanged += 1
            continue
        result = await store.store_reparsed(article, page)
        if result.outcome is StoreOutcome.UNCHANGED:
            report.unchanged += 1
            continue
        report.changed += 1
        report.outcomes[result.outcome.value] += 1
    return report


async def _reparse(settings: Settings, since: datetime | None, wait: bool) -> ReparseReport:
    """Each page read with its site's profile and stored as its site's (``sites``)."""
    plans = plan_sites(settings)
    async with await open_sites_store(settings, plans, wait=wait) as store:
        return await reparse(store, since, SiteRules.of(plans).profile_of)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_arguments(parser)
    add_profile_argument(parser)
    writer_flags(parser)
    parser.add_argument(
        "--since", type=iso_day, default=None, help="only pages fetched on/after YYYY-MM-DD (UTC)"
    )


def run(args: argparse.Namespace) -> int:
    since = datetime.combine(args.since, time(0), tzinfo=UTC) if args.since else None
    try:
        settings = storage_settings(args)
        if not settings.db.is_file():
            print(f"vksnd reparse: no database at {settings.db}", file=sys.stderr)
            return EXIT_FAILED
        report = asyncio.run(_reparse(settings, since, args.wait))
    except (StorageError, ConfigError) as exc:
        print(f"vksnd reparse: {exc}", file=sys.stderr)
        return failure_exit_code(exc)
    print(report.render())
    return 0
