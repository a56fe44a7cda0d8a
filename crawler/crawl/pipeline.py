"""The crawl pipeline: discover → fetch → parse → store, as named steps joined by bounded queues.

    sources ──submit──▶ [fetch queue] ─fetch_step ×fetch_workers─▶ [parse queue]
        ─parse_step ×parse_workers (executor)─▶ [store queue] ─store_step ×1─▶ SQLite

Why this shape:
- Bounded queues give backpressure: a fast listing walk blocks on ``submit`` instead of piling
  up URLs, and fetched bodies wait in a short queue, so memory stays flat on a 20,000-page run.
- Parsing runs in an executor, so a slow page does not stall the event loop for the other
  fetches. The executor is a choice (``thread`` or ``process``), measured in ``bench/crawl.py``.
- One store worker is the only writer: writes stay in order and SQLite never sees two writers.
- Graceful stop: once ``stop`` is set nothing new is submitted and queued-but-unstarted URLs are
  dropped; they are already pending in the frontier, so the next run picks them up. Pages in
  flight finish: fetched, parsed and stored.

A URL that fails is recorded with its reason and reason class (``crawl.outcomes.classify``):
a transient failure leaves it ``failed`` with a next retry time that doubles with each attempt
(minutes); any other leaves it ``skipped``, tried again after days, or ``gone`` (404/410). The
run's counters count URLs by the state they were left in, so they agree with the frontier. A page
that is not an article is recorded as a page, not as a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, TypeVar

from vksnd.crawler.config import (
    DEFAULT_FAILED_URL_BACKOFF_MAX_MINUTES,
    DEFAULT_FAILED_URL_BACKOFF_MINUTES,
    DEFAULT_GLOBAL_CONCURRENCY,
    DEFAULT_HOST_CONCURRENCY,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PARSE_BATCH,
    DEFAULT_PARSE_EXECUTOR,
    DEFAULT_PARSE_WORKERS,
    DEFAULT_PROFILE,
    DEFAULT_SKIPPED_RETRY_DAYS,
    DEFAULT_STORE_BATCH,
    SKIPPED_RETRY_MAX_FACTOR,
    ExecutorKind,
)
from vksnd.crawler.crawl.outcomes import classify, short_reason, storage_failure
from vksnd.crawler.crawl.parse_pool import (
    Parsed,
    ParseJob,
    ParsePool,
    parse_article_page,
    parse_article_pages,
)
from vksnd.crawler.crawl.ports import Store
from vksnd.crawler.fetch.errors import FetchError, RetryableFetchError
from vksnd.crawler.fetch.fetcher import FetchResult
from vksnd.parsers.dates import VIETNAM_TZ
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.records import Article
from vksnd.storage.records import (
    RawPage,
    ReasonClass,
    RunCounters,
    StoreOutcome,
    StoreRequest,
    UrlKind,
    UrlState,
    failure_state,
)

log = logging.getLogger("vksnd.pipeline")

FETCH_QUEUE_PER_FETCHER = 8

_T = TypeVar("_T")


class PageFetcher(Protocol):
    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult: ...


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    # Tasks fetching at once: what the fetcher lets through (its per-host and global limits);
    # more workers would only wait.
    fetch_workers: int = min(DEFAULT_HOST_CONCURRENCY, DEFAULT_GLOBAL_CONCURRENCY)
    parse_workers: int = DEFAULT_PARSE_WORKERS
    executor: ExecutorKind = DEFAULT_PARSE_EXECUTOR
    queue_size: int = 0  # 0: twice the fetch workers
    # a failed URL is due again after this, doubled per attempt, up to the max
    failed_url_backoff: timedelta = timedelta(minutes=DEFAULT_FAILED_URL_BACKOFF_MINUTES)
    failed_url_backoff_max: timedelta = timedelta(minutes=DEFAULT_FAILED_URL_BACKOFF_MAX_MINUTES)
    # a skipped URL is due again after this, doubled per attempt, up to 8 times as long
    skipped_retry: timedelta = timedelta(days=DEFAULT_SKIPPED_RETRY_DAYS)
    dry_run: bool = False  # fetch and parse, write nothing
    store_batch: int = DEFAULT_STORE_BATCH  # articles per transaction, at most
    parse_batch: int = DEFAULT_PARSE_BATCH  # waiting pages sent to the executor at once, at most
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # what the fetcher takes, the parser takes
    profile: SiteProfile = DEFAULT_PROFILE  # the configured site profile: the parser reads by it

    @property
    def bound(self) -> int:
        return self.queue_size or 2 * self.fetch_workers

    @property
    def fetch_bound(self) -> int:
        """URLs waiting for a fetcher: a few listing pages' worth, so the fetchers stay busy
        while a listing walk waits on its next page or on the store (jobs are small)."""
        return self.queue_size or FETCH_QUEUE_PER_FETCHER * self.fetch_workers


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Only articles published within [since, until] (Vietnam dates) are stored."""

    since: date
    until: date

    def holds(self, when: date) -> bool:
        return self.since <= when <= self.until


