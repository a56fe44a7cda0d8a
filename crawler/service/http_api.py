"""The daemon's read-only HTTP side: ``/healthz``, ``/metrics`` and the article feed.

    GET /healthz                          200 ok/starting, 503 failing/stale/database error
    GET /metrics                          Prometheus text format
    GET /articles?after_seq=N&limit=M     JSON page of article versions in seq order + cursor
                  [&site=NAME]            ... of one site only (``sites = [...]``)
    GET /articles/{seq}.txt               one version's text (text/plain; UTF-8)

aiohttp serves it from the daemon's own event loop, so it needs no thread and sees the live
``Metrics``/``Health`` objects. ``/healthz`` and ``/metrics`` share one database snapshot for up
to ``http_stats_ttl`` seconds (a setting), taken again at once when a pass has finished: the
storage totals scan the page archive (~0.1 s warm, seconds cold on a 300 MB database), and a
healthcheck every few seconds plus a Prometheus scrape must not turn into a constant table scan
beside the crawl.
Concurrent requests wait for the one read in progress instead of starting their own.

Every database read goes through a ``StoreReader`` (``vksnd.crawler.crawl.ports``) opened per
request on a worker thread: it reads its own snapshot while the daemon writes, and a slow read
never blocks the crawl. A semaphore caps concurrent reads so a busy client cannot crowd the writer.

The feed lists every stored version (superseded ones too) by ``seq``, which only grows, so a
consumer that pages with ``after_seq`` = the last ``next_after_seq`` sees each version exactly
once, edits included (an edit is a new version with a new ``seq`` and ``supersedes`` set).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from vksnd.crawler.config import DEFAULT_HTTP_MAX_READS, DEFAULT_HTTP_STATS_TTL
from vksnd.crawler.crawl.ports import ReaderFactory
from vksnd.crawler.service.health import Health
from vksnd.crawler.service.metrics import Metrics
from vksnd.storage.errors import StorageError
from vksnd.storage.records import ExportedArticle, FeedPage, StorageStats
from vksnd.storage.sites import SITE_NAME_RE

log = logging.getLogger("vksnd.http")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_SEQ = 2**62  # beyond any seq SQLite can hold; larger input is an error, not an overflow
SHUTDOWN_TIMEOUT = 5.0  # seconds for requests in flight at stop
FAILURE_REASONS_SHOWN = 50
FEED_PARAMS = frozenset({"after_seq", "limit", "site"})
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_BIND = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>[0-9]{1,5})$")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Stats = tuple[StorageStats | None, str | None]


class BadParameter(ValueError):
    """A query or path parameter the API refuses; becomes a 400 with this message."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"parameter {name}={value!r}: {reason}")


class HttpBindError(OSError):
    """The API could not listen on the address asked for (in use, not local, no permission)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot serve HTTP on {host}:{port}: {reason}")


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT`` (loopback when no host is given)."""
    value = text.strip()
    if value.isdigit():
        value = ":" + value
    match = _BIND.match(value)
    if match is None:
        raise ValueError(f"not HOST:PORT: {text!r} (e.g. 127.0.0.1:{DEFAULT_PORT})")
    port = int(match["port"])
    if port > 65535:
        raise ValueError(f"port out of range in {text!r}")
    host = match["v6"] or match["host"] or DEFAULT_HOST
    return host, port


def parse_int(name: str, raw: str, *, low: int, high: int) -> int:
    """Plain decimal digits only (no sign, spaces, exponent), within [low, high]."""
    if not _DIGITS.match(raw):
        raise BadParameter(name, raw, "expected a non-negative integer")
    value = int(raw)
    if value < low or value > high:
        raise BadParameter(name, raw, f"expected {low} <= {name} <= {high}")
    return value


def feed_query(query: Any) -> tuple[int, int]:
    """``(after_seq, limit)`` from the query string; limit above MAX_LIMIT is capped."""
    for name in query:
        if name not in FEED_PARAMS:
            raise BadParameter(name, query[name], "unknown parameter (after_seq, limit, site)")
        if len(query.getall(name)) > 1:
            raise BadParameter(name, ",".join(query.getall(name)), "given more than once")
    after_seq = parse_int("after_seq", query.get("after_seq", "0"), low=0, high=MAX_SEQ)
    limit = parse_int("limit", query.get("limit", str(DEFAULT_LIMIT)), low=1, high=MAX_SEQ)
    return after_seq, min(limit, MAX_LIMIT)


def feed_site(query: Any) -> str | None:
    """The ``site`` the feed is filtered to, if any (checked by ``feed_query`` for repeats)."""
    raw = query.get("site")
    if raw is None:
        return None
    if not SITE_NAME_RE.match(raw):
        raise BadParameter("site", raw, "expected a site name (lowercase letters, digits, - _)")
    return str(raw)


