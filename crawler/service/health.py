"""Is the daemon healthy? The rule behind ``GET /healthz`` (and so the container healthcheck).

``degraded`` (503), with every reason in the JSON (``reasons``: ``code`` and ``message``), when:

- ``last_pass_failed``: the last crawl pass failed (nothing could be fetched, the listings held
  no article link, or it stopped on an error);
- ``failures``: the last pass of a kind left ``health_max_failures`` pages or more failed or
  skipped (a retry pass that fails again on a handful of broken URLs is not a broken daemon);
- ``export``: the last refresh of the export folder failed (it cannot be written);
- ``stale``: no crawl pass succeeded (ok or partial) within ``STALE_INTERVALS`` intervals,
  counted from the last success or from the start, and no pass is making progress;
- ``database``: the database cannot be read;
- ``profile_drift``: a profile key matched none of its pages in the last pass that tried it
  (``profile key "listing.item" matched 0 of 12 listing pages``: the site changed; the generic
  path reads the pages meanwhile, see ``crawler.crawl.drift``).

Otherwise ``ok`` (200), ``starting`` before the first pass ends, or ``running`` while a pass that
outlasts the stale window (a first crawl of the whole portal) keeps the database moving.

The verdict is recomputed whenever a pass or an export ends and whenever ``/healthz`` is asked;
a change (ok → degraded, a reason added or gone, degraded → ok) is logged once: one WARNING when
the daemon degrades, not one per failed page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vksnd.crawler.config import DEFAULT_HEALTH_MAX_FAILURES
from vksnd.storage.records import RunCounters, RunOutcome, StorageStats

log = logging.getLogger("vksnd.health")

STALE_INTERVALS = 3
HEALTHY = frozenset({"ok", "starting", "running"})
SUCCESS = frozenset({RunOutcome.OK, RunOutcome.PARTIAL})  # a pass that did its work


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LastPass:
    kind: str
    outcome: RunOutcome
    finished_at: datetime
    duration_s: float
    reason: str | None
    failures: int  # pages and listing pages left failed or skipped

    @property
    def ok(self) -> bool:
        return self.outcome is RunOutcome.OK

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "outcome": self.outcome.value,
            "ok": self.ok,
            "finished_at": _iso(self.finished_at),
            "duration_s": round(self.duration_s, 3),
            "reason": self.reason,
            "failures": self.failures,
        }


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # last_pass_failed, failures, export, stale, database, profile_drift
    message: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    healthy: bool
    status: str  # "ok", "starting", "running" or "degraded"
    reasons: tuple[Reason, ...]
    body: dict[str, Any]  # the JSON document /healthz returns


def missed(counters: RunCounters | None) -> int:
    """What a pass left undone: pages and listing pages failed or skipped."""
    if counters is None:
        return 0
    return counters.failures + counters.skipped + counters.listing_failures


class Health:
    """Pass outcomes and export results as the daemon reports them; the verdict on demand."""

    def __init__(
        self,
        interval: timedelta,
        clock: Callable[[], datetime] = utc_now,
        *,
        max_failures: int = DEFAULT_HEALTH_MAX_FAILURES,
    ) -> None:
        if interval <= timedelta(0):
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self.max_failures = max_failures
        self._clock = clock
        self.started_at = clock()
        self.last_success: datetime | None = None  # the last crawl pass that did its work
        self.last_pass: LastPass | None = None
        self.last_by_kind: dict[str, LastPass] = {}
        # Several sites: each one's last pass by kind (the verdict is the overall pass's).
        self.sites: dict[str, dict[str, LastPass]] = {}
        self.passes = 0
        self.running: tuple[str, datetime] | None = None  # the pass in progress: kind, start
        self.export_error: str | None = None  # the last export's failure; None once one works
        self.exports = 0
        self._progress_mark: tuple[object, ...] | None = None
        self.last_progress: datetime | None = None  # when the database was last seen moving
        self._database_error: str | None = None  # as the last report saw it
        self._announced: tuple[str, frozenset[str]] = ("starting", frozenset())
        self.drift: tuple[str, ...] = ()  # profile keys silent in the last pass, a line each

    def record_start(self, kind: str) -> None:
        """Note that a pass started (``record_pass`` ends it)."""
        self.running = (kind, self._clock())

    def record_pass(
        self,
        kind: str,
        outcome: RunOutcome,
        *,
        duration_s: float,
        reason: str | None = None,
        failures: int = 0,
        drift: tuple[str, ...] | None = None,
    ) -> datetime:
        """Note a finished pass; returns its end time (by this object's clock). ``drift``: the
        profile keys silent after it (None: the pass did not say, the last word stands)."""
        now = self._clock()
        if drift is not None:
            self.drift = drift
        finished = LastPass(kind, outcome, now, duration_s, reason, failures)
        self.last_pass = finished
        self.last_by_kind[kind] = finished
        self.running = None
        self.passes += 1
        if kind == "crawl" and outcome in SUCCESS:
            self.last_success = now
        self._announce(self._verdict(now))
        return now

    def record_site_pass(
        self,
        site: str,
        kind: str,
        outcome: RunOutcome,
        *,
        duration_s: float,
        reason: str | None = None,
        failures: int = 0,
    ) -> None:
        """Note one site's part of a pass (``record_pass`` notes the whole pass)."""
        finished = LastPass(kind, outcome, self._clock(), duration_s, reason, failures)
        self.sites.setdefault(site, {})[kind] = finished

    def record_export(self, *, ok: bool, error: str | None = None) -> None:
        self.exports += 1
        self.export_error = None if ok else (error or "failed")
        self._announce(self._verdict(self._clock()))

    def report(self, database: StorageStats | None, database_error: str | None) -> HealthReport:
        """The verdict now, given a fresh database snapshot (None + the error if unreadable)."""
        now = self._clock()
        self._note_progress(database, now)
        self._database_error = None if database is not None else (database_error or "unreadable")
        status, reasons = self._verdict(now)
        self._announce((status, reasons))
        deadline = self._deadline()
        last = self.last_pass
        crawl = self.last_by_kind.get("crawl")
        body: dict[str, Any] = {
            "status": status,
            "reasons": [{"code": r.code, "message": r.message} for r in reasons],
            "now": _iso(now),
            "started_at": _iso(self.started_at),
            "interval_s": self.interval.total_seconds(),
            "last_success": _iso(self.last_success),
            "stale_after": _iso(deadline),
            "passes": self.passes,
            "running": None
            if self.running is None
            else {"kind": self.running[0], "since": _iso(self.running[1])},
            "last_progress": _iso(self.last_progress),
            "last_pass": None if last is None else last.as_json(),
            "last_crawl_pass": None if crawl is None else crawl.as_json(),
            "export": {
                "state": "error" if self.export_error else ("ok" if self.exports else "none"),
                "error": self.export_error,
            },
            "database": _database(database, database_error),
            "sites": {
                site: {kind: last.as_json() for kind, last in sorted(by_kind.items())}
                for site, by_kind in sorted(self.sites.items())
            },
        }
        return HealthReport(status in HEALTHY, status, reasons, body)

    # -- the rule ------------------------------------------------------------------------

    def _deadline(self) -> datetime:
        return (self.last_success or self.started_at) + STALE_INTERVALS * self.interval

    def _verdict(self, now: datetime) -> tuple[str, tuple[Reason, ...]]:
        reasons: list[Reason] = []
        if self._database_error is not None:
            reasons.append(
                Reason("database", f"the database cannot be read: {self._database_error}")
            )
        crawl = self.last_by_kind.get("crawl")
        if crawl is not None and crawl.outcome is RunOutcome.FAILED:
            reasons.append(
                Reason("last_pass_failed", f"the last crawl pass failed: {crawl.reason}")
            )
        for kind, last in sorted(self.last_by_kind.items()):
            if last.failures >= self.max_failures:
                reasons.append(
                    Reason(
                        "failures",
                        f"the last {kind} pass left {last.failures} pages failed or skipped"
                        f" (health_max_failures {self.max_failures})",
                    )
                )
        reasons.extend(Reason("profile_drift", line) for line in self.drift)
        if self.export_error is not None:
            reasons.append(
                Reason("export", f"the export folder cannot be written: {self.export_error}")
            )
        stale = now > self._deadline()
        if stale and not self._progressing(now):
            since = _iso(self.last_success) or f"the start ({_iso(self.started_at)})"
            reasons.append(Reason("stale", f"no crawl pass succeeded since {since}"))
        if reasons:
            return "degraded", tuple(reasons)
        if stale:
            return "running", ()
        if crawl is None and self.last_success is None:
            return "starting", ()
        return "ok", ()

    def _announce(self, verdict: tuple[str, tuple[Reason, ...]]) -> None:
        """Log the verdict when it changed: the status, or the set of reasons."""
        status, reasons = verdict
        codes = frozenset(r.code for r in reasons)
        previous, previous_codes = self._announced
        if (status in HEALTHY) == (previous in HEALTHY) and codes == previous_codes:
            self._announced = (status, codes)
            return
        self._announced = (status, codes)
        if reasons:
            log.warning(
                "health: degraded: " + "; ".join(r.message for r in reasons),
                extra={"event": "health", "health": status, "reasons": sorted(codes)},
            )
        elif previous not in HEALTHY:
            log.info(
                f"health: {status} again",
                extra={"event": "health", "health": status, "reasons": []},
            )

    def _note_progress(self, database: StorageStats | None, now: datetime) -> None:
        """Remember when the database was last seen to change (between two reports)."""
        if database is None:
            return
        mark = (database.versions, database.urls_by_state)
        if self._progress_mark is not None and mark != self._progress_mark:
            self.last_progress = now
        self._progress_mark = mark

    def _progressing(self, now: datetime) -> bool:
        """A pass is running and the database moved within the last interval."""
        return (
            self.running is not None
            and self.last_progress is not None
            and now - self.last_progress <= self.interval
        )


def _database(stats: StorageStats | None, error: str | None) -> dict[str, Any]:
    if stats is None:
        return {"state": "error", "error": error or "unreadable"}
    return {
        "state": "ok",
        "path": stats.path,
        "bytes": stats.db_bytes,
        "articles": stats.articles,
        "versions": stats.versions,
        "urls": dict(stats.urls_by_state),
    }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")
