"""Is the daemon healthy? The rule behind ``GET /healthz`` (and so the container healthcheck).

Unhealthy (503) when the last pass failed, when no pass succeeded within ``STALE_INTERVALS``
intervals (counted from the last success, or from the start while none has succeeded yet), or
when the database cannot be read. A daemon that just started and has not finished its first
pass is healthy ("starting") until those intervals run out: a first crawl takes a while.

A pass may run longer than those intervals (the first crawl of the whole portal at a polite
rate takes hours): while a pass is running and the database moved within the last interval
(versions stored, URLs changing state), the daemon is "running", healthy; a pass that stopped
making progress turns "stale" like a daemon that stopped passing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vksnd.storage.records import StorageStats

STALE_INTERVALS = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LastPass:
    kind: str
    ok: bool
    finished_at: datetime
    duration_s: float
    error: str | None


@dataclass(frozen=True, slots=True)
class HealthReport:
    healthy: bool
    status: str  # "ok", "starting", "running", "failing", "stale", "database_error"
    body: dict[str, Any]  # the JSON document /healthz returns


class Health:
    """Pass outcomes as the daemon reports them; the verdict is computed when asked."""

    def __init__(self, interval: timedelta, clock: Callable[[], datetime] = utc_now) -> None:
        if interval <= timedelta(0):
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self._clock = clock
        self.started_at = clock()
        self.last_success: datetime | None = None
        self.last_pass: LastPass | None = None
        self.passes = 0
        self.running: tuple[str, datetime] | None = None  # the pass in progress: kind, start
        self._progress_mark: tuple[object, ...] | None = None
        self.last_progress: datetime | None = None  # when the database was last seen moving

    def record_start(self, kind: str) -> None:
        """Note that a pass started (``record_pass`` ends it)."""
        self.running = (kind, self._clock())

    def record_pass(
        self, kind: str, *, ok: bool, duration_s: float, error: str | None = None
    ) -> datetime:
        """Note a finished pass; returns its end time (by this object's clock)."""
        now = self._clock()
        self.last_pass = LastPass(kind, ok, now, duration_s, error)
        self.running = None
        self.passes += 1
        if ok:
            self.last_success = now
        return now

    def report(self, database: StorageStats | None, database_error: str | None) -> HealthReport:
        """The verdict now, given a fresh database snapshot (None + the error if unreadable)."""
        now = self._clock()
        self._note_progress(database, now)
        since = self.last_success or self.started_at
        deadline = since + STALE_INTERVALS * self.interval
        last = self.last_pass
        if database is None:
            status = "database_error"
        elif last is not None and not last.ok:
            status = "failing"
        elif now > deadline:
            status = "running" if self._progressing(now) else "stale"
        elif self.last_success is None:
            status = "starting"
        else:
            status = "ok"
        body: dict[str, Any] = {
            "status": status,
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
            "last_pass": None
            if last is None
            else {
                "kind": last.kind,
                "ok": last.ok,
                "finished_at": _iso(last.finished_at),
                "duration_s": round(last.duration_s, 3),
                "error": last.error,
            },
            "database": _database(database, database_error),
        }
        return HealthReport(status in ("ok", "starting", "running"), status, body)

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
