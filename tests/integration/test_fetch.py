"""The fetcher over real HTTP on loopback: headers, decoding, caps, redirects, statuses, 304."""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC

import pytest

from support.loopback import Handler, Loopback, send
from vksnd.crawler.config import FetchConfig, PolitenessConfig, RetryConfig, Settings
from vksnd.crawler.fetch.errors import (
    HttpStatusError,
    NotHtml,
    OutOfScope,
    RedirectRejected,
    RetryableFetchError,
    TooLarge,
)
from vksnd.crawler.fetch.fetcher import Fetcher

PAGE = "<html><body><h1>Tin tức</h1><p>Viện kiểm sát nhân dân tối cao</p></body></html>"


@pytest.fixture
def server() -> Iterator[Loopback]:
    app = Loopback().start()
    yield app
    app.stop()


def fast_settings(app: Loopback, **fetch: object) -> Settings:
    """Politeness lifted (these tests are about the protocol), retries without real waits."""
    return Settings(
        base_url=app.base_url,
        fetch=replace(FetchConfig(), **fetch),  # type: ignore[arg-type]
        politeness=PolitenessConfig(rate=1000.0, host_concurrency=8, obey_robots=False),
        retry=RetryConfig(attempts=3, initial=0.01, max_wait=0.05, jitter=0.0),
    )


def page(handler: Handler) -> None:
    send(handler, 200, PAGE.encode(), {"ETag": '"v1"'})


async def test_fetch_returns_a_typed_result_and_sends_our_headers(server: Loopback) -> None:
    server.routes["/a"] = page
    settings = fast_settings(server)
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(server.url("/a"))
    assert result.status == 200
    assert result.body.decode() == PAGE
    assert result.content_type == "text/html"
    assert result.final_url == result.url == server.url("/a")
    assert result.fetched_at.tzinfo is UTC
    assert result.attempts == 1 and not result.not_modified
    assert result.etag == '"v1"'
    assert result.elapsed_ms > 0
    (seen,) = server.hits("/a")
    assert seen.headers["user-agent"] == settings.fetch.user_agent
    assert seen.headers["user-agent"].startswith("vksnd/")
    assert "https://github.com/vksnd/vksnd" in seen.headers["user-agent"]
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert fetcher.stats.requests == 1
    assert fetcher.stats.by_status_class == {"2xx": 1}
    assert fetcher.stats.bytes_received == len(PAGE.encode())


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as IIS sends
    ],
)
async def test_compressed_bodies_are_decoded(
    server: Loopback, encoding: str, compress: object
) -> None:
    body = (PAGE * 200).encode()
    packed = compress(body)  # type: ignore[operator]
    server.routes["/z"] = lambda h: send(h, 200, packed, {"Content-Encoding": encoding})
    async with Fetcher(fast_settings(server)) as fetcher:
        result = await fetcher.fetch(server.url("/z"))
    assert result.body == body


def _gzip_bomb_chunks(total: int) -> Iterator[bytes]:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    for _ in range(total >> 20):
        chunk = packer.compress(zeros)
        if chunk:
            yield chunk
    yield packer.flush()


