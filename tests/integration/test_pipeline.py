"""The pipeline's steps with a real Fetcher, a real SQLite store and the replica on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.crawl import current_articles, fast_settings
from vksnd.crawler.config import ExecutorKind, Settings
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.pipeline import FetchJob, Pipeline, PipelineConfig
from vksnd.crawler.fetch.errors import RetryableFetchError
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.fixtures.portal import ReplicaServer
from vksnd.storage.reader import SqliteReader
from vksnd.storage.records import NewUrl, RunCounters, UrlKind, UrlState
from vksnd.storage.sqlite import SqliteStore

MakeReplica = Callable[..., ReplicaServer]


@asynccontextmanager
async def pipeline_for(
    settings: Settings,
    *,
    executor: ExecutorKind = "thread",
    stop: asyncio.Event | None = None,
    fetch_workers: int = 4,
    config: PipelineConfig | None = None,
) -> AsyncIterator[tuple[Pipeline, SqliteStore, RunCounters]]:
    store = await SqliteStore.open(settings.db)
    pool = ParsePool(executor, 2)
    counters = RunCounters()
    try:
        async with Fetcher(settings) as fetcher:
            pipeline = Pipeline(
                fetcher=fetcher, store=store, pool=pool, counters=counters,
                config=config or PipelineConfig(fetch_workers=fetch_workers, executor=executor),
                stop=stop or asyncio.Event(),
            )  # fmt: skip
            pipeline.start()
            yield pipeline, store, counters
    finally:
        pool.close()
        await store.close()


async def _feed(pipeline: Pipeline, store: SqliteStore, urls: list[str]) -> None:
    await store.add_urls(NewUrl(u, UrlKind.ARTICLE) for u in urls)
    for url in urls:
        await pipeline.submit(FetchJob(url))
    await pipeline.drain()


async def test_aliases_collapse_to_one_article(make_replica: MakeReplica, tmp_path: Path) -> None:
    replica = make_replica(articles=30, seed=31)
    truth = replica.truth()["articles"]
    # Articles with every kind of alias: section-less, ?Page= leftover, legacy, print view.
    chosen = [a for a in truth if len(a["aliases"]) >= 3][:6]
    assert chosen
    urls = [a["canonical_url"] for a in chosen] + [u for a in chosen for u in a["aliases"]]
    urls += [chosen[0]["canonical_url"] + "?Page=270"]

    async with pipeline_for(fast_settings(replica.base_url, tmp_path / "v.db")) as (
        pipeline, store, counters,
    ):  # fmt: skip
        await _feed(pipeline, store, urls)

    stored = current_articles(tmp_path / "v.db")
    assert sorted(a.key for a in stored) == sorted(str(a["id"]) for a in chosen)
    assert counters.new_articles == len(chosen)
    assert counters.failures == 0


@pytest.mark.parametrize("executor", ["thread", "process"])
async def test_parse_executors_store_the_same_articles(
    make_replica: MakeReplica, tmp_path: Path, executor: ExecutorKind
) -> None:
    replica = make_replica(articles=20, seed=32)
    truth = replica.truth()["articles"]
    settings = fast_settings(replica.base_url, tmp_path / "v.db")
    async with pipeline_for(settings, executor=executor) as (pipeline, store, counters):
        await _feed(pipeline, store, [a["canonical_url"] for a in truth])
    stored = {a.key: a for a in current_articles(settings.db)}
    assert sorted(stored) == sorted(str(a["id"]) for a in truth)
    for article in truth:
        assert stored[str(article["id"])].text == article["text"]
    assert counters.new_articles == len(truth)


async def test_failures_are_stored_with_reason_and_a_growing_retry_time(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=10, seed=33)
    target = replica.truth()["articles"][3]["canonical_url"]
    replica.set_faults(kinds=("500",), rate=1.0, path_regex=r"-t\d+\.html")
    settings = fast_settings(replica.base_url, tmp_path / "v.db")

    async with pipeline_for(settings) as (pipeline, store, counters):
        await _feed(pipeline, store, [target])
        first = await store.get_url(target)
    async with pipeline_for(settings) as (pipeline, store, _):
        await store.add_urls([NewUrl(target, UrlKind.ARTICLE)])
        (due,) = [r for r in await store.due_urls(datetime.now(UTC) + timedelta(days=2), 10)]
        await pipeline.submit(FetchJob(target, attempts=due.attempts))
        await pipeline.drain()
        second = await store.get_url(target)

    assert counters.failures == 1
    assert first is not None and second is not None
    assert first.state is UrlState.FAILED and second.state is UrlState.FAILED
    assert first.last_error and "500" in first.last_error
    assert first.next_retry_at is not None and second.next_retry_at is not None
    now = datetime.now(UTC)
    assert first.next_retry_at > now
    assert second.attempts == 2
    assert second.next_retry_at - now > (first.next_retry_at - now) * 1.5


def test_retry_delay_doubles_up_to_the_cap_and_respects_retry_after() -> None:
    config = PipelineConfig(
        failed_url_backoff=timedelta(minutes=5), failed_url_backoff_max=timedelta(hours=1)
    )
    pipeline = Pipeline(
        fetcher=None, store=None, pool=None, config=config, counters=RunCounters(),  # type: ignore[arg-type]
        stop=asyncio.Event(),
    )  # fmt: skip
    error = RetryableFetchError("http://x/", "HTTP 503", status=503)
    now = datetime.now(UTC)
    delays = [(pipeline.next_retry_at(n, error) - now).total_seconds() for n in range(6)]
    assert [round(d / 60) for d in delays] == [5, 10, 20, 40, 60, 60]
    hinted = RetryableFetchError("http://x/", "HTTP 429", status=429, retry_after=7200)
    assert (pipeline.next_retry_at(0, hinted) - now).total_seconds() >= 7199


async def test_a_page_that_is_not_an_article_is_recorded_as_a_page(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=10, seed=34)
    pages = [replica.base_url + "/"]  # the home page: a listing of the latest news
    async with pipeline_for(fast_settings(replica.base_url, tmp_path / "v.db")) as (
        pipeline, store, counters,
    ):  # fmt: skip
        await _feed(pipeline, store, pages)
        records = [await store.get_url(page) for page in pages]
    assert [r.state if r else None for r in records] == [UrlState.FETCHED]
    assert [r.not_article if r else None for r in records] == ["listing"]  # the reason is kept
    assert counters.not_articles == 1 and counters.failures == 0
    assert current_articles(tmp_path / "v.db") == []
    with SqliteReader.open(tmp_path / "v.db") as reader:
        stats = reader.stats()
    assert stats.not_articles_by_reason == (("listing", 1),)


async def test_stop_finishes_pages_in_flight_and_leaves_the_rest_pending(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=60, seed=35, latency_ms=30)
    urls = [a["canonical_url"] for a in replica.truth()["articles"]]
    stop = asyncio.Event()
    settings = fast_settings(replica.base_url, tmp_path / "v.db")
    async with pipeline_for(settings, stop=stop, fetch_workers=2) as (pipeline, store, counters):
        await store.add_urls(NewUrl(u, UrlKind.ARTICLE) for u in urls)

        async def produce() -> None:
            for url in urls:
                if not await pipeline.submit(FetchJob(url)):
                    return

        producer = asyncio.create_task(produce())
        await _until(lambda: counters.new_articles >= 5)
        stop.set()
        await producer
        await pipeline.drain()
        pending = await store.due_urls(datetime.now(UTC), 1000)

    stored = len(current_articles(settings.db))
    assert 5 <= stored < len(urls)
    assert stored == counters.new_articles
    # Every URL is either stored or still pending: nothing lost in between.
    assert stored + len(pending) == len(urls)


async def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_backpressure_keeps_the_queues_bounded(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=40, seed=36, latency_ms=20)
    urls = [a["canonical_url"] for a in replica.truth()["articles"]]
    settings = fast_settings(replica.base_url, tmp_path / "v.db")
    config = PipelineConfig(fetch_workers=2, queue_size=3, parse_batch=2, store_batch=3)
    async with pipeline_for(settings, config=config) as (pipeline, store, counters):
        await store.add_urls(NewUrl(u, UrlKind.ARTICLE) for u in urls)
        ahead: list[int] = []
        for submitted, url in enumerate(urls, start=1):
            await pipeline.submit(FetchJob(url))
            done = (
                counters.new_articles
                + counters.duplicates
                + counters.failures
                + counters.not_articles
            )
            ahead.append(submitted - done)
        await pipeline.drain()
    # Queued + in flight never exceeds the three queues plus what the workers hold: a page
    # per fetcher, a batch per parse worker, a batch in the store worker.
    held = config.fetch_workers + config.parse_workers * config.parse_batch + config.store_batch
    assert max(ahead) <= config.fetch_bound + 2 * config.bound + held
    assert len(current_articles(settings.db)) == len(urls)
