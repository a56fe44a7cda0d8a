"""Date-range backfill: walk the listings back to ``since`` and store every article in range.

Resumable by construction, not by a checkpoint file: articles are stored one transaction each,
and a rerun walks the listings again (cheap) and skips every URL the store already maps to an
article, so nothing stored is fetched twice. URLs that were queued when the process died are
pending in the frontier and simply come up again on the walk.

Progress (``crawl.progress``): the articles found, stored and failed, and the listing walk (pages
read and failed, categories done, the date reached), as two tqdm bars on a terminal and plain
periodic lines otherwise (logs, CI).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from vksnd.crawler.crawl.discovery import BackfillPolicy, DiscoveredArticle
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.passes import CrawlResources, run_pipeline, run_recorded
from vksnd.crawler.crawl.pipeline import DateWindow, FetchJob
from vksnd.crawler.crawl.progress import Progress, report_progress
from vksnd.crawler.crawl.sources import SourceReader, SourceWindow
from vksnd.storage.records import UrlKind


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    since: date
    until: date
    categories: tuple[int, ...] | None = None  # None: the configured categories
    dry_run: bool = False


@dataclass(slots=True)
class BackfillState(Progress):
    """A backfill's progress, with what it was asked to do."""

    request: BackfillRequest = field(kw_only=True)

    @classmethod
    def of(cls, request: BackfillRequest) -> BackfillState:
        return cls(
            "backfill", RunReport("backfill"), since=request.since, until=request.until,
            request=request,
        )  # fmt: skip

    def planned_only(self) -> bool:
        return self.request.dry_run


async def backfill(
    resources: CrawlResources,
    request: BackfillRequest,
    stop: asyncio.Event,
    progress: TextIO | None = sys.stderr,
    *,
    state: BackfillState | None = None,
) -> BackfillState:
    """Store every article published within [since, until] (or count them, on a dry run).
    ``state`` (made by the caller) keeps the counters when the run is cancelled."""
    state = state or BackfillState.of(request)

    async def body(report: RunReport) -> None:
        window = DateWindow(request.since, request.until)
        pipeline = resources.pipeline(report, stop, window=window, dry_run=request.dry_run)
        scope = resources.scope
        if request.categories:
            scope = dataclasses.replace(scope, categories=request.categories)
        walker = resources.listing_walker(
            pipeline, stop, scope=scope, record_pages=not request.dry_run, key_hits=report.key_hits
        )
        state.walker = walker
        state.slowed = resources.fetcher.slowed_hosts

        async def resolve_date(item: DiscoveredArticle) -> date | None:
            state.inline += 1
            return await pipeline.process_now(FetchJob(item.url, UrlKind.ARTICLE))

        async def emit(item: DiscoveredArticle) -> bool:
            state.planned += 1
            if request.dry_run:
                return not stop.is_set()
            return await pipeline.submit(FetchJob(item.url, UrlKind.ARTICLE, item.listed_on))

        policy = BackfillPolicy(resources.store, request.since, request.until, resolve_date)
        shown = asyncio.Event()
        reporter = (
            asyncio.create_task(
                report_progress(
                    state, progress, shown, as_log=resources.settings.log_format == "json"
                )
            )
            if progress
            else None
        )
        reader = SourceReader(
            resources.fetcher, resources.store, scope, report.counters,
            robots=resources.robots_sitemaps, probe=not request.dry_run,  # dry: no guessing
        )  # fmt: skip

        async def sources() -> None:
            async with asyncio.TaskGroup() as group:
                group.create_task(walker.walk_all(policy, emit))
                group.create_task(reader.run(emit, SourceWindow(request.since, request.until)))

        try:
            await run_pipeline(pipeline, sources)
        finally:
            report.no_links_reason = walker.no_links_reason()
            state.done = not stop.is_set()
            shown.set()
            if reporter is not None:
                await reporter
        report.scope_notes.extend(walker.notes + reader.notes)

    await run_recorded(resources, state.report, stop, body)
    return state
