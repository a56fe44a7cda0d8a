"""Questions the politeness tests ask of a ``HostLimiter`` that the crawler itself never asks."""

from __future__ import annotations

from vksnd.crawler.fetch.politeness import HostLimiter


def is_slowed(limiter: HostLimiter, host: str) -> bool:
    """The host runs slower than its rate: a 429/503 slow-down is on (these tests set no
    Crawl-delay, the other thing that lengthens the interval)."""
    return limiter.interval(host) > 1.0 / limiter.config.rate
