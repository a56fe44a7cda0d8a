"""What ``vksnd run`` does around each pass when it runs as a service.

The daemon reports each finished pass to a ``PassMonitor``, which feeds the health verdict and
the metrics, then refreshes the corpus folder (``--export-dir``) so tools that read files only
have to watch a folder. ``service`` builds these objects from the settings and, with
``--http HOST:PORT``, serves them (``crawler.service.http_api``) for as long as the daemon runs.

The export runs after every pass that did not raise, on a worker thread with a reader of its own
(``StoreReader.export_corpus``): it is incremental (only what changed is written or removed) and
a failure is counted and makes ``/healthz`` degraded until an export works again, never fatal:
the next pass tries again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from vksnd.crawler.config import Settings
from vksnd.crawler.crawl import storage_engine
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.ports import ReaderFactory
from vksnd.crawler.fetch.fetcher import FetchStats
from vksnd.crawler.service.health import Health, missed
from vksnd.crawler.service.http_api import HttpApi, parse_bind
from vksnd.crawler.service.metrics import Metrics
from vksnd.storage.errors import StorageError
from vksnd.storage.records import ExportFilter, ExportReport, RunOutcome

log = logging.getLogger("vksnd.monitor")


def export_folder(open_reader: ReaderFactory, out_dir: Path) -> ExportReport:
    """The current versions not yet in ``out_dir`` written there (idempotent)."""
    with open_reader() as reader:
        return reader.export_corpus(out_dir, ExportFilter())


class PassMonitor:
    def __init__(
        self,
        metrics: Metrics,
        health: Health,
        *,
        open_reader: ReaderFactory,
        export_dir: Path | None = None,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self._open_reader = open_reader
        self._export_dir = export_dir

    def pass_started(self, kind: str) -> None:
        """Called by the daemon when a pass begins (a long pass that progresses is healthy)."""
        self.health.record_start(kind)

    async def pass_finished(
        self,
        report: RunReport,
        *,
        duration_s: float,
        error: BaseException | None = None,
        sites: Mapping[str, RunReport] | None = None,
    ) -> None:
        """Called by the daemon after every pass (judged, also when it raised); ``sites``:
        each site's part when several are crawled (``/healthz`` lists them)."""
        for site, site_report in (sites or {}).items():
            self.health.record_site_pass(
                site,
                site_report.kind,
                site_report.outcome or RunOutcome.FAILED,
                duration_s=duration_s,
                reason=site_report.reason,
                failures=missed(site_report.counters),
            )
        outcome = report.outcome or RunOutcome.FAILED
        finished = self.health.record_pass(
            report.kind,
            outcome,
            duration_s=duration_s,
            reason=report.reason,
            failures=missed(report.counters),
            drift=report.drift,
        )
        self.metrics.record_key_hits(report.key_hits.ratios())
        self.metrics.record_pass(
            report.kind,
            outcome,
            duration_s=duration_s,
            counters=report.counters,
            finished_at=finished.timestamp(),
        )
        if error is None and self._export_dir is not None:
            await self.refresh_export()

    async def refresh_export(self) -> ExportReport | None:
        out_dir = self._export_dir
        if out_dir is None:
            return None
        started = time.monotonic()
        try:
            report = await asyncio.to_thread(export_folder, self._open_reader, out_dir)
        except StorageError as exc:
            self.metrics.record_export(ok=False, written=0)
            log.info(
                f"export to {out_dir} failed: {exc}",
                extra={"event": "export", "outcome": "failed", "path": str(out_dir),
                       "error": str(exc)},
            )  # fmt: skip
            self.health.record_export(ok=False, error=str(exc))
            return None
        self.metrics.record_export(ok=True, written=report.written + report.restored)
        self.health.record_export(ok=True)
        log.info(
            f"export to {out_dir}: {report.written} written, {report.restored} restored,"
            f" {report.removed} removed, {report.skipped} already there",
            extra={
                "event": "export",
                "outcome": "ok",
                "path": str(out_dir),
                "duration_ms": round((time.monotonic() - started) * 1000),
                "written": report.written,
                "restored": report.restored,
                "removed": report.removed,
                "skipped": report.skipped,
            },
        )
        return report


@asynccontextmanager
async def service(
    settings: Settings, fetch_stats: FetchStats, interval: timedelta
) -> AsyncIterator[PassMonitor]:
    """Metrics, health, export and (with ``settings.http_bind``) the HTTP API, for one daemon."""
    metrics = Metrics()
    metrics.watch_fetcher(fetch_stats)
    open_reader = functools.partial(storage_engine.open_reader, settings.db, settings.storage)
    health = Health(interval, max_failures=settings.service.health_max_failures)
    monitor = PassMonitor(
        metrics, health, open_reader=open_reader, export_dir=settings.crawl.export_dir
    )
    api: HttpApi | None = None
    if settings.http_bind is not None:
        host, port = parse_bind(settings.http_bind)
        api = HttpApi(
            open_reader,
            metrics,
            monitor.health,
            stats_ttl=settings.service.http_stats_ttl,
            max_reads=settings.service.http_max_reads,
        )
        await api.start(host, port)
    try:
        yield monitor
    finally:
        if api is not None:
            await api.stop()
