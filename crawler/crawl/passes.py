"""One crawl pass, start to finish: the incremental pass and the retry pass.

``vksnd crawl`` runs one incremental pass; the daemon runs both on a schedule. A pass composes
the pipeline's steps (``vksnd.crawler.crawl.pipeline``) with its sources of URLs:

- incremental: the listing walk (new articles), the frontier's due URLs (pending ones left by an
  interrupted run, failed ones whose retry time has come), and conditional re-checks of the
  articles published in the last ``recheck_days`` (ETag / Last-Modified from the store);
- retry: the frontier's due URLs only.

``CrawlResources`` are what outlives a pass in the daemon (the store, the fetcher and its
connections, the parse pool), opened once by ``open_resources``; each pass records itself as a
run in the store with its counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TextIO

from vksnd.crawler.config import Settings, site_name
from vksnd.crawler.crawl.discovery import (
    DiscoveredArticle,
    IncrementalPolicy,
    ListingScope,
    ListingWalker,
    WalkPolicy,
)
from vksnd.crawler.crawl.drift import DriftWatch, KeyHits
from vksnd.crawler.crawl.outcomes import RunReport, judge
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.pipeline import DateWindow, FetchJob, Pipeline, PipelineConfig
from vksnd.crawler.crawl.ports import Store
from vksnd.crawler.crawl.progress import Progress, report_progress
from vksnd.crawler.crawl.revalidation import choose_rechecks
from vksnd.crawler.crawl.sources import RobotsSitemaps, SourceReader, SourceWindow
from vksnd.crawler.crawl.storage_engine import open_store
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.storage.errors import StorageError
from vksnd.storage.records import RunOutcome, UrlKind, UrlRecord
from vksnd.storage.sites import SiteMap

log = logging.getLogger("vksnd.pass")


@dataclass(frozen=True, slots=True)
class CrawlResources:
    settings: Settings
    store: Store
    fetcher: Fetcher
    pool: ParsePool
    config: PipelineConfig
    in_daemon: bool = False  # pass summaries stay INFO: the daemon warns on health changes
    drift: DriftWatch = field(default_factory=DriftWatch)  # profile keys, pass after pass
    # One of several sites crawled together (``crawl.sites``): its runs say so and its
    # frontier reads (due URLs, resume points, re-checks) keep to its rows. None: all rows.
    site: str | None = None

    @property
    def scope(self) -> ListingScope:
        settings = self.settings
        return ListingScope(
            base_url=settings.base_url,
            scope_hosts=settings.scope_hosts,
            profile=settings.profile,
            categories=settings.crawl.categories,
            max_pages=settings.crawl.listing_max_pages,
            site=self.site,
        )

    @property
    def robots_sitemaps(self) -> RobotsSitemaps | None:
        """The fetcher's robots.txt cache, when robots.txt is read at all."""
        return self.fetcher.robots if self.settings.politeness.obey_robots else None

    def pipeline(
        self,
        report: RunReport,
        stop: asyncio.Event,
        *,
        window: DateWindow | None = None,
        dry_run: bool | None = None,
    ) -> Pipeline:
        """A pass's pipeline on these resources (``dry_run`` None: as configured)."""
        config = self.config if dry_run is None else replace(self.config, dry_run=dry_run)
        return Pipeline(
            fetcher=self.fetcher,
            store=self.store,
            pool=self.pool,
            config=config,
            counters=report.counters,
            stop=stop,
            window=window,
            failure_reasons=report.reasons,
        )

    def listing_walker(
        self,
        pipeline: Pipeline,
        stop: asyncio.Event,
        *,
        scope: ListingScope | None = None,
        record_pages: bool = True,
        key_hits: KeyHits | None = None,
    ) -> ListingWalker:
        """The walk feeding ``pipeline``: its counters, its backoff for failed pages."""
        return ListingWalker(
            fetcher=self.fetcher,
            store=self.store,
            pool=self.pool,
            scope=scope or self.scope,
            counters=pipeline.counters,
            stop=stop,
            retry=pipeline,
            record_pages=record_pages,
            failure_reasons=pipeline.failure_reasons,
            key_hits=key_hits,
        )

    def resumed_policy(self, floor: date | None) -> WalkPolicy:
        """The policy of a walk resumed from a page an earlier walk left: the same floor."""
        return IncrementalPolicy(self.store, floor)


def pipeline_config(settings: Settings, *, dry_run: bool = False) -> PipelineConfig:
    """Fetch workers match what the fetcher lets through (per-host and global limits)."""
    crawl = settings.crawl
    return PipelineConfig(
        fetch_workers=min(settings.politeness.host_concurrency, settings.fetch.global_concurrency),
        parse_workers=crawl.parse_workers,
        executor=crawl.parse_executor,
        failed_url_backoff=timedelta(minutes=crawl.failed_url_backoff_minutes),
        failed_url_backoff_max=timedelta(minutes=crawl.failed_url_backoff_max_minutes),
        skipped_retry=timedelta(days=crawl.skipped_retry_days),
        dry_run=dry_run,
        store_batch=crawl.store_batch,
        parse_batch=crawl.parse_batch,
        max_body_bytes=settings.fetch.max_body_bytes,
        profile=settings.profile,
    )


