"""Date-range backfill: walk the listings back to ``since`` and store every article in range.

Resumable by construction, not by a checkpoint file: articles are stored one transaction each,
and a rerun walks the listings again (cheap) and skips every URL the store already maps to an
article, so nothing stored is fetched twice. URLs that were queued when the process died are
pending in the frontier and simply come up again on the walk.

Progress: a tqdm bar when stderr is a terminal, plain periodic lines otherwise (logs, CI). How far
the walk got is estimated from dates: for each category, the share of [since, until] its listing
has gone past; that drives the percentage and the ETA.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from vksnd.crawler.crawl.discovery import BackfillPolicy, DiscoveredArticle, ListingWalker
from vksnd.crawler.crawl.passes import CrawlResources, run_recorded
from vksnd.crawler.crawl.pipeline import DateWindow, FetchJob
from vksnd.storage.records import RunCounters, UrlKind

DEFAULT_REPORT_SECONDS = 10.0  # plain progress lines
DEFAULT_BAR_SECONDS = 0.5  # terminal bar refresh


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    since: date
    until: date
    categories: tuple[int, ...] | None = None  # None: the configured categories
    dry_run: bool = False


@dataclass(slots=True)
class BackfillState:
    """What the progress display reads while the backfill runs."""

    request: BackfillRequest
    counters: RunCounters
    walker: ListingWalker | None = None
    started: float = field(default_factory=time.monotonic)
    planned: int = 0  # articles in range not yet stored (what a dry run reports)
    done: bool = False

    def fraction(self) -> float:
        walker = self.walker
        if self.done:
            return 1.0
        if walker is None:
            return 0.0
        categories = walker.categories
        span = max((self.request.until - self.request.since).days, 1)
        total = 0.0
        for cat_id in categories:
            if cat_id in walker.finished:
                total += 1.0
                continue
            oldest = walker.oldest_seen.get(cat_id)
            if oldest is not None:
                total += min(max((self.request.until - oldest).days / span, 0.0), 1.0)
        return total / max(len(categories), 1)

    def line(self, *, with_progress: bool = True) -> str:
        """The counters; ``with_progress`` adds the share done and the ETA (the bar has both)."""
        t = self.counters
        elapsed = max(time.monotonic() - self.started, 1e-6)
        verb = "planned" if self.request.dry_run else "stored"
        count = self.planned if self.request.dry_run else t.stored
        counters = (
            f"listing pages {t.listing_pages}, fetched {t.pages_fetched}, "
            f"{verb} {count}, duplicate {t.duplicates}, failed {t.failures}, "
            f"{t.pages_fetched / elapsed:.1f} pages/s"
        )
        if not with_progress:
            return counters
        fraction = self.fraction()
        eta = "?" if fraction <= 0 else _clock(elapsed * (1 - fraction) / fraction)
        return f"{fraction:6.1%} {counters}, ETA {eta}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


async def report_progress(state: BackfillState, stream: TextIO, stop: asyncio.Event) -> None:
    """Until ``stop``: a bar on a terminal, a plain line every few seconds elsewhere."""
    if stream.isatty():
        bar = tqdm(
            total=1000,
            file=stream,
            dynamic_ncols=True,
            bar_format="{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}",
        )
        # Log lines go above the bar instead of through it.
        with bar, logging_redirect_tqdm(loggers=[logging.getLogger("vksnd")], tqdm_class=tqdm):
            while True:
                bar.n = int(state.fraction() * 1000)
                bar.set_postfix_str(state.line(with_progress=False), refresh=True)
                if stop.is_set():
                    return
                await _wait(stop, DEFAULT_BAR_SECONDS)
    while not stop.is_set():
        await _wait(stop, DEFAULT_REPORT_SECONDS)
        print(f"backfill: {state.line()}", file=stream, flush=True)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def backfill(
    resources: CrawlResources,
    request: BackfillRequest,
    stop: asyncio.Event,
    progress: TextIO | None = sys.stderr,
) -> BackfillState:
    """Store every article published within [since, until] (or count them, on a dry run)."""
    state = BackfillState(request, RunCounters())

    async def body(counters: RunCounters) -> None:
        state.counters = counters
        window = DateWindow(request.since, request.until)
        pipeline = resources.pipeline(counters, stop, window=window, dry_run=request.dry_run)
        scope = resources.scope
        if request.categories:
            scope = dataclasses.replace(scope, categories=request.categories)
        walker = resources.listing_walker(
            pipeline, stop, scope=scope, record_pages=not request.dry_run
        )
        state.walker = walker

        async def resolve_date(item: DiscoveredArticle) -> date | None:
            return await pipeline.process_now(FetchJob(item.url, UrlKind.ARTICLE))

        async def emit(item: DiscoveredArticle) -> bool:
            state.planned += 1
            if request.dry_run:
                return not stop.is_set()
            return await pipeline.submit(FetchJob(item.url, UrlKind.ARTICLE, item.listed_on))

        policy = BackfillPolicy(resources.store, request.since, request.until, resolve_date)
        shown = asyncio.Event()
        reporter = (
            asyncio.create_task(report_progress(state, progress, shown)) if progress else None
        )
        pipeline.start()
        try:
            await walker.walk_all(policy, emit)
        finally:
            try:
                await pipeline.drain()
            finally:
                state.done = not stop.is_set()
                shown.set()
                if reporter is not None:
                    await reporter

    await run_recorded(resources, "backfill", body)
    return state
