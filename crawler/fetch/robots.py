"""robots.txt, fetched once per host per ``robots_ttl`` (a day) and obeyed.

Outcomes of fetching ``/robots.txt`` (as Google documents for its crawler):
- 2xx: parsed with protego (wildcards, Allow precedence, Crawl-delay); our product token is
  the User-Agent's first word (``vksnd``), so a ``User-agent: vksnd`` group applies to us;
- 4xx, or a file we cannot use for a permanent reason (redirect off scope, too large, not
  decodable): there are no rules, everything is allowed;
- 5xx, timeout, network error: we do not know the rules, so nothing on that host is fetched for
  now. ``check`` raises ``RobotsUnavailable`` (retryable) with ``retry_after`` = when we will
  ask again (``robots_error_ttl``), and the caller records the URL for a later retry. A host
  that did not answer at all is reported as unreachable ("network error (…)"), a 5xx as
  "robots.txt unavailable (HTTP 503)".

The fetching itself is injected (``load``) so this module has no HTTP of its own: the
``Fetcher`` passes a function that goes through the same client, scope and rate limits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from vksnd.crawler.fetch.clock import Clock
from vksnd.crawler.fetch.errors import (
    PermanentFetchError,
    RetryableFetchError,
    RobotsDisallowed,
    RobotsUnavailable,
)
from vksnd.parsers.urls import host_key


@dataclass(frozen=True, slots=True)
class RobotsFile:
    status: int
    text: str


Loader = Callable[[str], Awaitable[RobotsFile]]


@dataclass(frozen=True, slots=True)
class RobotsRules:
    robots_url: str
    parser: Protego | None  # None: no rules (4xx or unusable file), everything allowed
    expires_at: float
    unavailable_reason: str | None = None  # set: 5xx/network, nothing allowed until expiry
    unavailable_status: int | None = None  # the 5xx; None: the host did not answer

    def crawl_delay(self, token: str) -> float | None:
        return self.parser.crawl_delay(token) if self.parser is not None else None


def product_token(user_agent: str) -> str:
    """``vksnd/0.1 (+...)`` -> ``vksnd``: the name robots.txt groups are matched against."""
    first = user_agent.strip().split()[0] if user_agent.strip() else "vksnd"
    return first.split("/")[0].lower() or "vksnd"


def robots_url_for(url: str) -> str | None:
    key = host_key(url)
    if key is None:
        return None
    return f"{urlsplit(url).scheme.lower()}://{key}/robots.txt"


@dataclass(slots=True)
class RobotsCache:
    load: Loader
    user_agent: str
    ttl: float
    error_ttl: float
    clock: Clock = time.monotonic
    _rules: dict[str, RobotsRules] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return product_token(self.user_agent)

    async def rules_for(self, url: str) -> RobotsRules:
        robots_url = robots_url_for(url)
        if robots_url is None:
            raise PermanentFetchError(url, "no host for robots.txt")
        lock = self._locks.setdefault(robots_url, asyncio.Lock())
        async with lock:  # concurrent first requests to a host share one robots.txt fetch
            cached = self._rules.get(robots_url)
            if cached is not None and self.clock() < cached.expires_at:
                return cached
            rules = await self._fetch(robots_url)
            self._rules[robots_url] = rules
            return rules

    async def _fetch(self, robots_url: str) -> RobotsRules:
        now = self.clock()
        try:
            got = await self.load(robots_url)
        except RetryableFetchError as error:
            return RobotsRules(robots_url, None, now + self.error_ttl, error.reason, error.status)
        except PermanentFetchError as error:
            if error.status is not None and error.status >= 500:
                return RobotsRules(
                    robots_url, None, now + self.error_ttl, error.reason, error.status
                )
            return RobotsRules(robots_url, None, now + self.ttl)
        if got.status >= 500:
            return RobotsRules(
                robots_url, None, now + self.error_ttl, f"HTTP {got.status}", got.status
            )
        if not 200 <= got.status < 300:
            return RobotsRules(robots_url, None, now + self.ttl)
        return RobotsRules(robots_url, Protego.parse(got.text.lstrip("\ufeff")), now + self.ttl)

    async def check(self, url: str) -> RobotsRules:
        """Raise unless ``url`` may be fetched now; returns the host's rules (for Crawl-delay)."""
        rules = await self.rules_for(url)
        if rules.unavailable_reason is not None:
            wait = max(rules.expires_at - self.clock(), 0.0)
            raise RobotsUnavailable(
                url, rules.unavailable_reason, status=rules.unavailable_status, retry_after=wait
            )
        if rules.parser is not None and not rules.parser.can_fetch(url, self.token):
            raise RobotsDisallowed(url)
        return rules
