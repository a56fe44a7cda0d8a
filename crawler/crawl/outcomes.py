"""What a run came to: its outcome word, the reason in a line, and each failure's class.

One vocabulary (``vksnd.storage.records.RunOutcome``) for every place a run is reported: the
summary line, the run table, ``vksnd stats``, the logs, the metrics and ``/healthz``.

    ok           nothing is left to do in the run's scope
    partial      some of the scope failed or was skipped; it is queued for a retry
    failed       nothing could be fetched, the site answered with no usable article link,
                 or the run stopped on an error (a full disk, a bug)
    interrupted  a signal stopped it before its scope was done

``judge`` decides from the run's counters alone, so a run judged again from its stored counters
gets the same word. Failures are classed (``classify``) by the fetch error's type: transient
classes leave the URL ``failed`` (retried after minutes), the rest ``skipped`` (retried after
days) or ``gone``.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field

from vksnd.crawler.crawl.drift import KeyHits
from vksnd.crawler.fetch.errors import (
    FetchError,
    HttpStatusError,
    NotHtml,
    OutOfScope,
    RedirectRejected,
    RetryableFetchError,
    RobotsDisallowed,
    TooLarge,
)
from vksnd.storage.errors import StorageError
from vksnd.storage.records import ReasonClass, RunCounters, RunOutcome

TOP_REASONS = 3  # reasons named in a run's one-line explanation


def classify(error: FetchError) -> ReasonClass:
    """The class of a fetch failure, by the error's type (and status)."""
    if isinstance(error, RetryableFetchError):
        if error.status == 429:
            return ReasonClass.THROTTLED
        return ReasonClass.NETWORK if error.status is None else ReasonClass.SERVER
    if isinstance(error, OutOfScope):
        return ReasonClass.OUT_OF_SCOPE
    if isinstance(error, RobotsDisallowed):
        return ReasonClass.ROBOTS
    if isinstance(error, TooLarge):
        return ReasonClass.TOO_LARGE
    if isinstance(error, NotHtml):
        return ReasonClass.NOT_HTML
    if isinstance(error, RedirectRejected):
        return ReasonClass.REDIRECT
    if isinstance(error, HttpStatusError) and error.gone:
        return ReasonClass.GONE
    return ReasonClass.CLIENT


@dataclass(slots=True)
class RunReport:
    """A run as it goes and as it ended: its counters, why pages failed, and the verdict.

    Created before the run starts, so a caller holding it still has the counters when the run
    is cancelled (a second Ctrl-C) instead of returning."""

    kind: str
    counters: RunCounters = field(default_factory=RunCounters)
    reasons: Counter[str] = field(default_factory=Counter)  # "HTTP 503" -> failures
    outcome: RunOutcome | None = None  # None while running
    reason: str | None = None  # why the outcome is not ok, in a line
    error: str | None = None  # the exception that ended the run, if one did
    scope_notes: list[str] = field(default_factory=list)  # "cat:14: no article links"
    # Why the listings gave no article link, naming the profile's pattern (set by the walk).
    no_links_reason: str | None = None
    key_hits: KeyHits = field(default_factory=KeyHits)  # profile keys' hits (drift alarm)
    drift: tuple[str, ...] | None = None  # silent profile keys after the run (None: not judged)

    def note_failure(self, reason: str) -> None:
        self.reasons[short_reason(reason)] += 1

    def top_reasons(self) -> str:
        return ", ".join(f"{reason} ×{n}" for reason, n in self.reasons.most_common(TOP_REASONS))


def judge(report: RunReport, *, stopped: bool, error: BaseException | None) -> None:
    """Set ``report.outcome`` and ``report.reason`` from how the run ended and its counters."""
    c = report.counters
    verdict: tuple[RunOutcome, str | None]
    if isinstance(error, asyncio.CancelledError) or (stopped and error is None):
        verdict = RunOutcome.INTERRUPTED, "stopped by a signal before its scope was done"
    elif error is not None:
        report.error = _describe(error)
        verdict = RunOutcome.FAILED, report.error
    else:
        verdict = _from_counters(report)
    report.outcome, report.reason = verdict
    if c.dropped_on_stop and report.outcome is RunOutcome.INTERRUPTED:
        report.reason = f"{report.reason}; {c.dropped_on_stop} queued URLs left pending"


def _from_counters(report: RunReport) -> tuple[RunOutcome, str | None]:
    c = report.counters
    missed = c.failures + c.skipped
    answered = c.listing_pages + c.pages_fetched + c.not_modified + c.gone
    why = f" ({report.top_reasons()})" if report.reasons else ""
    if answered == 0 and (missed or c.listing_failures):
        return RunOutcome.FAILED, f"nothing could be fetched: {_missing(c)}{why}"
    if c.listing_pages and not c.listing_items:
        pages = _plural(c.listing_pages, "listing page")
        return RunOutcome.FAILED, report.no_links_reason or f"no article links on the {pages} read"
    if missed and not (c.pages_fetched + c.not_modified):
        return RunOutcome.FAILED, f"no article page could be fetched: {_missing(c)}{why}"
    if missed or c.listing_failures:
        return RunOutcome.PARTIAL, f"{_missing(c)}, queued for a retry{why}"
    return RunOutcome.OK, None


def _missing(c: RunCounters) -> str:
    """``1 listing page and 3 pages failed, 2 skipped``."""
    failed = []
    if c.listing_failures:
        failed.append(_plural(c.listing_failures, "listing page"))
    if c.failures:
        failed.append(_plural(c.failures, "page"))
    parts = [" and ".join(failed) + " failed"] if failed else []
    if c.skipped:
        parts.append(f"{c.skipped} skipped")
    return ", ".join(parts) or "nothing"


_TARGET = re.compile(r" -> [^)]*")
SHORT_REASON = 48


def short_reason(reason: str) -> str:
    """A failure's reason without what differs page to page (redirect targets, byte counts), so
    a run's reasons add up: ``redirect rejected (loop)``, ``network error``."""
    short = _TARGET.sub("", reason)
    if len(short) > SHORT_REASON and " (" in short:
        short = short.split(" (", 1)[0]
    return short


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _describe(error: BaseException) -> str:
    """One line for the error that ended a run; a storage error says what and where."""
    storage = storage_failure(error)
    if storage is not None:
        return str(storage)
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    return f"{type(error).__name__}: {error}"


def storage_failure(error: BaseException) -> StorageError | None:
    """The storage error behind ``error``, also inside task-group exception groups."""
    if isinstance(error, StorageError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = storage_failure(inner)
            if found is not None:
                return found
    return None
