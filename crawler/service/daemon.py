"""The daemon: an incremental pass every interval and a retry pass for failed URLs.

APScheduler 3.x's ``AsyncIOScheduler`` runs both jobs on our event loop. Each job has
``max_instances=1`` and ``coalesce=True``: a pass that overruns its interval is not started twice,
and runs missed while one was running collapse into one. The two jobs also share a lock, so an
incremental pass and a retry pass never fetch at the same time either.

Stopping (SIGINT/SIGTERM set ``stop``): the scheduler is paused so nothing new starts, the pass in
progress sees ``stop``, lets its in-flight pages finish and leaves the rest pending in the
frontier; then the scheduler is shut down and the caller closes the database. A second signal
cancels the pass in progress at once; it is recorded ``interrupted`` either way.

Several sites (``sites = [...]``): each pass runs every site's pass at once
(``crawl.sites.run_sites``), each recorded as its own run; the observer hears the overall pass
(the worst outcome wins) and each site's.

APScheduler's own "maximum number of running instances reached" warning (a pass outlasting its
interval) is replaced by one line of ours (``pass_skipped``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from vksnd.crawler.config import Settings
from vksnd.crawler.crawl.outcomes import RunReport, storage_failure
from vksnd.crawler.crawl.passes import CrawlResources, incremental_pass, retry_pass
from vksnd.crawler.crawl.sites import SitesReport, run_sites
from vksnd.storage.records import RunOutcome

log = logging.getLogger("vksnd.daemon")

JITTER_SHARE_CAP = 0.1  # jitter never exceeds a tenth of the interval: passes keep their rhythm


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: timedelta
    jitter: timedelta
    retry_interval: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        crawl = settings.crawl
        interval = timedelta(minutes=crawl.interval_minutes)
        jitter = min(timedelta(seconds=crawl.interval_jitter), interval * JITTER_SHARE_CAP)
        return cls(interval, jitter, timedelta(minutes=crawl.retry_pass_minutes))


PassFn = Callable[[CrawlResources, asyncio.Event, RunReport], Awaitable[RunReport]]


class PassObserver(Protocol):
    """Told about every pass, started and finished (health, metrics, export:
    ``vksnd.crawler.service.monitor``)."""

    def pass_started(self, kind: str) -> None: ...

    async def pass_finished(
        self,
        report: RunReport,
        *,
        duration_s: float,
        error: BaseException | None = None,
        sites: Mapping[str, RunReport] | None = None,
    ) -> None: ...


class Daemon:
    def __init__(
        self,
        resources: CrawlResources | Sequence[CrawlResources],
        schedule: Schedule,
        stop: asyncio.Event,
        observer: PassObserver | None = None,
    ) -> None:
        """``resources``: one site's, or every site's (``crawl.sites.open_sites``)."""
        self._sites: tuple[CrawlResources, ...] = (
            (resources,) if isinstance(resources, CrawlResources) or resources is None
            else tuple(resources)
        )  # fmt: skip
        self._observer = observer
        self._schedule = schedule
        self._stop = stop
        self._lock = asyncio.Lock()
        self._running: set[asyncio.Task[object]] = set()
        self._hard_stop = False
        self.passes_ok = 0  # passes that did their work (ok or partial)

    async def run(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        schedule = self._schedule
        scheduler.add_job(
            self._job,
            "interval",
            args=("crawl", incremental_pass),
            id="incremental",
            seconds=schedule.interval.total_seconds(),
            jitter=_jitter(schedule.jitter),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        scheduler.add_job(
            self._job,
            "interval",
            args=("retry", retry_pass),
            id="retry",
            seconds=schedule.retry_interval.total_seconds(),
            jitter=_jitter(schedule.jitter),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        scheduler.start()
        log.info(
            "daemon started",
            extra={
                "event": "daemon_start",
                "interval_s": schedule.interval.total_seconds(),
                "retry_interval_s": schedule.retry_interval.total_seconds(),
            },
        )
        try:
            await self._stop.wait()
        except asyncio.CancelledError:  # a second signal: the pass in progress stops now
            self._hard_stop = True
            for task in self._running:
                task.cancel()
            raise
        finally:
            scheduler.pause()
            try:
                if self._running:
                    log.info("waiting for the pass in progress", extra={"event": "daemon_draining"})
                    # A second signal while waiting cancels this gather, and it the passes.
                    await asyncio.gather(*self._running, return_exceptions=True)
            finally:
                scheduler.shutdown(wait=False)
                await asyncio.sleep(0)  # the shutdown is scheduled on the loop: let it run
                log.info("daemon stopped", extra={"event": "daemon_stop", "passes": self.passes_ok})

    async def _job(self, kind: str, run_pass: PassFn) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            async with self._lock:
                if self._stop.is_set():
                    return
                started = time.monotonic()
                report = RunReport(kind)
                sites = SitesReport(report)
                error: Exception | None = None
                if self._observer is not None:
                    try:
                        self._observer.pass_started(kind)
                    except Exception:  # bookkeeping failing must not cost the pass
                        log.exception(f"before the {kind} pass", extra={"event": "observer_error"})
                try:
                    await run_sites(self._sites, self._stop, sites, run_pass)
                except Exception as exc:  # one pass failing must not end the daemon
                    error = exc
                    if storage_failure(exc) is None:  # a storage error is the pass's reason
                        log.exception(f"{kind} pass failed", extra={"event": f"{kind}_pass_error"})
                if report.outcome in (RunOutcome.OK, RunOutcome.PARTIAL):
                    self.passes_ok += 1
                if self._observer is not None:  # inside the lock: the export ends first
                    await self._observer.pass_finished(
                        report,
                        duration_s=time.monotonic() - started,
                        error=error,
                        sites=sites.by_site if len(self._sites) > 1 else None,
                    )
        except asyncio.CancelledError:
            if not (self._hard_stop or self._stop.is_set()):
                raise
            # Stopping (a second signal, also one that came while the daemon waited for this
            # pass): recorded "interrupted" by the pass itself; APScheduler would log a traceback.
        except Exception:  # the observer failing must not end the daemon either
            log.exception(f"after the {kind} pass", extra={"event": "observer_error"})
        finally:
            self._running.discard(task)

    def _skipped(self, event: JobSubmissionEvent) -> None:
        """APScheduler found the job still running at its next time (a pass outlasting the
        interval): say so in our words; the missed runs collapse into one (coalesce)."""
        kind = "crawl" if event.job_id == "incremental" else event.job_id
        log.info(
            f"{kind} pass due, but the previous one is still running: skipped",
            extra={"event": "pass_skipped", "kind": kind},
        )


def _jitter(jitter: timedelta) -> int | None:
    seconds = int(jitter.total_seconds())
    return seconds or None
