"""Per-host politeness: a request rate, a concurrency cap and a slow-down after 429/503.

Each host gets a semaphore (requests in flight) and a schedule of start times spaced by its
interval: ``1 / rate``, or robots.txt's Crawl-delay when that is longer, multiplied by
``slowdown_factor`` for ``slowdown_seconds`` after the server said "too many" (429) or
"unavailable" (503). A Retry-After also pushes the host's next start time out, so every worker
waits, not only the one that got the answer.

Callers go through a per-host gate one at a time and the next start is set when the gate
actually opens, so N concurrent callers end up spaced by at least the interval even when the
event loop wakes one of them late. ``clock`` and ``sleep`` are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vksnd.crawler.config import PolitenessConfig
from vksnd.crawler.fetch.clock import Clock, Sleep


@dataclass(slots=True)
class _HostState:
    semaphore: asyncio.Semaphore
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0
    slow_until: float = 0.0
    crawl_delay: float = 0.0
    slowdowns: int = 0
    slowed_by: str = ""  # what pushed back ("503s"), while slow_until lies ahead


@dataclass(slots=True)
class HostLimiter:
    """All hosts' schedules; one per ``Fetcher`` (never module-level)."""

    config: PolitenessConfig
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    _hosts: dict[str, _HostState] = field(default_factory=dict)

    def _state(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = _HostState(asyncio.Semaphore(self.config.host_concurrency))
            self._hosts[host] = state
        return state

    def interval(self, host: str) -> float:
        """Seconds between request starts on ``host`` right now."""
        state = self._state(host)
        base = max(1.0 / self.config.rate, state.crawl_delay)
        if self.clock() < state.slow_until:
            return base * max(self.config.slowdown_factor, 1.0)
        return base

    def set_crawl_delay(self, host: str, delay: float | None) -> None:
        self._state(host).crawl_delay = min(max(delay or 0.0, 0.0), self.config.max_crawl_delay)

    def slow_down(self, host: str, retry_after: float | None, why: str = "") -> bool:
        """The server pushed back: wait ``retry_after`` (already capped) and go slower a while.
        True when this starts a slow period (the host was at full rate)."""
        state = self._state(host)
        now = self.clock()
        starting = now >= state.slow_until
        state.slowdowns += 1
        state.slow_until = max(state.slow_until, now + self.config.slowdown_seconds)
        if why:
            state.slowed_by = why if starting or not state.slowed_by else state.slowed_by
        if retry_after is not None and retry_after > 0:
            state.next_start = max(state.next_start, now + retry_after)
        return starting and self.config.slowdown_seconds > 0

    def slowed(self) -> dict[str, str]:
        """Hosts slowed down now, and by what."""
        now = self.clock()
        return {
            host: state.slowed_by or "pushback"
            for host, state in self._hosts.items()
            if now < state.slow_until
        }

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's concurrency slots, entered no earlier than its schedule allows.

        Callers pass a per-host gate one at a time, and the next start is set from the moment
        the gate actually opened: a caller that woke late pushes the next one back instead of
        leaving it a shorter gap.
        """
        state = self._state(host)
        async with state.semaphore:
            async with state.gate:
                while (delay := state.next_start - self.clock()) > 0:
                    await self.sleep(delay)  # re-checked: a Retry-After may have moved it
                state.next_start = self.clock() + self.interval(host)
            yield
