"""Politeness logic on a fake clock: the per-host schedule, the slow-down, Crawl-delay, the
robots.txt cache. The same promises at a real server: tests/integration/test_politeness_server.py.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from support.politeness import is_slowed
from vksnd.crawler.config import PolitenessConfig
from vksnd.crawler.fetch.errors import (
    PermanentFetchError,
    RetryableFetchError,
    RobotsDisallowed,
    RobotsUnavailable,
)
from vksnd.crawler.fetch.politeness import HostLimiter
from vksnd.crawler.fetch.robots import RobotsCache, RobotsFile, product_token

PAGE = b"<html><body>trang</body></html>"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --- the schedule, on a fake clock -----------------------------------------------------------


async def test_limiter_spaces_starts_by_the_interval() -> None:
    fake = FakeTime()
    limiter = HostLimiter(PolitenessConfig(rate=2.0), clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(4):
        async with limiter.slot("h"):
            starts.append(fake.now)
    assert [b - a for a, b in pairwise(starts)] == [0.5, 0.5, 0.5]
    async with limiter.slot("other"):  # hosts do not wait for each other
        assert fake.now == starts[-1]


async def test_slow_down_waits_retry_after_then_runs_slower_for_a_while() -> None:
    fake = FakeTime()
    config = PolitenessConfig(rate=2.0, slowdown_seconds=60.0, slowdown_factor=4.0)
    limiter = HostLimiter(config, clock=fake.clock, sleep=fake.sleep)
    async with limiter.slot("h"):
        pass
    limiter.slow_down("h", retry_after=10.0)
    assert is_slowed(limiter, "h") and limiter.interval("h") == 2.0
    before = fake.now
    async with limiter.slot("h"):
        assert fake.now - before == pytest.approx(10.0)
    fake.now += 60.0
    assert not is_slowed(limiter, "h") and limiter.interval("h") == 0.5


async def test_crawl_delay_raises_the_interval_and_is_capped() -> None:
    limiter = HostLimiter(PolitenessConfig(rate=2.0))
    limiter.set_crawl_delay("h", 3.0)
    assert limiter.interval("h") == 3.0
    limiter.set_crawl_delay("h", 86400.0)
    assert limiter.interval("h") == 300.0
    limiter.set_crawl_delay("h", None)
    assert limiter.interval("h") == 0.5


# --- robots.txt cache, with an injected loader ----------------------------------------------


async def test_robots_cache_loads_once_per_ttl_and_shares_concurrent_loads() -> None:
    fake = FakeTime()
    loads: list[str] = []

    async def load(url: str) -> RobotsFile:
        loads.append(url)
        await asyncio.sleep(0)
        return RobotsFile(200, "User-agent: *\nDisallow: /private\n")

    cache = RobotsCache(load, "vksnd/1.0", ttl=86400.0, error_ttl=60.0, clock=fake.clock)
    await asyncio.gather(*(cache.check(f"http://h:1/p{n}") for n in range(5)))
    with pytest.raises(RobotsDisallowed):
        await cache.check("http://h:1/private/x")
    assert loads == ["http://h:1/robots.txt"]
    fake.now += 86400.0
    await cache.check("http://h:1/p")
    assert len(loads) == 2


async def test_robots_4xx_allows_all_and_5xx_or_network_disallows_for_a_while() -> None:
    fake = FakeTime()
    answers: list[RobotsFile | Exception] = [
        RobotsFile(503, ""),
        RetryableFetchError("http://h/robots.txt", "network error"),
        RobotsFile(410, ""),
    ]

    async def load(url: str) -> RobotsFile:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = RobotsCache(load, "vksnd/1.0", ttl=86400.0, error_ttl=60.0, clock=fake.clock)
    with pytest.raises(RobotsUnavailable) as caught:
        await cache.check("http://h/page")
    assert caught.value.retry_after == 60.0 and caught.value.url == "http://h/page"
    fake.now += 30.0
    with pytest.raises(RobotsUnavailable):  # not asked again before error_ttl
        await cache.check("http://h/page")
    assert len(answers) == 2
    fake.now += 30.0
    with pytest.raises(RobotsUnavailable, match="network error"):
        await cache.check("http://h/page")
    fake.now += 60.0
    await cache.check("http://h/page")  # 410: no rules at all
    assert answers == []


async def test_robots_permanent_failure_counts_as_no_file() -> None:
    async def load(url: str) -> RobotsFile:
        raise PermanentFetchError(url, "redirect rejected (off scope)")

    cache = RobotsCache(load, "vksnd/1.0", ttl=10.0, error_ttl=1.0)
    rules = await cache.check("http://h/x")
    assert rules.parser is None and rules.unavailable_reason is None


def test_product_token_is_the_first_word_of_the_user_agent() -> None:
    assert product_token("vksnd/0.1.0 (+https://x; research crawler)") == "vksnd"
    assert product_token("") == "vksnd"