async def test_gzip_bomb_stops_at_the_cap_without_filling_memory(server: Loopback) -> None:
    cap = 1 << 20
    sent: list[int] = []

    def bomb(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Connection", "close")  # no length: the body ends with the stream
        handler.end_headers()
        for chunk in _gzip_bomb_chunks(512 << 20):  # 512 MB inflated, ~500 KB on the wire
            handler.wfile.write(chunk)
            sent.append(len(chunk))
        handler.close_connection = True

    server.routes["/bomb"] = bomb
    async with Fetcher(fast_settings(server, max_body_bytes=cap)) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(TooLarge) as caught:
                await fetcher.fetch(server.url("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert caught.value.limit == cap
    assert caught.value.url == server.url("/bomb")
    assert peak < 4 * cap, f"peak {peak} bytes while reading a gzip bomb"
    assert len(server.hits("/bomb")) == 1  # permanent: not retried


async def test_body_over_the_cap_without_content_length_is_too_large(server: Loopback) -> None:
    def endless(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for _ in range(64):
            handler.wfile.write(b"x" * 65536)

    server.routes["/big"] = endless
    async with Fetcher(fast_settings(server, max_body_bytes=100_000)) as fetcher:
        with pytest.raises(TooLarge):
            await fetcher.fetch(server.url("/big"))


async def test_oversized_content_length_is_rejected_before_reading(server: Loopback) -> None:
    def liar(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(50 << 20))
        handler.end_headers()
        handler.wfile.write(b"<html>")
        handler.wfile.flush()
        server.released.wait(30)  # never sends the rest: reading it would hang the test

    server.routes["/huge"] = liar
    started = time.monotonic()
    async with Fetcher(fast_settings(server, max_body_bytes=1 << 20)) as fetcher:
        with pytest.raises(TooLarge):
            await fetcher.fetch(server.url("/huge"))
    assert time.monotonic() - started < 5


async def test_non_html_is_refused_unless_asked_for(server: Loopback) -> None:
    pdf = b"%PDF-1.4 " + b"0" * 1000
    server.routes["/doc.pdf"] = lambda h: send(h, 200, pdf, content_type="application/pdf")
    async with Fetcher(fast_settings(server)) as fetcher:
        with pytest.raises(NotHtml) as caught:
            await fetcher.fetch(server.url("/doc.pdf"))
        assert caught.value.content_type == "application/pdf"
        result = await fetcher.fetch(server.url("/doc.pdf"), accept_not_html=True)
    assert result.body == pdf and result.content_type == "application/pdf"


async def test_conditional_get_gives_not_modified(server: Loopback) -> None:
    stamp = "Mon, 30 Nov 2026 01:00:00 GMT"

    def conditional(handler: Handler) -> None:
        if handler.headers.get("If-None-Match") == '"v1"':
            send(handler, 304, b"", {"ETag": '"v1"'}, content_type=None)
        else:
            send(handler, 200, PAGE.encode(), {"ETag": '"v1"', "Last-Modified": stamp})

    server.routes["/c"] = conditional
    async with Fetcher(fast_settings(server)) as fetcher:
        first = await fetcher.fetch(server.url("/c"))
        second = await fetcher.fetch(
            server.url("/c"), etag=first.etag, last_modified=first.last_modified
        )
    assert not first.not_modified and first.last_modified == stamp
    assert second.not_modified and second.status == 304 and second.body == b""
    sent = server.hits("/c")[1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == stamp
    assert fetcher.stats.not_modified == 1


async def test_in_scope_redirect_is_followed(server: Loopback) -> None:
    server.routes["/old"] = lambda h: send(h, 301, b"", {"Location": "/new#frag"})
    server.routes["/new"] = page
    async with Fetcher(fast_settings(server)) as fetcher:
        result = await fetcher.fetch(server.url("/old"))
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/new")
    assert server.paths() == ["/old", "/new"]


async def test_off_scope_redirect_is_not_followed(server: Loopback) -> None:
    other = Loopback(host="127.0.0.2").start()  # loopback too, but another host: out of scope
    try:
        other.routes["/x"] = page
        target = other.url("/x")
        server.routes["/away"] = lambda h: send(h, 302, b"", {"Location": target})
        async with Fetcher(fast_settings(server)) as fetcher:
            with pytest.raises(RedirectRejected) as caught:
                await fetcher.fetch(server.url("/away"))
        assert caught.value.target == target
        assert "off scope" in str(caught.value)
        assert other.seen == []
        assert len(server.hits("/away")) == 1
    finally:
        other.stop()


async def test_redirect_loop_and_too_many_hops_are_rejected(server: Loopback) -> None:
    server.routes["/a"] = lambda h: send(h, 302, b"", {"Location": "/b"})
    server.routes["/b"] = lambda h: send(h, 302, b"", {"Location": "/a"})
    for n in range(10):
        server.routes[f"/r{n}"] = lambda h, n=n: send(h, 302, b"", {"Location": f"/r{n + 1}"})
    async with Fetcher(fast_settings(server, max_redirects=3)) as fetcher:
        with pytest.raises(RedirectRejected, match="loop"):
            await fetcher.fetch(server.url("/a"))
        with pytest.raises(RedirectRejected, match="more than 3 redirects"):
            await fetcher.fetch(server.url("/r0"))
    assert server.paths()[:2] == ["/a", "/b"]
    assert len(server.hits("/r0")) == 1 and server.hits("/r4") == []


async def test_out_of_scope_url_is_never_requested(server: Loopback) -> None:
    async with Fetcher(fast_settings(server)) as fetcher:
        for url in ("http://127.0.0.2:1/x", "http://localhost/x", "https://vksndtc.gov.vn/"):
            with pytest.raises(OutOfScope):
                await fetcher.fetch(url)
    assert server.seen == []


async def test_other_4xx_is_permanent_and_not_retried(server: Loopback) -> None:
    server.routes["/gone"] = lambda h: send(h, 410, b"gone")
    async with Fetcher(fast_settings(server)) as fetcher:
        with pytest.raises(HttpStatusError) as caught:
            await fetcher.fetch(server.url("/gone"))
        with pytest.raises(HttpStatusError) as missing:
            await fetcher.fetch(server.url("/nothing-here"))
    assert caught.value.status == 410 and caught.value.gone
    assert missing.value.status == 404 and missing.value.gone
    assert len(server.hits("/gone")) == 1


async def test_truncated_body_is_retryable_and_retried(server: Loopback) -> None:
    def short(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"<html>only this")
        handler.close_connection = True

    server.routes["/short"] = short
    async with Fetcher(fast_settings(server)) as fetcher:
        with pytest.raises(RetryableFetchError) as caught:
            await fetcher.fetch(server.url("/short"))
    assert caught.value.attempts == 3
    assert len(server.hits("/short")) == 3
    assert fetcher.stats.retries == 2


async def test_stalled_response_times_out(server: Loopback) -> None:
    def stall(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"<html>")
        handler.wfile.flush()
        server.released.wait(30)

    server.routes["/stall"] = stall
    settings = fast_settings(server, read_timeout=0.3)
    settings = replace(settings, retry=replace(settings.retry, attempts=2))
    started = time.monotonic()
    async with Fetcher(settings) as fetcher:
        with pytest.raises(RetryableFetchError, match="timeout") as caught:
            await fetcher.fetch(server.url("/stall"))
    elapsed = time.monotonic() - started
    assert caught.value.attempts == 2
    assert 0.6 <= elapsed < 5, elapsed
    assert fetcher.stats.timeouts == 2


async def test_total_timeout_bounds_a_trickling_response(server: Loopback) -> None:
    def trickle(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):  # one byte every 50 ms: never idle long enough for read_timeout
            if server.released.wait(0.05):
                return
            handler.wfile.write(b"x")
            handler.wfile.flush()

    server.routes["/trickle"] = trickle
    settings = fast_settings(server, read_timeout=5.0, total_timeout=0.5)
    settings = replace(settings, retry=replace(settings.retry, attempts=1))
    started = time.monotonic()
    async with Fetcher(settings) as fetcher:
        with pytest.raises(RetryableFetchError, match="in total"):
            await fetcher.fetch(server.url("/trickle"))
    assert time.monotonic() - started < 3


async def test_redirect_into_a_robots_disallowed_path_is_rejected(server: Loopback) -> None:
    server.routes["/robots.txt"] = lambda h: send(h, 200, b"User-agent: *\nDisallow: /secret\n")
    server.routes["/open"] = lambda h: send(h, 302, b"", {"Location": "/secret/x"})
    settings = fast_settings(server)
    settings = replace(settings, politeness=replace(settings.politeness, obey_robots=True))
    async with Fetcher(settings) as fetcher:
        with pytest.raises(RedirectRejected, match="robots") as caught:
            await fetcher.fetch(server.url("/open"))
    assert caught.value.url == server.url("/open")
    assert caught.value.target == server.url("/secret/x")
    assert server.paths() == ["/robots.txt", "/open"]