@asynccontextmanager
async def open_resources(
    settings: Settings, config: PipelineConfig, *, in_daemon: bool = False, wait: bool = False
) -> AsyncIterator[CrawlResources]:
    """The store (with the database's writer lock: ``wait`` for another writer, else
    ``DatabaseBusy``), the fetcher and the parse pool, closed in reverse order."""
    site = site_name(settings.profile)
    store = await open_store(
        settings.db,
        settings.storage,
        wait=wait,
        profile=settings.profile,
        sites=SiteMap.of({site: settings.scope_hosts}),
    )
    pool = ParsePool(config.executor, config.parse_workers)
    try:
        async with Fetcher(settings) as fetcher:
            yield CrawlResources(settings, store, fetcher, pool, config, in_daemon, site=site)
    finally:
        pool.close()
        await store.close()


def counters_line(report: RunReport) -> str:
    """A run's counters for people: every headline counter, zero or not."""
    headline = report.counters.headline()
    return ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in headline.items())


def summary(report: RunReport) -> str:
    """``OUTCOME (why): counters``, the line a command prints when its run ends."""
    outcome = report.outcome.value if report.outcome is not None else "running"
    why = f" ({report.reason})" if report.reason else ""
    return f"{outcome}{why}: {counters_line(report)}"


async def run_recorded(
    resources: CrawlResources,
    report: RunReport,
    stop: asyncio.Event,
    body: Callable[[RunReport], Awaitable[None]],
) -> RunReport:
    """Run ``body`` as one run in the store; judge, log and record it however it ends (a
    second signal cancelling it is recorded ``interrupted`` before the cancellation goes on)."""
    kind = report.kind
    started = time.monotonic()
    dry = resources.config.dry_run
    run_id = None if dry else await resources.store.start_run(kind, resources.site)
    error: BaseException | None = None
    try:
        await body(report)
    except BaseException as exc:
        error = exc
        raise
    finally:
        _count_article_keys(resources, report)
        judge(report, stopped=stop.is_set(), error=error)
        resources.drift.update(report.key_hits, resources.settings.profile.name)
        report.drift = tuple(resources.drift.degraded())
        if run_id is not None:
            finish = asyncio.ensure_future(_finish(resources, run_id, report))
            try:
                await asyncio.shield(finish)
            except asyncio.CancelledError:
                # A second signal while the run is being recorded: record it all the same
                # (one short write), then let the cancellation go on.
                await finish
                _log_pass(report, time.monotonic() - started, quiet=resources.in_daemon)
                raise
        _log_pass(report, time.monotonic() - started, quiet=resources.in_daemon)
    return report


def _count_article_keys(resources: CrawlResources, report: RunReport) -> None:
    """``selectors.body``: articles read by the profile's body selectors, of those parsed."""
    c = report.counters
    parsed = c.out_of_range + c.new_articles + c.new_versions + c.duplicates + c.unchanged
    if resources.settings.profile.selectors.body and parsed:
        report.key_hits.counts["selectors.body"] = [max(parsed - c.parse_fallbacks, 0), parsed]


async def _finish(resources: CrawlResources, run_id: int, report: RunReport) -> None:
    """Record the run's end; a store that cannot (the disk that stopped the run is full) is
    already the run's error, so that is not reported twice."""
    assert report.outcome is not None
    try:
        await resources.store.finish_run(
            run_id, report.counters, outcome=report.outcome, reason=report.reason,
            error=report.error,
        )  # fmt: skip
    except StorageError:
        if report.outcome is not RunOutcome.FAILED:
            raise


def _log_pass(report: RunReport, duration_s: float, *, quiet: bool) -> None:
    level = logging.INFO if quiet or report.outcome is not RunOutcome.FAILED else logging.WARNING
    counters = report.counters
    log.log(
        level,
        f"{report.kind} pass finished: {summary(report)}",
        extra={
            "event": f"{report.kind}_pass",
            "outcome": None if report.outcome is None else report.outcome.value,
            "reason": report.reason,
            "error": report.error,
            "duration_ms": round(duration_s * 1000),
            **counters.headline(),
            **counters.nonzero_details(),
        },
    )


async def submit_due(
    pipeline: Pipeline, store: Store, limit: int, *, site: str | None = None
) -> int:
    """Pending and failed-and-due article URLs (listings are re-walked by discovery instead)."""
    submitted = 0
    for record in await store.due_urls(datetime.now(UTC), limit, site=site):
        if record.kind is UrlKind.LISTING:
            continue
        job = FetchJob(record.url, record.kind, record.listed_on, attempts=record.attempts)
        if not await pipeline.submit(job):
            break
        submitted += 1
    return submitted


async def submit_rechecks(pipeline: Pipeline, records: list[UrlRecord]) -> int:
    """Conditional GETs of stored articles, one URL each (the first seen of its aliases):
    a 304 costs no parsing and no write but the check."""
    submitted = 0
    checked: set[int] = set()
    for record in records:
        if record.article_id is not None:
            if record.article_id in checked:
                continue
            checked.add(record.article_id)
        pipeline.counters.rechecks += 1
        job = FetchJob(
            record.url,
            UrlKind.ARTICLE,
            record.listed_on,
            etag=record.etag,
            last_modified=record.last_modified,
        )
        if not await pipeline.submit(job):
            break
        submitted += 1
    return submitted


