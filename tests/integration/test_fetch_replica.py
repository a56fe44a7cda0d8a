"""The fetcher against the portal replica and its fault plan (real HTTP on loopback)."""

from __future__ import annotations

import asyncio
import tracemalloc
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
from conftest import MakeReplica

from support.politeness import is_slowed
from vksnd.crawler.config import FetchConfig, PolitenessConfig, RetryConfig, Settings
from vksnd.crawler.fetch.errors import (
    RedirectRejected,
    RetryableFetchError,
    RobotsDisallowed,
    TooLarge,
)
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.fixtures.portal import ReplicaServer
from vksnd.parsers.listing import parse_listing
from vksnd.parsers.urls import canonicalize, listing_url


def settings_for(replica: ReplicaServer, *, rate: float = 200.0, **fetch: Any) -> Settings:
    return Settings(
        base_url=replica.base_url,
        fetch=replace(FetchConfig(), **fetch),
        politeness=PolitenessConfig(rate=rate, host_concurrency=4),
        retry=RetryConfig(attempts=4, initial=0.01, max_wait=0.05, jitter=0.0),
    )


def article(replica: ReplicaServer, index: int = 0) -> dict[str, Any]:
    articles: list[dict[str, Any]] = replica.truth()["articles"]
    return articles[index]


def paths(replica: ReplicaServer, needle: str) -> list[dict[str, Any]]:
    return [r for r in replica.requests() if needle in r["path"]]


async def test_listing_then_articles_and_conditional_recheck(replica: ReplicaServer) -> None:
    settings = settings_for(replica)
    async with Fetcher(settings) as fetcher:
        page = await fetcher.fetch(listing_url(replica.base_url, 2, 1, settings.profile))
        listing = parse_listing(
            page.body, page.final_url, page.content_type, scope_hosts=settings.scope_hosts
        )
        assert listing.items
        first = await fetcher.fetch(listing.items[0].url)
        again = await fetcher.fetch(
            listing.items[0].url, etag=first.etag, last_modified=first.last_modified
        )
    assert first.status == 200 and b"<html" in first.body.lower()
    assert first.header("content-encoding") == "gzip"  # decoded for us
    assert again.not_modified and again.body == b""
    agents = {r["user_agent"] for r in replica.requests()}
    assert agents == {settings.fetch.user_agent}


async def test_replica_robots_disallow_the_print_view(replica: ReplicaServer) -> None:
    settings = settings_for(replica)
    printed = next(u for u in article(replica)["aliases"] if "pFormPrint" in u)
    target = canonicalize(printed, scope_hosts=settings.scope_hosts)
    assert target is not None
    async with Fetcher(settings) as fetcher:
        await fetcher.fetch(article(replica)["canonical_url"])
        with pytest.raises(RobotsDisallowed):
            await fetcher.fetch(target)
    assert paths(replica, "pFormPrint") == []
    assert len(paths(replica, "/robots.txt")) == 1


async def test_rate_limit_holds_at_the_replica(replica: ReplicaServer) -> None:
    settings = settings_for(replica, rate=5.0)
    urls = [a["canonical_url"] for a in replica.truth()["articles"][:6]]
    async with Fetcher(settings) as fetcher:
        await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    # The replica stamps a request when it answers (after rendering), so single gaps jitter by
    # the render time; the span and a floor on every gap still show the limit holding.
    times = sorted(r["t"] for r in replica.requests())  # robots.txt included: same host
    assert len(times) == 7
    assert times[-1] - times[0] >= 6 / 5.0 - 0.1
    assert min(b - a for a, b in pairwise(times)) >= 0.5 / 5.0


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("gzip_bomb", TooLarge),
        ("oversize", TooLarge),
        ("offsite_redirect", RedirectRejected),
        ("redirect_loop", RedirectRejected),
    ],
)
async def test_permanent_faults(make_replica: MakeReplica, kind: str, error: type) -> None:
    replica = make_replica(articles=10, seed=1)
    url = article(replica)["canonical_url"]
    replica.set_faults(kinds=(kind,), rate=1.0, path_regex=r"-t\d+\.html")
    async with Fetcher(settings_for(replica, max_body_bytes=2 << 20)) as fetcher:
        with pytest.raises(error) as caught:
            await fetcher.fetch(url)
    assert caught.value.url == url
    logged = [r for r in replica.requests() if r["path"] != "/robots.txt"]
    assert len([r for r in logged if r["path"] == url.removeprefix(replica.base_url)]) == 1


@pytest.mark.parametrize("kind", ["truncate", "reset", "500", "503", "429"])
async def test_transient_faults_recover(make_replica: MakeReplica, kind: str) -> None:
    replica = make_replica(articles=10, seed=1)
    url = article(replica)["canonical_url"]
    replica.set_faults(kinds=(kind,), rate=1.0, count=2, retry_after=0, path_regex=r"-t\d+\.html")
    async with Fetcher(settings_for(replica)) as fetcher:
        result = await fetcher.fetch(url)
    assert result.status == 200 and result.attempts == 3


async def test_a_500_burst_within_the_budget_recovers(make_replica: MakeReplica) -> None:
    replica = make_replica(articles=10, seed=1)
    url = article(replica)["canonical_url"]
    replica.set_faults(kinds=("burst",), rate=1.0, count=1, burst=3, path_regex=r"-t\d+\.html")
    async with Fetcher(settings_for(replica)) as fetcher:
        result = await fetcher.fetch(url)
    assert result.attempts == 4
    statuses = [r["status"] for r in replica.requests() if r["path"] != "/robots.txt"]
    assert [s in (500, 503) for s in statuses] == [True, True, True, False]
    assert statuses[-1] == 200


async def test_retry_after_from_the_replica_is_waited(make_replica: MakeReplica) -> None:
    replica = make_replica(articles=10, seed=1)
    url = article(replica)["canonical_url"]
    replica.set_faults(kinds=("429",), rate=1.0, count=1, retry_after=1, path_regex=r"-t\d+")
    async with Fetcher(settings_for(replica)) as fetcher:
        result = await fetcher.fetch(url)
        assert is_slowed(fetcher.limiter, replica.base_url.removeprefix("http://"))
    hits = [r["t"] for r in replica.requests() if r["path"] != "/robots.txt"]
    assert result.attempts == 2 and hits[1] - hits[0] >= 1.0 - 0.02


async def test_a_stalled_replica_response_times_out(make_replica: MakeReplica) -> None:
    replica = make_replica(articles=10, seed=1)
    url = article(replica)["canonical_url"]
    replica.set_faults(kinds=("stall",), rate=1.0, stall_s=30, path_regex=r"-t\d+\.html")
    settings = settings_for(replica, read_timeout=0.3)
    settings = replace(settings, retry=replace(settings.retry, attempts=2))
    async with Fetcher(settings) as fetcher:
        with pytest.raises(RetryableFetchError, match="timeout") as caught:
            await fetcher.fetch(url)
    assert caught.value.attempts == 2


async def test_the_replicas_gigabyte_gzip_bomb_stays_under_the_cap(
    make_replica: MakeReplica,
) -> None:
    replica = make_replica(articles=10, seed=1)
    url = article(replica)["canonical_url"]
    replica.set_faults(kinds=("gzip_bomb",), rate=1.0, path_regex=r"-t\d+\.html")
    cap = 4 << 20
    async with Fetcher(settings_for(replica, max_body_bytes=cap)) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(TooLarge):
                await fetcher.fetch(url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 3 * cap, peak
