"""Which stored articles a pass re-checks for edits (conditional GETs: a 304 costs no parse).

Two tiers, so recent articles are checked more often and none is forgotten:

- recent: every article published in the last ``recheck_days`` (14), on every pass;
- rolling: every older article at least once per ``revalidate_days`` (30), spread over the
  passes of that window: each pass takes the least recently checked ones, a quota of
  ``older × 1.25 / passes per window`` (passes every ``interval_minutes``), or all the overdue
  ones when more are (after the daemon was down), at most ``due_limit``. An edit of a year-old
  article is therefore stored within the window, and the load stays a few requests per pass
  within the politeness budget (20,000 articles, 30 days, a pass every 30 min: 18 per pass).

``vksnd crawl --recheck-since DATE`` forces every article published since DATE into the pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.ports import Store
from vksnd.storage.records import UrlRecord

log = logging.getLogger("vksnd.pass")

MARGIN = 1.25  # more than the bare quota, so the window holds when some passes are skipped


@dataclass(frozen=True, slots=True)
class Rechecks:
    """The re-checks of one pass: the recent tier, and the rolling share of the older ones."""

    recent: list[UrlRecord]
    rolling: list[UrlRecord]
    older: int  # stored articles older than the recent window
    overdue: int  # of those, not checked within revalidate_days (counted up to due_limit)

    @property
    def urls(self) -> list[UrlRecord]:
        return self.recent + self.rolling


def rolling_quota(older: int, overdue: int, settings: Settings) -> int:
    """Older articles a pass re-checks so that each is checked once per window."""
    crawl = settings.crawl
    passes = max(crawl.revalidate_days * 1440 / crawl.interval_minutes, 1.0)
    base = math.ceil(older * MARGIN / passes) if older else 0
    return min(max(base, overdue), crawl.due_limit)


async def choose_rechecks(
    store: Store,
    settings: Settings,
    *,
    since: date | None = None,
    now: datetime | None = None,
    site: str | None = None,
) -> Rechecks:
    """The articles this pass re-checks (``since``: every one published since that day too)."""
    now = now or datetime.now(UTC)
    crawl = settings.crawl
    cutoff = now - timedelta(days=crawl.recheck_days)
    if since is not None:
        cutoff = min(cutoff, datetime.combine(since, time(0), tzinfo=UTC))
    recent = await store.recent_article_urls(cutoff, site=site)
    # The quota never passes due_limit, so neither need the count of overdue ones: after
    # a long stop most of a million articles are overdue, and counting them all took 10 s.
    older, overdue = await store.revalidation_counts(
        cutoff,
        now - timedelta(days=crawl.revalidate_days),
        site=site,
        overdue_limit=crawl.due_limit,
    )
    quota = rolling_quota(older, overdue, settings)
    rolling = await store.least_recently_checked(cutoff, quota, site=site) if quota else []
    if rolling:
        counted = f"{overdue}+" if overdue >= crawl.due_limit else f"{overdue}"
        log.info(
            f"re-checking {len(rolling)} of {older} older articles"
            f" (each at least once in {crawl.revalidate_days:g} days; {counted} overdue)",
            extra={"event": "revalidation", "older": older, "overdue": overdue,
                   "rechecks": len(rolling)},
        )  # fmt: skip
    return Rechecks(recent, rolling, older, overdue)
