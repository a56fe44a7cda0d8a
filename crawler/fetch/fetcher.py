"""Fetching one URL politely: scope, robots.txt, rate limits, redirects, size cap, retries.

``Fetcher`` owns the run's ``httpx.AsyncClient``s (built from ``Settings``, closed on exit):
one single-connection client per global slot, same settings, so the pool never scans more than
one connection per request. ``fetch`` runs, for every attempt and every redirect hop:

    scope check -> robots.txt -> host slot (rate + concurrency) -> GET (conditional headers)
    -> status: 3xx follow inside scope | 304 not modified | 429/503 slow the host down | 4xx/5xx
    -> content type (non-HTML refused before the body is read) -> body under the size cap

Redirects are followed by hand (the client never follows them) so each hop is scope-checked,
robots-checked and rate-limited like any request; a hop robots.txt forbids is a
``RedirectRejected``. A response without a Content-Type is treated as HTML (old IIS pages).
httpx errors are translated into ``crawler.fetch.errors`` here and nowhere else. Retries wrap the
whole attempt (``vksnd.crawler.fetch.retry``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from urllib.parse import urldefrag, urljoin

import httpx

from vksnd.crawler.config import Settings
from vksnd.crawler.fetch.capped_body import read_capped
from vksnd.crawler.fetch.clock import Clock, Sleep
from vksnd.crawler.fetch.errors import (
    FetchError,
    HttpStatusError,
    NotHtml,
    OutOfScope,
    PermanentFetchError,
    RedirectRejected,
    RetryableFetchError,
    RobotsDisallowed,
    TooLarge,
)
from vksnd.crawler.fetch.politeness import HostLimiter
from vksnd.crawler.fetch.retry import call_with_retries, parse_retry_after
from vksnd.crawler.fetch.robots import RobotsCache, RobotsFile
from vksnd.parsers.urls import host_key, in_scope

log = logging.getLogger("vksnd.fetch")

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
SLOWDOWN_STATUSES = frozenset({429, 503})


def header_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of header ``name``, whatever the case of the names in ``headers``."""
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    headers: tuple[tuple[str, str], ...]  # lowercased names, in arrival order
    body: bytes  # decoded (decompressed); empty when not_modified
    content_type: str | None  # media type only, lowercased ("text/html")
    fetched_at: datetime  # UTC
    elapsed_ms: float  # the successful attempt, all hops
    attempts: int
    not_modified: bool

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    @property
    def etag(self) -> str | None:
        return self.header("etag")

    @property
    def last_modified(self) -> str | None:
        return self.header("last-modified")


@dataclass(slots=True)
class FetchStats:
    """Counters since the Fetcher was opened (for logs and metrics)."""

    requests: int = 0  # HTTP requests sent, robots.txt and redirect hops included
    by_status_class: dict[str, int] = field(default_factory=dict)  # "2xx" -> n
    not_modified: int = 0
    retries: int = 0
    network_errors: int = 0
    timeouts: int = 0
    bytes_received: int = 0  # decoded body bytes kept
    robots_fetches: int = 0
    slowdowns: int = 0

    def count_status(self, status: int) -> None:
        key = f"{status // 100}xx"
        self.by_status_class[key] = self.by_status_class.get(key, 0) + 1


def media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None


def build_client(
    settings: Settings, *, connections: int | None = None, verify: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    fetch = settings.fetch
    size = fetch.global_concurrency if connections is None else connections
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=fetch.connect_timeout,
            read=fetch.read_timeout,
            write=fetch.read_timeout,
            pool=fetch.pool_timeout,
        ),
        limits=httpx.Limits(
            max_connections=size,
            max_keepalive_connections=size,
            keepalive_expiry=fetch.keepalive_expiry,
        ),
        headers={
            "User-Agent": fetch.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "Accept-Language": "vi,en;q=0.5",
        },
        follow_redirects=False,
        verify=True if verify is None else verify,
        # Proxies and .netrc from the environment are not ours to pick up silently.
        trust_env=False,
    )


