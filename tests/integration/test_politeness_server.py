"""Politeness where the portal sees it: robots.txt, per-host rate and concurrency, Retry-After and
the slow-down, checked at a real loopback server from its own request timestamps (the logic alone,
on a fake clock: tests/unit/test_politeness.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise

import pytest

from support.loopback import Handler, Loopback, send
from support.politeness import is_slowed
from vksnd.crawler.config import PolitenessConfig, RetryConfig, Settings
from vksnd.crawler.fetch.errors import (
    HttpStatusError,
    RetryableFetchError,
    RobotsDisallowed,
    RobotsUnavailable,
)
from vksnd.crawler.fetch.fetcher import Fetcher

PAGE = b"<html><body>trang</body></html>"


@pytest.fixture
def server() -> Iterator[Loopback]:
    app = Loopback().start()
    app.routes["/robots.txt"] = lambda h: send(h, 404, b"", content_type="text/plain")
    for name in "abcdefghij":
        app.routes[f"/{name}"] = lambda h: send(h, 200, PAGE)
    yield app
    app.stop()


def polite(app: Loopback, **politeness: object) -> Settings:
    return Settings(
        base_url=app.base_url,
        politeness=replace(PolitenessConfig(), **politeness),  # type: ignore[arg-type]
        retry=RetryConfig(attempts=3, initial=0.01, max_wait=0.05, jitter=0.0),
    )


async def test_robots_disallow_is_respected_and_robots_fetched_once(server: Loopback) -> None:
    server.routes["/robots.txt"] = lambda h: send(
        h,
        200,
        b"User-agent: *\nDisallow: /\n\nUser-agent: vksnd\nDisallow: /private\nAllow: /\n",
        content_type="text/plain",
    )
    server.routes["/private/x"] = lambda h: send(h, 200, PAGE)
    async with Fetcher(polite(server, rate=100.0)) as fetcher:
        await asyncio.gather(*(fetcher.fetch(server.url(f"/{n}")) for n in "abcd"))
        with pytest.raises(RobotsDisallowed) as caught:
            await fetcher.fetch(server.url("/private/x"))
    assert caught.value.url == server.url("/private/x")
    assert server.hits("/private/x") == []
    assert len(server.hits("/robots.txt")) == 1
    assert fetcher.stats.robots_fetches == 1


async def test_robots_5xx_keeps_the_host_off_limits(server: Loopback) -> None:
    server.routes["/robots.txt"] = lambda h: send(h, 500, b"oops", content_type="text/plain")
    async with Fetcher(polite(server, rate=100.0)) as fetcher:
        with pytest.raises(RobotsUnavailable) as caught:
            await fetcher.fetch(server.url("/a"))
    assert isinstance(caught.value, RetryableFetchError)
    assert caught.value.attempts == 1  # not retried in-process: the daemon comes back later
    assert server.hits("/a") == []


async def test_robots_can_be_ignored_for_benchmarks(server: Loopback) -> None:
    server.routes["/robots.txt"] = lambda h: send(h, 200, b"User-agent: *\nDisallow: /\n")
    async with Fetcher(polite(server, rate=100.0, obey_robots=False)) as fetcher:
        await fetcher.fetch(server.url("/a"))
    assert server.paths() == ["/a"]


async def test_crawl_delay_is_honoured(server: Loopback) -> None:
    server.routes["/robots.txt"] = lambda h: send(
        h, 200, b"User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain"
    )
    async with Fetcher(polite(server, rate=100.0)) as fetcher:
        await asyncio.gather(*(fetcher.fetch(server.url(f"/{n}")) for n in "abcd"))
    times = sorted(s.at for s in server.seen if s.path != "/robots.txt")
    assert times[-1] - times[0] >= 3 * 0.3 - 0.03


async def test_rate_limit_holds_at_the_server(server: Loopback) -> None:
    n, rate = 8, 5.0
    async with Fetcher(polite(server, rate=rate, host_concurrency=4)) as fetcher:
        await fetcher.fetch(server.url("/a"))  # robots.txt and the first page
        server.seen.clear()
        await asyncio.gather(*(fetcher.fetch(server.url(f"/{c}")) for c in "bcdefghi"))
    times = sorted(s.at for s in server.seen)
    assert len(times) == n
    assert times[-1] - times[0] >= (n - 1) / rate - 0.03
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 0.75 / rate, gaps  # the wire adds jitter after our gate


async def test_per_host_concurrency_is_capped(server: Loopback) -> None:
    def slow(handler: Handler) -> None:
        server.released.wait(0.15)  # simulated latency, so requests overlap
        send(handler, 200, PAGE)

    for name in "abcdefgh":
        server.routes[f"/{name}"] = slow
    async with Fetcher(polite(server, rate=1000.0, host_concurrency=2)) as fetcher:
        await asyncio.gather(*(fetcher.fetch(server.url(f"/{c}")) for c in "abcdefgh"))
    assert server.max_in_flight == 2


async def test_retry_after_is_waited_and_the_host_slowed(server: Loopback) -> None:
    answers = iter([429, 200, 200])

    def limited(handler: Handler) -> None:
        status = next(answers)
        headers = {"Retry-After": "1"} if status == 429 else {}
        send(handler, status, PAGE, headers)

    server.routes["/a"] = limited
    settings = polite(server, rate=100.0, slowdown_seconds=30.0, slowdown_factor=10.0)
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(server.url("/a"))
        host = server.host_key
        assert is_slowed(fetcher.limiter, host)
        assert fetcher.limiter.interval(host) == pytest.approx(0.1)
        await fetcher.fetch(server.url("/a"))
    assert result.attempts == 2 and result.status == 200
    hits = [s.at for s in server.hits("/a")]
    assert hits[1] - hits[0] >= 1.0 - 0.02  # the server said one second
    assert hits[2] - hits[1] >= 0.1 - 0.02  # slowed: 10 req/s instead of 100
    assert fetcher.stats.slowdowns == 1 and fetcher.stats.retries == 1


async def test_retry_after_is_capped(server: Loopback) -> None:
    answers = iter([503, 200])
    server.routes["/a"] = lambda h: send(h, next(answers), PAGE, {"Retry-After": "3600"})
    settings = polite(server, rate=100.0)
    settings = replace(settings, retry=replace(settings.retry, retry_after_cap=0.2))
    started = time.monotonic()
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(server.url("/a"))
    assert result.attempts == 2
    assert time.monotonic() - started < 3


async def test_a_500_burst_recovers_within_the_retry_budget(server: Loopback) -> None:
    answers = iter([500, 502, 500, 200])
    server.routes["/a"] = lambda h: send(h, next(answers), PAGE)
    settings = polite(server, rate=100.0)
    settings = replace(settings, retry=replace(settings.retry, attempts=4))
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(server.url("/a"))
    assert result.status == 200 and result.attempts == 4
    assert fetcher.stats.by_status_class["5xx"] == 3


async def test_a_longer_500_burst_exhausts_the_budget_with_a_typed_error(
    server: Loopback,
) -> None:
    server.routes["/a"] = lambda h: send(h, 500, b"down")
    async with Fetcher(polite(server, rate=100.0)) as fetcher:
        with pytest.raises(RetryableFetchError) as caught:
            await fetcher.fetch(server.url("/a"))
        with pytest.raises(HttpStatusError):
            await fetcher.fetch(server.url("/missing"))
    assert caught.value.status == 500 and caught.value.attempts == 3
    assert len(server.hits("/a")) == 3
    assert len(server.hits("/missing")) == 1
