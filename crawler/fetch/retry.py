"""The retry policy for one fetch, from tenacity primitives.

Only ``RetryableFetchError`` is retried (network errors, timeouts, 408/429/5xx, truncated
bodies); a permanent error stops at once, and so does ``RobotsUnavailable`` (its wait is minutes:
the caller records it for the daemon's retry pass instead). The wait is exponential backoff with
jitter, raised to the server's ``Retry-After`` when it sent one, capped so a hostile or broken
header cannot park a worker for hours. Attempts are bounded by count and by elapsed time; a URL
that still fails goes back to the caller, which records it as failed with a next retry time.

``sleep`` is injectable so tests never really wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from vksnd.crawler.config import RetryConfig
from vksnd.crawler.fetch.clock import Sleep
from vksnd.crawler.fetch.errors import FetchError, RetryableFetchError, RobotsUnavailable

T = TypeVar("T")
OnRetry = Callable[[RetryableFetchError, float], None]

_MAX_RETRY_AFTER_SECONDS = 10 * 365 * 86400.0  # beyond this a header is junk, not a hint


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        seconds = float(text)
        return seconds if seconds <= _MAX_RETRY_AFTER_SECONDS else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), _MAX_RETRY_AFTER_SECONDS)


class wait_retry_after(wait_base):
    """``fallback``'s backoff, or the server's Retry-After (capped) when that is longer."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(self.fallback(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(error, RetryableFetchError) and error.retry_after is not None:
            return max(backoff, min(error.retry_after, self.cap))
        return backoff


def build_retrying(
    config: RetryConfig, *, sleep: Sleep = asyncio.sleep, on_retry: OnRetry | None = None
) -> AsyncRetrying:
    def before_sleep(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if on_retry is not None and isinstance(error, RetryableFetchError):
            wait = retry_state.upcoming_sleep
            on_retry(error, wait)

    return AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(config.attempts) | stop_after_delay(config.max_delay),
        wait=wait_retry_after(
            wait_exponential_jitter(
                multiplier=config.initial, max=config.max_wait, jitter=config.jitter
            ),
            config.retry_after_cap,
        ),
        retry=retry_if_exception_type(RetryableFetchError)
        & retry_if_not_exception_type(RobotsUnavailable),
        before_sleep=before_sleep,
        reraise=True,
    )


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    config: RetryConfig,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: OnRetry | None = None,
) -> tuple[T, int]:
    """Run ``operation`` under the policy; returns its result and the number of attempts.

    The last error is re-raised as is, with ``.attempts`` set.
    """
    attempts = 0
    results: list[T] = []
    try:
        async for attempt in build_retrying(config, sleep=sleep, on_retry=on_retry):
            with attempt:
                attempts = attempt.retry_state.attempt_number
                results.append(await operation())
    except FetchError as error:
        error.attempts = attempts
        raise
    return results[0], attempts