class Fetcher:
    """``async with Fetcher(settings) as fetcher: await fetcher.fetch(url)``."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.scope_hosts = settings.scope_hosts
        self.stats = FetchStats()
        self._sleep = sleep
        self._clients: list[httpx.AsyncClient] = []
        self._free: list[httpx.AsyncClient] = []  # clients no request holds, last used on top
        self._global = asyncio.Semaphore(settings.fetch.global_concurrency)
        self.limiter = HostLimiter(settings.politeness, clock=clock, sleep=sleep)
        self.robots = RobotsCache(
            load=self._load_robots,
            user_agent=settings.fetch.user_agent,
            ttl=settings.politeness.robots_ttl,
            error_ttl=settings.politeness.robots_error_ttl,
            clock=clock,
        )

    def slowed_hosts(self) -> list[str]:
        """``503s from HOST`` for each host running slower now after pushing back."""
        return [f"{why} from {host}" for host, why in sorted(self.limiter.slowed().items())]

    async def __aenter__(self) -> Self:
        # One single-connection client per global slot, not one client with a pool of them:
        # httpcore's pool re-checks every connection on each request and each release (a
        # socket poll and a getpeername apiece, httpx#3215), so its CPU per request grows
        # with the pool; at 32 connections that cost more than parsing. Clients share one
        # SSL context (building one loads the CA bundle).
        context = httpx.create_ssl_context(trust_env=False)
        count = self.settings.fetch.global_concurrency
        self._clients = [
            build_client(self.settings, connections=1, verify=context) for _ in range(count)
        ]
        self._free = list(self._clients)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        clients, self._clients, self._free = self._clients, [], []
        for client in clients:
            await client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept_not_html: bool = False,
    ) -> FetchResult:
        """Fetch ``url`` (canonical, in scope). Raises a ``FetchError`` subclass, never httpx's."""
        if not in_scope(url, self.scope_hosts):
            raise OutOfScope(url)
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified

        async def attempt() -> FetchResult:
            return await self._fetch_once(
                url,
                conditional,
                accept_not_html=accept_not_html,
                limit=self.settings.fetch.max_body_bytes,
                check_robots=self.settings.politeness.obey_robots,
            )

        # The first attempt runs bare: building tenacity's retry loop cost more CPU than the
        # rest of the request. Only a retryable failure enters the loop, which replays that
        # failure as its first attempt, so waits, counts and the time budget come out the same.
        started = time.monotonic()
        try:
            return await attempt()
        except RetryableFetchError as error:
            first: RetryableFetchError | None = error
        except FetchError as error:
            error.attempts = 1
            raise

        async def replay() -> FetchResult:
            nonlocal first
            if first is not None:
                error, first = first, None
                raise error
            return await attempt()

        def on_retry(error: RetryableFetchError, wait: float) -> None:
            self.stats.retries += 1

        spent = time.monotonic() - started
        budget = replace(
            self.settings.retry, max_delay=max(self.settings.retry.max_delay - spent, 0.0)
        )
        result, attempts = await call_with_retries(
            replay, budget, sleep=self._sleep, on_retry=on_retry
        )
        return replace(result, attempts=attempts)

    async def _fetch_once(
        self,
        url: str,
        conditional: dict[str, str],
        *,
        accept_not_html: bool,
        limit: int,
        check_robots: bool,
    ) -> FetchResult:
        started = time.perf_counter()
        current = url
        seen = {urldefrag(url).url}
        for _hop in range(self.settings.fetch.max_redirects + 1):
            if check_robots:
                try:
                    rules = await self.robots.check(current)
                except RobotsDisallowed:
                    if current == url:
                        raise
                    raise RedirectRejected(url, "robots.txt disallows", target=current) from None
                self.limiter.set_crawl_delay(_host(current), rules.crawl_delay(self.robots.token))
            outcome = await self._request(current, url, conditional, accept_not_html, limit)
            if isinstance(outcome, FetchResult):
                elapsed = (time.perf_counter() - started) * 1000.0
                return replace(outcome, elapsed_ms=elapsed)
            target = outcome
            if not in_scope(target, self.scope_hosts):
                raise RedirectRejected(url, "off scope", target=target)
            if target in seen:
                raise RedirectRejected(url, "loop", target=target)
            seen.add(target)
            current = target
        raise RedirectRejected(
            url, f"more than {self.settings.fetch.max_redirects} redirects", target=current
        )

    async def _request(
        self,
        current: str,
        asked: str,
        conditional: dict[str, str],
        accept_not_html: bool,
        limit: int,
    ) -> FetchResult | str:
        """One HTTP exchange: a result, or the absolute redirect target to follow."""
        host = _host(current)
        async with self.limiter.slot(host), self._global:
            if not self._free:
                raise RuntimeError("Fetcher used outside 'async with'")
            # Holding a global slot guarantees a free client: there is one per slot.
            client = self._free.pop()
            try:
                async with asyncio.timeout(self.settings.fetch.total_timeout):
                    return await self._exchange(
                        client, current, asked, conditional, accept_not_html, limit
                    )
            except TimeoutError as error:
                self.stats.timeouts += 1
                raise RetryableFetchError(
                    asked, f"timeout (over {self.settings.fetch.total_timeout:g} s in total)"
                ) from error
            except httpx.TimeoutException as error:
                self.stats.timeouts += 1
                raise RetryableFetchError(asked, f"timeout ({type(error).__name__})") from error
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as error:
                raise PermanentFetchError(asked, f"bad request ({error})") from error
            except (httpx.TransportError, httpx.DecodingError) as error:
                self.stats.network_errors += 1
                reason = str(error) or type(error).__name__
                raise RetryableFetchError(asked, f"network error ({reason})") from error
            except httpx.InvalidURL as error:
                raise PermanentFetchError(asked, f"invalid URL ({error})") from error
            finally:
                self._free.append(client)

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        current: str,
        asked: str,
        conditional: dict[str, str],
        accept_not_html: bool,
        limit: int,
    ) -> FetchResult | str:
        request = client.build_request("GET", current, headers=conditional)
        self.stats.requests += 1
        response = await client.send(request, stream=True)
        try:
            status = response.status_code
            self.stats.count_status(status)
            if status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise RedirectRejected(asked, f"HTTP {status} without Location", status=status)
                target: str = urldefrag(urljoin(current, location.strip())).url
                return target
            self._raise_for_status(response, asked, current)
            content_type = response.headers.get("content-type")
            kind = media_type(content_type)
            headers = tuple(response.headers.multi_items())
            if status == 304:
                self.stats.not_modified += 1
                return self._result(asked, current, response, headers, b"", kind, True)
            if not accept_not_html and kind is not None and kind not in HTML_TYPES:
                raise NotHtml(asked, content_type, status=status)
            declared = response.headers.get("content-length", "").strip()
            if declared.isdigit() and int(declared) > limit:
                raise TooLarge(asked, limit, status=status)
            body = await read_capped(response, asked, limit)
            self.stats.bytes_received += len(body)
            return self._result(asked, current, response, headers, body, kind, False)
        finally:
            await response.aclose()

    def _raise_for_status(self, response: httpx.Response, asked: str, current: str) -> None:
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            return
        if status in SLOWDOWN_STATUSES:
            hint = parse_retry_after(response.headers.get("retry-after"))
            capped = None if hint is None else min(hint, self.settings.retry.retry_after_cap)
            host = _host(current)
            if self.limiter.slow_down(host, capped, f"{status}s"):
                politeness = self.settings.politeness
                log.warning(
                    f"slowed: {status}s from {host}: {politeness.rate:g} requests/s divided by"
                    f" {politeness.slowdown_factor:g} for {politeness.slowdown_seconds:g} s",
                    extra={"event": "slowed", "host": host, "status": status},
                )
            self.stats.slowdowns += 1
            raise RetryableFetchError(asked, f"HTTP {status}", status=status, retry_after=capped)
        if status == 408 or status >= 500:
            raise RetryableFetchError(asked, f"HTTP {status}", status=status)
        if 400 <= status < 500:
            raise HttpStatusError(asked, status)
        raise PermanentFetchError(asked, f"unexpected HTTP {status}", status=status)

    @staticmethod
    def _result(
        asked: str,
        final: str,
        response: httpx.Response,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        kind: str | None,
        not_modified: bool,
    ) -> FetchResult:
        return FetchResult(
            url=asked,
            final_url=final,
            status=response.status_code,
            headers=headers,
            body=body,
            content_type=kind,
            fetched_at=datetime.now(UTC),
            elapsed_ms=0.0,
            attempts=1,
            not_modified=not_modified,
        )

    async def _load_robots(self, robots_url: str) -> RobotsFile:
        """robots.txt through the same client, scope and rate limits; no retries (see robots)."""
        self.stats.robots_fetches += 1
        try:
            result = await self._fetch_once(
                robots_url,
                {},
                accept_not_html=True,
                limit=self.settings.fetch.robots_max_bytes,
                check_robots=False,
            )
        except HttpStatusError as error:  # other errors are judged by RobotsCache
            return RobotsFile(error.status or 400, "")
        return RobotsFile(result.status, result.body.decode("utf-8", errors="replace"))


def _host(url: str) -> str:
    return host_key(url) or url
