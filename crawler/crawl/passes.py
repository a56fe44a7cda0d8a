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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.discovery import (
    DiscoveredArticle,
    IncrementalPolicy,
    ListingScope,
    ListingWalker,
)
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.pipeline import DateWindow, FetchJob, Pipeline, PipelineConfig
from vksnd.crawler.crawl.ports import Store
from vksnd.crawler.crawl.storage_engine import open_store
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.storage.records import RunCounters, UrlKind, UrlRecord

log = logging.getLogger("vksnd.pass")


@dataclass(frozen=True, slots=True)
class CrawlResources:
    settings: Settings
    store: Store
    fetcher: Fetcher
    pool: ParsePool
    config: PipelineConfig

    @property
    def scope(self) -> ListingScope:
        settings = self.settings
        return ListingScope(
            base_url=settings.base_url,
            scope_hosts=settings.scope_hosts,
            profile=settings.profile,
            categories=settings.crawl.categories,
            max_pages=settings.crawl.listing_max_pages,
        )

    def pipeline(
        self,
        counters: RunCounters,
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
            counters=counters,
            stop=stop,
            window=window,
        )

    def listing_walker(
        self,
        pipeline: Pipeline,
        stop: asyncio.Event,
        *,
        scope: ListingScope | None = None,
        record_pages: bool = True,
    ) -> ListingWalker:
        """The walk feeding ``pipeline``: its counters, its backoff for failed pages."""
        return ListingWalker(
            fetcher=self.fetcher,
            store=self.store,
            pool=self.pool,
            scope=scope or self.scope,
            counters=pipeline.counters,
            stop=stop,
            retry_at=pipeline.next_retry_at,
            record_pages=record_pages,
        )


def pipeline_config(settings: Settings, *, dry_run: bool = False) -> PipelineConfig:
    """Fetch workers match what the fetcher lets through (per-host and global limits)."""
    crawl = settings.crawl
    return PipelineConfig(
        fetch_workers=min(settings.politeness.host_concurrency, settings.fetch.global_concurrency),
        parse_workers=crawl.parse_workers,
        executor=crawl.parse_executor,
        failed_url_backoff=timedelta(minutes=crawl.failed_url_backoff_minutes),
        failed_url_backoff_max=timedelta(minutes=crawl.failed_url_backoff_max_minutes),
        dry_run=dry_run,
        store_batch=crawl.store_batch,
        parse_batch=crawl.parse_batch,
    )


@asynccontextmanager
async def open_resources(
    settings: Settings, config: PipelineConfig
) -> AsyncIterator[CrawlResources]:
    settings.db.parent.mkdir(parents=True, exist_ok=True)
    store = await open_store(settings.db, settings.storage)
    pool = ParsePool(config.executor, config.parse_workers)
    try:
        async with Fetcher(settings) as fetcher:
            yield CrawlResources(settings, store, fetcher, pool, config)
    finally:
        pool.close()
        await store.close()


def summary(counters: RunCounters) -> str:
    """A run's counters in one line for people: every headline counter, zero or not."""
    return ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counters.headline().items())


async def run_recorded(
    resources: CrawlResources,
    kind: str,
    body: Callable[[RunCounters], Awaitable[None]],
) -> RunCounters:
    """Run ``body`` as one run in the store; log and record its counters however it ends."""
    counters = RunCounters()
    started = time.monotonic()
    dry = resources.config.dry_run
    run_id = None if dry else await resources.store.start_run(kind)
    error: BaseException | None = None
    try:
        await body(counters)
    except BaseException as exc:
        error = exc
        raise
    finally:
        if run_id is not None:
            await resources.store.finish_run(
                run_id,
                counters,
                ok=error is None,
                error=None if error is None else f"{type(error).__name__}: {error}",
            )
        log.info(
            f"{kind} pass finished: {summary(counters)}",
            extra={
                "event": f"{kind}_pass",
                "outcome": "ok" if error is None else "error",
                "duration_ms": round((time.monotonic() - started) * 1000),
                **counters.headline(),
                **counters.nonzero_details(),
            },
        )
    return counters


async def submit_due(pipeline: Pipeline, store: Store, limit: int) -> int:
    """Pending and failed-and-due article URLs (listings are re-walked by discovery instead)."""
    submitted = 0
    for record in await store.due_urls(datetime.now(UTC), limit):
        if record.kind is UrlKind.LISTING:
            continue
        job = FetchJob(record.url, record.kind, record.listed_on, attempts=record.attempts)
        if not await pipeline.submit(job):
            break
        submitted += 1
    return submitted


async def submit_rechecks(pipeline: Pipeline, records: list[UrlRecord]) -> int:
    """Conditional GETs of recent articles, one URL each (the first seen of its aliases):
    a 304 costs no parsing and no write but the check."""
    submitted = 0
    checked: set[int] = set()
    for record in records:
        if record.article_id is not None:
            if record.article_id in checked:
                continue
            checked.add(record.article_id)
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


async def incremental_pass(resources: CrawlResources, stop: asyncio.Event) -> RunCounters:
    async def body(counters: RunCounters) -> None:
        pipeline = resources.pipeline(counters, stop)
        walker = resources.listing_walker(pipeline, stop)

        async def emit(item: DiscoveredArticle) -> bool:
            return await pipeline.submit(FetchJob(item.url, UrlKind.ARTICLE, item.listed_on))

        # Re-checks are chosen before the walk, so articles stored by this pass are not re-read.
        recent = await resources.store.recent_article_urls(
            datetime.now(UTC) - timedelta(days=resources.settings.crawl.recheck_days)
        )
        pipeline.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    walker.walk_all(IncrementalPolicy(resources.store), emit, resume=True)
                )
                group.create_task(submit_rechecks(pipeline, recent))
                group.create_task(
                    submit_due(pipeline, resources.store, resources.settings.crawl.due_limit)
                )
        finally:
            await pipeline.drain()

    return await run_recorded(resources, "crawl", body)


async def retry_pass(resources: CrawlResources, stop: asyncio.Event) -> RunCounters:
    async def body(counters: RunCounters) -> None:
        pipeline = resources.pipeline(counters, stop)
        pipeline.start()
        try:
            await submit_due(pipeline, resources.store, resources.settings.crawl.due_limit)
        finally:
            await pipeline.drain()

    return await run_recorded(resources, "retry", body)
