"""Progress that tells the truth, for the long runs (a backfill, a first crawl of the whole site).

Two things move and both are shown: the **articles** (found on the listings and handed to the
pipeline, then stored, failed or skipped) and the **listing walk** (pages read and failed,
categories done, how far back the walk reached). On a terminal they are two tqdm bars; elsewhere
(logs, CI) a plain line every few seconds. A host the fetcher slowed down after 429/503 answers
is named ("slowed: 503s from HOST"), so a crawl going slower than its rate says why.

The share done is estimated from dates: for each category, the part of [since, until] its walk
has gone past (a walk with no ``since``, a first crawl, only knows categories finished). It is
never shown as 100% unless the walk ended; the run's outcome is the command's last line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from vksnd.crawler.crawl.discovery import ListingWalker
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.storage.records import RunCounters

log = logging.getLogger("vksnd.progress")

DEFAULT_REPORT_SECONDS = 10.0  # plain progress lines
DEFAULT_BAR_SECONDS = 0.5  # terminal bar refresh
_BAR_SCALE = 1000


@dataclass(slots=True)
class Progress:
    """What the progress display reads while a run goes on."""

    label: str  # "backfill", "crawl"
    report: RunReport
    walker: ListingWalker | None = None
    since: date | None = None  # the walk's range, for the share done
    until: date | None = None
    slowed: Callable[[], list[str]] | None = None  # hosts slowed down now, and why
    started: float = field(default_factory=time.monotonic)
    planned: int = 0  # article URLs handed to the pipeline (what a dry run reports)
    inline: int = 0  # articles fetched while the walk dated them (stored on the way)
    done: bool = False  # the walk and the pipeline finished (not stopped)

    @property
    def counters(self) -> RunCounters:
        return self.report.counters

    @property
    def settled(self) -> int:
        """Article URLs that came to an end: fetched (stored or not), failed, skipped, gone."""
        c = self.counters
        return c.pages_fetched + c.not_modified + c.failures + c.skipped + c.gone

    @property
    def found(self) -> int:
        return max(self.planned + self.inline, self.settled)

    def fraction(self) -> float:
        """The share of the walk done, from the dates reached per category (< 1 until done)."""
        walker = self.walker
        if walker is None or not walker.categories:
            return 0.0
        total = 0.0
        for cat_id in walker.categories:
            if cat_id in walker.finished:
                total += 1.0
                continue
            oldest = walker.oldest_seen.get(cat_id)
            if oldest is not None and self.since is not None and self.until is not None:
                span = max((self.until - self.since).days, 1)
                total += min(max((self.until - oldest).days / span, 0.0), 0.99)
        share = total / len(walker.categories)
        return share if self.done else min(share, 0.999)

    def articles_line(self) -> str:
        c = self.counters
        if self.report.kind == "backfill" and self.walker is not None and self.planned_only():
            return f"articles found {self.planned}, listing pages {c.listing_pages}"
        left = max(self.found - self.settled, 0)
        return (
            f"articles found {self.found}, stored {c.stored}, duplicate {c.duplicates},"
            f" failed {c.failures}, skipped {c.skipped}, gone {c.gone}, {left} to go"
        )

    def planned_only(self) -> bool:
        return False

    def listing_line(self) -> str:
        c = self.counters
        walker = self.walker
        parts = [f"listing pages {c.listing_pages} read, {c.listing_failures} failed"]
        if walker is not None:
            parts.append(f"categories {len(walker.finished)}/{len(walker.categories)} done")
            if walker.oldest_seen:
                parts.append(f"reached {min(walker.oldest_seen.values())}")
        slowed = self.slowed() if self.slowed is not None else []
        if slowed:
            parts.append("slowed: " + "; ".join(slowed))
        return ", ".join(parts)

    def rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (
            f"{(self.counters.pages_fetched + self.counters.listing_pages) / elapsed:.1f} pages/s"
        )

    def line(self) -> str:
        """One plain line: articles | listings | rate and the estimated time left."""
        fraction = self.fraction()
        elapsed = max(time.monotonic() - self.started, 1e-6)
        eta = "?" if fraction <= 0 or self.done else _clock(elapsed * (1 - fraction) / fraction)
        return (
            f"{self.articles_line()} | {self.listing_line()} | {self.rate()},"
            f" walk {fraction:.0%}, ETA {eta}"
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


async def report_progress(
    progress: Progress, stream: TextIO, stop: asyncio.Event, *, as_log: bool = False
) -> None:
    """Until ``stop``: two bars on a terminal, a plain line every few seconds elsewhere, or,
    with ``as_log`` (JSON logs: every line of stderr is a JSON object), ``progress`` log lines
    carrying the counters."""

    def emit(line: str) -> None:
        if as_log:
            counters = progress.counters
            log.info(
                f"{progress.label}: {line}",
                extra={"event": "progress", "found": progress.found, **counters.headline()},
            )
        else:
            print(f"{progress.label}: {line}", file=stream, flush=True)

    if as_log or not stream.isatty():
        while not stop.is_set():
            await _wait(stop, DEFAULT_REPORT_SECONDS)
            if not stop.is_set():
                emit(progress.line())
        # the last word on what moved; the command's summary line says how the run ended
        emit(f"{progress.articles_line()} | {progress.listing_line()} | {progress.rate()}")
        return
    articles = tqdm(
        total=0, file=stream, position=0, dynamic_ncols=True, leave=True,
        bar_format="articles {n_fmt}/{total_fmt} |{bar}| {postfix}",
    )  # fmt: skip
    listings = tqdm(
        total=_BAR_SCALE, file=stream, position=1, dynamic_ncols=True, leave=True,
        bar_format="listings |{bar}| [{elapsed}<{remaining}] {postfix}",
    )  # fmt: skip
    # Log lines go above the bars instead of through them.
    with (
        articles,
        listings,
        logging_redirect_tqdm(loggers=[logging.getLogger("vksnd")], tqdm_class=tqdm),
    ):
        while True:
            articles.total = max(progress.found, 1)
            articles.n = progress.settled
            articles.set_postfix_str(progress.articles_line(), refresh=False)
            listings.n = int(progress.fraction() * _BAR_SCALE)
            listings.set_postfix_str(progress.listing_line(), refresh=False)
            articles.refresh()
            listings.refresh()
            if stop.is_set():
                return
            await _wait(stop, DEFAULT_BAR_SECONDS)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