@dataclass(frozen=True, slots=True)
class FetchJob:
    url: str  # canonical
    kind: UrlKind = UrlKind.ARTICLE
    listed_on: date | None = None
    etag: str | None = None  # set for a conditional re-check
    last_modified: str | None = None
    attempts: int | None = None  # previous failed attempts, when the caller knows them


def raw_page(url: str, result: FetchResult) -> RawPage:
    return RawPage(
        url=url,
        final_url=result.final_url,
        status=result.status,
        headers=tuple(result.headers),
        body=result.body,
        fetched_at=result.fetched_at,
    )


def published_date(article: Article, fallback: date | None) -> date | None:
    when = article.published_at
    if when is None:
        return fallback
    return when.astimezone(VIETNAM_TZ).date() if when.tzinfo else when.date()


@dataclass(frozen=True, slots=True)
class _FetchedPage:
    """A page on its way from the fetch step to the parse step."""

    job: FetchJob
    result: FetchResult


@dataclass(frozen=True, slots=True)
class _PageOutcome:
    """All a page got to before the store step: fetched and parsed, answered 304, or failed to
    fetch (``error``)."""

    job: FetchJob
    result: FetchResult | None
    parsed: Parsed | None
    error: FetchError | None = None


class Pipeline:
    """Runs fetch, parse and store workers between ``start`` and ``drain``."""

    def __init__(
        self,
        *,
        fetcher: PageFetcher,
        store: Store,
        pool: ParsePool,
        config: PipelineConfig,
        counters: RunCounters,
        stop: asyncio.Event,
        window: DateWindow | None = None,
        failure_reasons: Counter[str] | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._store = store
        self._pool = pool
        self._config = config
        self.counters = counters  # the run's, added to as pages go by
        self.failure_reasons = Counter[str]() if failure_reasons is None else failure_reasons
        self._stop = stop
        self._window = window
        self._fetch_q: asyncio.Queue[FetchJob] = asyncio.Queue(config.fetch_bound)
        self._parse_q: asyncio.Queue[_FetchedPage] = asyncio.Queue(config.bound)
        self._store_q: asyncio.Queue[_PageOutcome] = asyncio.Queue(config.bound)
        self._workers: list[asyncio.Task[None]] = []
        self._seen: set[str] = set()
        self._errors: list[BaseException] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for i in range(self._config.fetch_workers):
            self._workers.append(
                asyncio.create_task(self._loop(self._fetch_q, self._fetch_step), name=f"fetch-{i}")
            )
        config = self._config
        for i in range(config.parse_workers):
            parse = self._batch_loop("parse", self._parse_q, config.parse_batch, self._parse_step)
            self._workers.append(asyncio.create_task(parse, name=f"parse-{i}"))
        store = self._batch_loop("store", self._store_q, config.store_batch, self._store_step)
        self._workers.append(asyncio.create_task(store, name="store"))

    async def drain(self) -> None:
        """Wait until every accepted job went through all steps, then stop the workers."""
        try:
            await self._fetch_q.join()
            await self._parse_q.join()
            await self._store_q.join()
        finally:
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers.clear()
        if self._errors:
            raise self._errors[0]

    async def abort(self) -> None:
        """Stop the workers now (an error or a hard stop): nothing queued is drained."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    async def submit(self, job: FetchJob) -> bool:
        """Queue a URL once per run; blocks while the fetch queue is full (backpressure).
        Returns False once the run is stopping."""
        if self._stop.is_set():
            return False
        if job.url in self._seen:
            return True
        self._seen.add(job.url)
        await self._fetch_q.put(job)
        return True

    async def process_now(self, job: FetchJob) -> date | None:
        """Fetch, parse and store one URL in the caller's task; return the article's date.

        The backfill uses it for listing items without a date: the article must be read to
        know whether the walk can stop, and storing it then saves a second fetch."""
        if job.url in self._seen:
            return None
        self._seen.add(job.url)
        fetched = await self._fetch_one(job)
        if fetched.result is None or fetched.error is not None:
            await self._store_step([fetched])
            return None
        parsed = await self._parse(fetched.job, fetched.result)
        outcome = _PageOutcome(job, fetched.result, parsed)
        await self._store_step([outcome])
        if parsed.article is None:
            return None
        return published_date(parsed.article, job.listed_on)

    async def _loop(self, queue: asyncio.Queue[_T], step: Callable[[_T], Awaitable[None]]) -> None:
        while True:
            item = await queue.get()
            try:
                await step(item)
            except Exception as exc:  # an unexpected error: stop the run, report it at drain
                self._step_failed("pipeline", exc)
            finally:
                queue.task_done()

    def _step_failed(self, name: str, error: Exception) -> None:
        """Stop the run; ``drain`` raises the first error. Storage refusing (a full disk) is the
        run's reason and the command's one line: no traceback per worker for it."""
        if storage_failure(error) is None:
            log.error(f"{name} step failed", exc_info=error, extra={"event": "step_error"})
        self._errors.append(error)
        self._stop.set()

    # -- the steps ---------------------------------------------------------------------------

    async def _fetch_step(self, job: FetchJob) -> None:
        if self._stop.is_set():
            self.counters.dropped_on_stop += 1  # still pending in the frontier
            return
        outcome = await self._fetch_one(job)
        if outcome.result is not None and outcome.error is None and not outcome.result.not_modified:
            await self._parse_q.put(_FetchedPage(job, outcome.result))
        else:
            await self._store_q.put(outcome)

    async def _fetch_one(self, job: FetchJob) -> _PageOutcome:
        try:
            result = await self._fetcher.fetch(
                job.url, etag=job.etag, last_modified=job.last_modified
            )
        except FetchError as exc:
            return _PageOutcome(job, None, None, exc)
        return _PageOutcome(job, result, None)

    async def _batch_loop(
        self,
        name: str,
        queue: asyncio.Queue[_T],
        size: int,
        step: Callable[[list[_T]], Awaitable[None]],
    ) -> None:
        """A batching worker (parse, store): takes what is waiting, up to ``size`` items, and
        hands them to ``step`` at once: one executor call for the parse step, one
        transaction for the store step (a commit per article costs five times the article)."""
        while True:
            batch = [await queue.get()]
            while len(batch) < size and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await step(batch)
            except Exception as exc:  # an unexpected error: stop the run, report it at drain
                self._step_failed(name, exc)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _parse_step(self, batch: list[_FetchedPage]) -> None:
        parsed = await self._pool.run(
            parse_article_pages,
            [_parse_job(page.job, page.result, self._config) for page in batch],
        )
        for fetched, one in zip(batch, parsed, strict=True):
            await self._store_q.put(_PageOutcome(fetched.job, fetched.result, one))

    async def _parse(self, job: FetchJob, result: FetchResult) -> Parsed:
        return await self._pool.run(parse_article_page, _parse_job(job, result, self._config))

    async def _store_step(self, batch: list[_PageOutcome]) -> None:
        requests: list[tuple[_PageOutcome, StoreRequest]] = []
        for outcome in batch:
            request = await self._record_outcome(outcome)
            if request is not None:
                requests.append((outcome, request))
        if not requests:
            return
        results = await self._store.store_articles([request for _, request in requests])
        for (outcome, _), stored in zip(requests, results, strict=True):
            self._count(stored.outcome)
            assert outcome.result is not None
            _log_page(outcome.job, outcome.result, stored.outcome.value)

    async def _record_outcome(self, outcome: _PageOutcome) -> StoreRequest | None:
        """Record what the page came to (a failure, a 304, a page that is not an article, an
        article out of the date window) and return None; an article to store comes back as its
        store request instead, for the batch's one transaction."""
        job, result = outcome.job, outcome.result
        if outcome.error is not None:
            await self._record_failure(job, outcome.error)
            return None
        assert result is not None
        if result.not_modified:
            self.counters.not_modified += 1
            if not self._config.dry_run:
                await self._store.record_not_modified(job.url, result.fetched_at)
            _log_page(job, result, "not_modified")
            return None
        self.counters.pages_fetched += 1
        parsed = outcome.parsed
        assert parsed is not None
        if parsed.article is None:
            if parsed.not_article is not None:
                self.counters.not_articles += 1
                if not self._config.dry_run:
                    await self._store.record_page(
                        raw_page(job.url, result),
                        UrlKind.OTHER,
                        result.etag,
                        result.last_modified,
                        not_article=parsed.not_article,
                    )
                _log_page(job, result, "not_article", not_article=parsed.not_article)
            else:
                reason = parsed.error or "parse error"
                self.counters.skipped += 1
                self.failure_reasons[short_reason(reason)] += 1
                if not self._config.dry_run:
                    attempts = await self._attempts(job)
                    await self._store.record_failure(
                        job.url,
                        reason,
                        result.status,
                        self.skipped_retry_at(attempts),
                        permanent=True,
                        reason_class=ReasonClass.PARSE,
                    )
                _log_page(
                    job, result, "skipped", error=reason, reason_class=ReasonClass.PARSE.value
                )
            return None
        article = parsed.article
        if article.extractor.generic:
            self.counters.parse_fallbacks += 1
        when = published_date(article, job.listed_on)
        if self._window is not None and (when is None or not self._window.holds(when)):
            self.counters.out_of_range += 1  # left pending: an incremental crawl may take it
            _log_page(job, result, "out_of_range")
            return None
        if self._config.dry_run:
            _log_page(job, result, "dry_run")
            return None
        return StoreRequest(article, raw_page(job.url, result), result.etag, result.last_modified)

    def _count(self, outcome: StoreOutcome) -> None:
        if outcome is StoreOutcome.NEW:
            self.counters.new_articles += 1
        elif outcome is StoreOutcome.NEW_VERSION:
            self.counters.new_versions += 1
        elif outcome is StoreOutcome.DUPLICATE:
            self.counters.duplicates += 1
        else:
            self.counters.unchanged += 1

    async def _record_failure(self, job: FetchJob, error: FetchError) -> None:
        reason_class = classify(error)
        state = failure_state(error.status, permanent=True, reason_class=reason_class)
        if state is UrlState.FAILED:
            self.counters.failures += 1
        elif state is UrlState.SKIPPED:
            self.counters.skipped += 1
        else:
            self.counters.gone += 1
        if state is not UrlState.GONE:
            self.failure_reasons[short_reason(error.reason)] += 1
        log.debug(
            "fetch failed",
            extra={
                "event": "fetch_failed",
                "url": job.url,
                "status": error.status,
                "outcome": state.value,
                "error": error.reason,
                "reason_class": reason_class.value,
            },
        )
        if self._config.dry_run:
            return
        next_retry_at = None
        if state is UrlState.FAILED:
            next_retry_at = self.next_retry_at(await self._attempts(job), error)
        elif state is UrlState.SKIPPED and reason_class.retried_on_schedule:
            next_retry_at = self.skipped_retry_at(await self._attempts(job))
        await self._store.record_failure(
            job.url,
            error.reason,
            error.status,
            next_retry_at,
            permanent=state is not UrlState.FAILED,
            reason_class=reason_class,
        )

    async def _attempts(self, job: FetchJob) -> int:
        """Earlier failed attempts of ``job``'s URL (the store knows when the job does not)."""
        if job.attempts is not None:
            return job.attempts
        record = await self._store.get_url(job.url)
        return record.attempts if record is not None else 0

    def skipped_retry_at(self, attempts: int) -> datetime:
        """Days away (``skipped_retry_days``), doubled per earlier attempt, capped at 8×."""
        factor = min(1 << min(attempts, 30), SKIPPED_RETRY_MAX_FACTOR)
        return datetime.now(UTC) + self._config.skipped_retry * factor

    def next_retry_at(self, attempts: int, error: FetchError) -> datetime:
        """Exponential by attempts (base, 2×base, 4×base…) up to the cap; never sooner than
        the server's Retry-After."""
        config = self._config
        delay = min(
            config.failed_url_backoff_max, config.failed_url_backoff * (1 << min(attempts, 30))
        )
        if isinstance(error, RetryableFetchError) and error.retry_after is not None:
            delay = max(delay, timedelta(seconds=error.retry_after))
        return datetime.now(UTC) + delay


def _parse_job(job: FetchJob, result: FetchResult, config: PipelineConfig) -> ParseJob:
    return ParseJob(
        result.body,
        result.final_url,
        result.content_type,
        job.listed_on,
        config.max_body_bytes,
        config.profile,
    )


def _log_page(job: FetchJob, result: FetchResult, outcome: str, **fields: object) -> None:
    """One DEBUG line per page; ``outcome`` is what the page came to (new, duplicate,
    unchanged, new_version, not_modified, not_article, out_of_range, dry_run, skipped)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug(
        "page",
        extra={
            "event": "page",
            "url": job.url,
            "status": result.status,
            "duration_ms": round(result.elapsed_ms, 1),
            "outcome": outcome,
            "attempt": result.attempts,
            **fields,
        },
    )
