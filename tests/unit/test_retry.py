"""The retry policy with an injected sleep: what is retried, how long it waits, when it stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from vksnd.crawler.config import RetryConfig
from vksnd.crawler.fetch.errors import (
    HttpStatusError,
    RetryableFetchError,
    RobotsUnavailable,
    TooLarge,
)
from vksnd.crawler.fetch.retry import call_with_retries, parse_retry_after

URL = "https://vksndtc.gov.vn/a"


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    async def operation() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return calls, operation


async def test_retryable_errors_are_retried_with_growing_backoff() -> None:
    rec = Recorder()
    calls, op = failing([RetryableFetchError(URL, "timeout")] * 3)
    config = RetryConfig(attempts=4, initial=1.0, max_wait=30.0, jitter=0.0)
    result, attempts = await call_with_retries(op, config, sleep=rec.sleep)  # type: ignore[arg-type]
    assert (result, attempts, len(calls)) == ("ok", 4, 4)
    assert rec.waits == [1.0, 2.0, 4.0]


async def test_backoff_is_capped_and_jittered() -> None:
    rec = Recorder()
    _, op = failing([RetryableFetchError(URL, "timeout")] * 6)
    config = RetryConfig(attempts=7, initial=1.0, max_wait=5.0, jitter=0.5)
    await call_with_retries(op, config, sleep=rec.sleep)  # type: ignore[arg-type]
    assert all(w <= 5.0 for w in rec.waits)
    assert rec.waits[0] >= 1.0 and rec.waits[-1] == 5.0


async def test_attempts_are_bounded_and_the_last_error_comes_back_typed() -> None:
    rec = Recorder()
    calls, op = failing([RetryableFetchError(URL, f"HTTP 50{n}", status=500) for n in range(9)])
    with pytest.raises(RetryableFetchError) as caught:
        await call_with_retries(op, RetryConfig(attempts=4, jitter=0.0), sleep=rec.sleep)  # type: ignore[arg-type]
    assert len(calls) == 4 and caught.value.attempts == 4
    assert caught.value.reason == "HTTP 503" and caught.value.url == URL
    assert len(rec.waits) == 3


@pytest.mark.parametrize(
    "error",
    [HttpStatusError(URL, 404), TooLarge(URL, 10), RobotsUnavailable(URL, "HTTP 503")],
)
async def test_permanent_errors_and_robots_unavailable_are_not_retried(error: Exception) -> None:
    rec = Recorder()
    calls, op = failing([error])
    with pytest.raises(type(error)) as caught:
        await call_with_retries(op, RetryConfig(), sleep=rec.sleep)  # type: ignore[arg-type]
    assert len(calls) == 1 and rec.waits == []
    assert caught.value.attempts == 1  # type: ignore[attr-defined]


async def test_unexpected_exceptions_are_not_retried() -> None:
    rec = Recorder()
    calls, op = failing([KeyError("bug")])
    with pytest.raises(KeyError):
        await call_with_retries(op, RetryConfig(), sleep=rec.sleep)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_retry_after_raises_the_wait_up_to_the_cap() -> None:
    rec = Recorder()
    _, op = failing(
        [
            RetryableFetchError(URL, "HTTP 429", status=429, retry_after=7.0),
            RetryableFetchError(URL, "HTTP 503", status=503, retry_after=9999.0),
            RetryableFetchError(URL, "HTTP 503", status=503, retry_after=0.0),
        ]
    )
    config = RetryConfig(attempts=4, initial=1.0, jitter=0.0, retry_after_cap=60.0)
    await call_with_retries(op, config, sleep=rec.sleep)  # type: ignore[arg-type]
    assert rec.waits == [7.0, 60.0, 4.0]  # the hint, the cap, the backoff when longer


async def test_on_retry_sees_each_error_and_wait() -> None:
    seen: list[tuple[str, float]] = []
    rec = Recorder()
    _, op = failing([RetryableFetchError(URL, "reset")])
    await call_with_retries(
        op,  # type: ignore[arg-type]
        RetryConfig(initial=2.0, jitter=0.0),
        sleep=rec.sleep,
        on_retry=lambda e, w: seen.append((e.reason, w)),
    )
    assert seen == [("reset", 2.0)]


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now)
        == 90.0
    )
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0.0
    for junk in (None, "", "soon", "-5", "1.5", "9" * 40):
        assert parse_retry_after(junk, now=now) is None