# --- reads (worker threads, one reader each) -------------------------------------------------


def read_stats(open_reader: ReaderFactory) -> Stats:
    """The snapshot /healthz and /metrics share; (None, why) when the database cannot be read."""
    try:
        with open_reader() as reader:
            return reader.stats(last_runs=1, top_reasons=FAILURE_REASONS_SHOWN), None
    except StorageError as exc:
        return None, str(exc)


def read_feed(
    open_reader: ReaderFactory, after_seq: int, limit: int, site: str | None = None
) -> FeedPage:
    with open_reader() as reader:
        return reader.feed(after_seq, limit, site=site)


def read_one(open_reader: ReaderFactory, seq: int) -> ExportedArticle | None:
    with open_reader() as reader:
        return reader.article(seq)


# --- the server -----------------------------------------------------------------------------


def _error(status: int, message: str, **fields: Any) -> web.Response:
    return web.json_response({"error": message, **fields}, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error a client sees is JSON with a message, routing errors (404/405) included."""
    try:
        return await handler(request)
    except BadParameter as exc:
        return _error(400, str(exc), parameter=exc.name)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason, path=request.path)
    except StorageError as exc:
        log.warning(
            "http read failed",
            extra={"event": "http_error", "error": str(exc), "path": request.path},
        )
        return _error(503, f"database unavailable: {exc}")


class StatsCache:
    """The last database snapshot, reused for ``ttl`` seconds while ``generation()`` (the
    number of finished passes) stays the same; one read at a time."""

    def __init__(self, ttl: float, generation: Callable[[], int]) -> None:
        self.ttl = ttl
        self._generation = generation
        self._lock = asyncio.Lock()
        self._value: Stats | None = None
        self._taken_at = 0.0
        self._taken_in = -1

    async def get(self, read: Callable[[], Awaitable[Stats]]) -> Stats:
        async with self._lock:
            generation = self._generation()
            fresh = time.monotonic() - self._taken_at < self.ttl
            if self._value is not None and fresh and generation == self._taken_in:
                return self._value
            self._value = await read()
            self._taken_at, self._taken_in = time.monotonic(), generation
            return self._value


class HttpApi:
    """Start with ``await api.start(host, port)`` inside the daemon's loop; ``await api.stop()``."""

    def __init__(
        self,
        open_reader: ReaderFactory,
        metrics: Metrics,
        health: Health,
        *,
        stats_ttl: float = DEFAULT_HTTP_STATS_TTL,
        max_reads: int = DEFAULT_HTTP_MAX_READS,
    ) -> None:
        self._open_reader = open_reader
        self._metrics = metrics
        self._health = health
        self._reads = asyncio.Semaphore(max_reads)
        self._snapshot = StatsCache(stats_ttl, lambda: health.passes)
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/articles", self._feed)
        app.router.add_get("/articles/{seq}.txt", self._text)
        return app

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: a free one); returns the bound address."""
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpBindError(host, port, exc.strerror or str(exc)) from exc
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        log.info(
            f"http api on {self.address[0]}:{self.address[1]}",
            extra={"event": "http_start", "host": self.address[0], "port": self.address[1]},
        )
        return self.address

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("http api stopped", extra={"event": "http_stop"})

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._reads:
            return await asyncio.to_thread(fn, *args)

    async def _stats(self) -> Stats:
        return await self._snapshot.get(lambda: self._read(read_stats, self._open_reader))

    async def _healthz(self, request: web.Request) -> web.Response:
        stats, error = await self._stats()
        report = self._health.report(stats, error)
        return web.json_response(report.body, status=200 if report.healthy else 503, dumps=_dumps)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        stats, _ = await self._stats()
        self._metrics.update_storage(stats)
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _feed(self, request: web.Request) -> web.Response:
        after_seq, limit = feed_query(request.query)
        site = feed_site(request.query)
        page = await self._read(read_feed, self._open_reader, after_seq, limit, site)
        return web.json_response(
            {
                "after_seq": after_seq,
                "limit": limit,
                "site": site,
                "count": len(page.articles),
                "next_after_seq": page.next_after_seq,
                "has_more": page.has_more,
                "articles": [a.manifest_entry(with_text=True) for a in page.articles],
            },
            dumps=_dumps,
        )

    async def _text(self, request: web.Request) -> web.Response:
        raw = request.match_info["seq"]
        seq = parse_int("seq", raw, low=1, high=MAX_SEQ)
        article = await self._read(read_one, self._open_reader, seq)
        if article is None:
            return _error(404, f"no article version with seq {seq}", seq=seq)
        return web.Response(
            text=article.text,
            content_type="text/plain",
            charset="utf-8",
            headers={"ETag": f'"{article.content_hash}"'},
        )