async def run_pipeline(pipeline: Pipeline, sources: Callable[[], Awaitable[None]]) -> None:
    """Start ``pipeline``, feed it from ``sources``, and drain it; on an error or a hard stop
    the workers are stopped at once instead (what is queued stays pending in the frontier)."""
    pipeline.start()
    try:
        await sources()
    except BaseException:
        await pipeline.abort()
        raise
    await pipeline.drain()


async def incremental_pass(
    resources: CrawlResources,
    stop: asyncio.Event,
    report: RunReport | None = None,
    *,
    recheck_since: date | None = None,
    progress: TextIO | None = None,
) -> RunReport:
    """New articles from the listings (and walks resumed where earlier ones stopped or failed),
    due retries, and conditional re-checks (``crawl.revalidation``). On an empty database the
    walk is the whole site: it says so, and shows its progress on ``progress`` if given."""

    async def body(report: RunReport) -> None:
        pipeline = resources.pipeline(report, stop)
        walker = resources.listing_walker(pipeline, stop, key_hits=report.key_hits)
        shown = await _announce_first_crawl(resources, report, walker, progress)

        async def emit(item: DiscoveredArticle) -> bool:
            return await pipeline.submit(FetchJob(item.url, UrlKind.ARTICLE, item.listed_on))

        # Re-checks are chosen before the walk, so articles stored by this pass are not re-read.
        rechecks = await choose_rechecks(
            resources.store, resources.settings, since=recheck_since, site=resources.site
        )
        reader = SourceReader(
            resources.fetcher, resources.store, resources.scope, report.counters,
            robots=resources.robots_sitemaps,
        )  # fmt: skip

        async def sources() -> None:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    walker.walk_all(
                        IncrementalPolicy(resources.store),
                        emit,
                        resume=True,
                        policy_for=resources.resumed_policy,
                    )
                )
                group.create_task(reader.run(emit, _recent(resources.settings)))
                group.create_task(submit_rechecks(pipeline, rechecks.urls))
                group.create_task(
                    submit_due(
                        pipeline,
                        resources.store,
                        resources.settings.crawl.due_limit,
                        site=resources.site,
                    )
                )

        try:
            await run_pipeline(pipeline, sources)
        finally:
            if shown is not None:
                await shown()
            report.no_links_reason = walker.no_links_reason()
        report.scope_notes.extend(walker.notes + reader.notes)

    return await run_recorded(resources, report or RunReport("crawl"), stop, body)


def _recent(settings: Settings) -> SourceWindow:
    """What an incremental pass takes from sitemaps and feeds: entries of the re-check window
    or undated (a whole sitemap's history is the backfill's)."""
    return SourceWindow(since=date.today() - timedelta(days=settings.crawl.recheck_days))


async def _announce_first_crawl(
    resources: CrawlResources, report: RunReport, walker: ListingWalker, stream: TextIO | None
) -> Callable[[], Awaitable[None]] | None:
    """On an empty database: one line saying the walk is the whole site, and a progress
    display on ``stream``; returns what ends the display."""
    if await resources.store.has_articles():
        return None
    categories = len(resources.scope.categories)
    of = f"the {categories} categories" if categories != 1 else "the category"
    log.info(
        f"empty database: this first crawl walks every listing page of {of}, the whole site"
        " (at the polite rate this takes a while; progress below)",
        extra={"event": "first_crawl", "categories": categories},
    )
    if stream is None:
        return None
    progress = Progress("crawl", report, walker, slowed=resources.fetcher.slowed_hosts)
    done = asyncio.Event()
    as_log = resources.settings.log_format == "json"
    reporter = asyncio.create_task(report_progress(progress, stream, done, as_log=as_log))

    async def stop_showing() -> None:
        progress.done = True
        done.set()
        await reporter

    return stop_showing


async def retry_pass(
    resources: CrawlResources, stop: asyncio.Event, report: RunReport | None = None
) -> RunReport:
    """Due URLs only: failed and skipped ones whose time has come, and the listing pages left
    failed or pending, each walked on from with the floor of the walk that left it."""

    async def body(report: RunReport) -> None:
        pipeline = resources.pipeline(report, stop)
        walker = resources.listing_walker(pipeline, stop, key_hits=report.key_hits)

        async def emit(item: DiscoveredArticle) -> bool:
            return await pipeline.submit(FetchJob(item.url, UrlKind.ARTICLE, item.listed_on))

        async def sources() -> None:
            async with asyncio.TaskGroup() as group:
                group.create_task(walker.walk_resumes(resources.resumed_policy, emit))
                group.create_task(
                    submit_due(
                        pipeline,
                        resources.store,
                        resources.settings.crawl.due_limit,
                        site=resources.site,
                    )
                )

        await run_pipeline(pipeline, sources)

    return await run_recorded(resources, report or RunReport("retry"), stop, body)
