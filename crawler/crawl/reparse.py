"""Re-extract archived pages with the current parser (``vksnd reparse``), on every core.

The parent reads the archive in page order and sends chunks of pages to a process pool; the
workers parse and send back only what changed (an ``Article`` where the text differs, a verdict
otherwise), so the parent's share per page is reading a row and inflating its body. Results are
taken in the order the chunks were sent and stored one page at a time, each in its own
transaction, exactly as a single process would store them: the stored result does not depend on
the number of workers, and a run stopped at any point leaves a consistent database that a rerun
finishes (pages stored already compare unchanged).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vksnd.crawler.crawl.parse_pool import Reparsed, ReparseJob, reparse_pages, start_worker
from vksnd.crawler.crawl.ports import ReparseStore
from vksnd.crawler.fetch.fetcher import header_value
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.storage.records import ArchivedPage, StoreOutcome

DEFAULT_CHUNK = 48  # pages per pool task: one pickling round trip for ~35 ms of parsing
DEFAULT_AHEAD = 2  # chunks in flight per worker, so no worker waits for the parent


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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


def _job(page: ArchivedPage, profile: SiteProfile) -> ReparseJob:
    return ReparseJob(
        body=page.body,
        codec=page.codec,
        url=page.url,
        content_type=header_value(page.headers, "content-type"),
        listing_date=page.listed_on,
        content_hash=page.content_hash,
        profile=profile,
    )


class _Parser:
    """Where chunks are parsed: inline (one process) or in a pool of worker processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if workers > 1:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=start_worker,
            )

    def submit(
        self, pages: Sequence[ArchivedPage], profile_of: Callable[[str], SiteProfile]
    ) -> asyncio.Future[list[Reparsed]]:
        jobs = [_job(page, profile_of(page.url)) for page in pages]
        loop = asyncio.get_running_loop()
        if self._pool is None:
            done: asyncio.Future[list[Reparsed]] = loop.create_future()
            done.set_result(reparse_pages(jobs))
            return done
        return asyncio.wrap_future(self._pool.submit(reparse_pages, jobs), loop=loop)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


async def reparse(
    store: ReparseStore,
    since: datetime | None,
    *,
    profile_of: Callable[[str], SiteProfile] = lambda _url: PROFILE,
    workers: int = 1,
    chunk: int = DEFAULT_CHUNK,
    on_pages: Callable[[int], None] | None = None,
) -> ReparseReport:
    """Re-extract every archived article page (fetched since ``since``) and store the texts
    that changed, each page read with ``profile_of(url)`` (its site's profile).
    ``on_pages(n)``: n more pages settled (parsed, and stored if changed)."""
    report = ReparseReport()
    parser = _Parser(workers)
    ahead = 1 if workers <= 1 else workers * DEFAULT_AHEAD
    pending: deque[tuple[list[ArchivedPage], asyncio.Future[list[Reparsed]]]] = deque()

    async def settle_oldest() -> None:
        pages, verdicts = pending.popleft()
        for page, verdict in zip(pages, await verdicts, strict=True):
            await _settle(store, report, page, verdict)
        if on_pages is not None:
            on_pages(len(pages))

    try:
        batch: list[ArchivedPage] = []
        async for page in store.archived_article_pages(since, inflate=False):
            batch.append(page)
            if len(batch) < chunk:
                continue
            pending.append((batch, parser.submit(batch, profile_of)))
            batch = []
            while len(pending) >= ahead:
                await settle_oldest()
        if batch:
            pending.append((batch, parser.submit(batch, profile_of)))
        while pending:
            await settle_oldest()
    finally:
        for _, verdicts in pending:
            verdicts.cancel()
        parser.close()
    return report


async def _settle(
    store: ReparseStore, report: ReparseReport, page: ArchivedPage, verdict: Reparsed
) -> None:
    report.pages += 1
    refused = page.not_article is not None
    report.refused += refused
    if verdict.not_article is not None:
        if refused:  # still not an article: nothing new, nothing failed
            report.unchanged += 1
        else:
            report.failures[verdict.not_article] += 1
        return
    if verdict.error is not None:
        report.failures[verdict.error] += 1
        return
    report.recovered += refused
    if verdict.article is None:  # the same text as stored
        report.unchanged += 1
        return
    result = await store.store_reparsed(verdict.article, page)
    if result.outcome is StoreOutcome.UNCHANGED:
        report.unchanged += 1
        return
    report.changed += 1
    report.outcomes[result.outcome.value] += 1
