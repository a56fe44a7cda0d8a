"""``vksnd crawl`` against the replica: first pass, new articles, edits, conditional re-checks."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.crawl import (
    article_hits,
    article_path,
    assert_store_matches,
    count,
    current_articles,
    run_command,
    site_args,
    truth_articles,
)
from vksnd.crawler.config import PolitenessConfig, RetryConfig, load_settings
from vksnd.crawler.crawl.passes import incremental_pass, open_resources, pipeline_config, retry_pass
from vksnd.storage.records import UrlState

MakeReplica = object


@pytest.fixture
def crawl_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every stored article counts as recent, so each pass re-checks them all."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VKSND_RECHECK_DAYS", "36500")
    return tmp_path / "v.db"


def _all_article_paths(truth: dict[str, object]) -> set[str]:
    articles = truth["articles"]
    assert isinstance(articles, list)
    paths = {article_path(a["canonical_url"]) for a in articles}
    return paths | {article_path(u) for a in articles for u in a["aliases"]}


def test_first_crawl_stores_the_whole_site_once(
    make_replica: MakeReplica, crawl_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replica = make_replica(articles=60, seed=11, redirects=0)  # type: ignore[operator]

    assert run_command("crawl", *site_args(replica.base_url, crawl_env)) == 0

    assert_store_matches(crawl_env, truth_articles(replica.truth()))
    out = capsys.readouterr().out
    assert "new articles" in out and "failures" in out
    # The one broken article (listed, 404) is recorded as gone, not dropped.
    (broken,) = replica.truth()["broken"]
    assert count(crawl_env, "SELECT count(*) FROM urls WHERE url = ? AND state = 'gone'", broken)


def test_an_article_listed_only_by_its_old_redirecting_url_is_stored(
    make_replica: MakeReplica, crawl_env: Path
) -> None:
    # One listing links an article by its old URL, which answers 301 to the article: the link
    # does not look like an article URL, but it is its listing item's only link.
    replica = make_replica(articles=40, seed=16, redirects=2)  # type: ignore[operator]
    old_urls = set(replica.truth()["redirects"])

    assert run_command("crawl", *site_args(replica.base_url, crawl_env)) == 0

    assert_store_matches(crawl_env, truth_articles(replica.truth()))
    followed = [r for r in replica.requests() if replica.base_url + r["path"] in old_urls]
    assert [r["status"] for r in followed] == [301]
    marks = ",".join("?" * len(old_urls))
    sql = f"SELECT count(*) FROM urls WHERE state = 'fetched' AND url IN ({marks})"
    assert count(crawl_env, sql, *old_urls) == 1


def test_publish_then_crawl_picks_up_exactly_the_new_articles(
    make_replica: MakeReplica, crawl_env: Path
) -> None:
    replica = make_replica(articles=50, seed=12, redirects=0)  # type: ignore[operator]
    args = site_args(replica.base_url, crawl_env)
    assert run_command("crawl", *args) == 0
    before = {a.key for a in current_articles(crawl_env)}

    new_ids = replica.publish(4)
    assert run_command("crawl", *args) == 0

    after = {a.key for a in current_articles(crawl_env)}
    assert after - before == {str(i) for i in new_ids}
    assert_store_matches(crawl_env, truth_articles(replica.truth()))


def test_edit_then_crawl_yields_one_new_version(make_replica: MakeReplica, crawl_env: Path) -> None:
    replica = make_replica(articles=40, seed=13, redirects=0)  # type: ignore[operator]
    args = site_args(replica.base_url, crawl_env)
    assert run_command("crawl", *args) == 0
    versions_before = count(crawl_env, "SELECT count(*) FROM articles")
    edited = replica.truth()["articles"][10]["id"]

    replica.edit(edited)
    assert run_command("crawl", *args) == 0

    assert count(crawl_env, "SELECT count(*) FROM articles") == versions_before + 1
    assert_store_matches(crawl_env, truth_articles(replica.truth()))
    (chain,) = [a for a in current_articles(crawl_env) if a.key == str(edited)]
    assert count(crawl_env, "SELECT count(*) FROM articles WHERE root_id = ?", chain.root_id) == 2


def test_a_crawl_with_nothing_new_only_makes_conditional_checks(
    make_replica: MakeReplica, crawl_env: Path
) -> None:
    replica = make_replica(articles=40, seed=14, redirects=0, page_size=5)  # type: ignore[operator]
    args = site_args(replica.base_url, crawl_env)
    assert run_command("crawl", *args) == 0
    stored = len(current_articles(crawl_env))

    replica.clear_requests()
    assert run_command("crawl", *args) == 0

    hits = article_hits(replica.requests(), _all_article_paths(replica.truth()))
    assert hits.get(200, 0) == 0, hits
    assert hits.get(304, 0) == stored  # every stored article re-checked once, none re-read
    assert len(current_articles(crawl_env)) == stored
    # The listed-but-gone article was recorded once; it is not asked for on every pass.
    assert (
        article_hits(replica.requests(), {article_path(u) for u in replica.truth()["broken"]}) == {}
    )
    # Each category's walk stopped at its first page: it held known articles only.
    listings = [
        r
        for r in replica.requests()
        if "lists.aspx?Cat=" in r["path"] and "ItemID" not in r["path"]
    ]
    assert sorted(r["path"].split("Cat=")[1].split("&")[0] for r in listings) == sorted(
        str(c) for c in (2, 10, 14, 20, 32)
    )


async def test_retry_pass_fetches_failed_urls_once_their_time_has_come(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=20, seed=15, redirects=0, broken=0)  # type: ignore[operator]
    victim = replica.truth()["articles"][5]
    replica.set_faults(kinds=("500",), rate=1.0, path_regex=f"-t{victim['id']}\\.html")
    settings = replace(
        load_settings({}, {}, None),
        base_url=replica.base_url,
        db=tmp_path / "v.db",
        politeness=PolitenessConfig(rate=2000, host_concurrency=8),
        retry=RetryConfig(attempts=1, initial=0, max_wait=0, jitter=0),
    )
    # A zero base delay: the failed URL is due again at once.
    config = replace(pipeline_config(settings), failed_url_backoff=timedelta(0))
    async with open_resources(settings, config) as resources:
        first = (await incremental_pass(resources, asyncio.Event())).counters
        record = await resources.store.get_url(victim["canonical_url"])
        assert first.failures == 1
        assert record is not None and record.state is UrlState.FAILED

        replica.clear_faults()
        retried = (await retry_pass(resources, asyncio.Event())).counters
        record = await resources.store.get_url(victim["canonical_url"])

    assert retried.new_articles == 1 and retried.listing_pages == 0
    assert record is not None and record.state is UrlState.FETCHED
    assert_store_matches(settings.db, truth_articles(replica.truth()))


async def test_a_pass_stopped_mid_walk_is_walked_on_by_the_next_one(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=60, seed=16, redirects=0, page_size=5, latency_ms=10)  # type: ignore[operator]
    settings = replace(
        load_settings({}, {}, None),
        base_url=replica.base_url,
        db=tmp_path / "v.db",
        politeness=PolitenessConfig(rate=2000, host_concurrency=1),
    )
    async with open_resources(settings, pipeline_config(settings)) as resources:
        stop = asyncio.Event()
        first = asyncio.create_task(incremental_pass(resources, stop))
        while not first.done() and len(current_articles(settings.db)) < 12:
            await asyncio.sleep(0.01)  # polling a condition; the pass has its own deadline
        stop.set()  # SIGTERM in the commands
        stopped = (await asyncio.wait_for(first, 30)).counters
        pending_listings = [
            r
            for r in await resources.store.due_urls(datetime.now(UTC), 1000)
            if r.kind == "listing"
        ]
        second = (await incremental_pass(resources, asyncio.Event())).counters

    assert 12 <= stopped.new_articles < 50
    assert pending_listings, "the stopped walk left no page to resume from"
    assert second.new_articles > 0
    assert_store_matches(settings.db, truth_articles(replica.truth()))
