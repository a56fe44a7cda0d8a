"""The drift alarm (issue #15 point 4) and the discovery sources beside the listings.

A profile whose listing and body selectors stopped matching (a redesign, simulated by a copy of
the built-in profile with selectors that match nothing): the crawl still stores every article
through the generic path, one WARNING names each silent key, the health verdict turns degraded
with the key's line, the metric carries the hit ratio; ``vksnd reparse`` with the fixed profile
then re-reads the archived pages. Sitemaps and feeds find articles no configured listing shows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.crawl import FAST, assert_store_matches, fast_settings, run_cli, truth_articles
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.passes import incremental_pass, open_resources, pipeline_config
from vksnd.crawler.service.health import Health
from vksnd.crawler.service.metrics import Metrics
from vksnd.parsers.profiles.load import load_profile
from vksnd.storage.records import RunOutcome

MakeReplica = Any


def broken_profile(path: Path) -> Path:
    """The built-in vksndtc profile after a "redesign": listing items and bodies renamed."""
    from importlib.resources import files

    text = (files("vksnd.parsers.profiles") / "vksndtc.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^item = .*$", 'item = [".tin-moi-item"]', text)
    text = re.sub(r"(?m)^body = .*$", 'body = [".noi-dung-moi"]', text)
    path.write_text(text, encoding="utf-8")
    return path


def test_silent_keys_warn_once_degrade_health_and_reparse_recovers(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=20, seed=21, redirects=0, layouts="portal")
    profile = broken_profile(tmp_path / "redesigned.toml")
    db = tmp_path / "v.db"

    done = run_cli(
        "crawl", "--profile", str(profile), "--base-url", replica.base_url, "--db", str(db),
        *FAST, "--log-format", "json", cwd=tmp_path, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    drift = [e for e in events if e.get("event") == "profile_drift"]
    assert sorted(e["key"] for e in drift) == ["listing.item", "selectors.body"]  # once each
    item = next(e for e in drift if e["key"] == "listing.item")
    assert re.match(r'profile key "listing.item" matched 0 of \d+ listing pages', item["message"])
    # The generic path read everything meanwhile.
    assert_store_matches(db, truth_articles(replica.truth()))

    fixed = run_cli("reparse", "--profile", "vksndtc", "--db", str(db), cwd=tmp_path, timeout=180)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert_store_matches(db, truth_articles(replica.truth()))


async def test_the_daemon_side_warns_per_state_change_and_reports_the_ratio(
    make_replica: MakeReplica, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    replica = make_replica(articles=12, seed=22, redirects=0, layouts="portal")
    profile = load_profile(str(broken_profile(tmp_path / "p.toml")))
    settings = fast_settings(replica.base_url, tmp_path / "v.db")
    settings = dataclasses.replace(settings, site_profile=profile)
    health = Health(timedelta(hours=1))
    metrics = Metrics()
    reports: list[RunReport] = []
    caplog.set_level(logging.INFO, logger="vksnd")
    async with open_resources(settings, pipeline_config(settings), in_daemon=True) as resources:
        for _ in range(2):
            report = await incremental_pass(resources, asyncio.Event())
            reports.append(report)
            health.record_pass("crawl", report.outcome or RunOutcome.FAILED, duration_s=1,
                               drift=report.drift)  # fmt: skip
            metrics.record_key_hits(report.key_hits.ratios())
    warnings = [r for r in caplog.records if getattr(r, "event", None) == "profile_drift"]
    assert [getattr(r, "key", None) for r in warnings].count("listing.item") == 1
    verdict = health.report(None, "not read in this test")
    lines = [r.message for r in verdict.reasons if r.code == "profile_drift"]
    assert any(re.fullmatch(r'profile key "listing.item" matched 0 of \d+ listing pages', line)
               for line in lines), lines  # fmt: skip
    assert verdict.body["status"] == "degraded"
    assert 'vksnd_profile_key_hit_ratio{key="listing.item"} 0.0' in metrics.render().decode()


def test_a_sitemap_finds_articles_no_configured_listing_shows(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    """A profile listing one category of four: the site's sitemap (announced in robots.txt)
    brings the other categories' articles of the range."""
    replica = make_replica(site="provincial", variant="chuyen-muc", articles=40, seed=9,
                           redirects=0)  # fmt: skip
    info = httpx.get(f"{replica.base_url}/_replica/site.json").json()
    site = info.get("site", info)
    assert site["sitemap"], "the chuyen-muc variant has a sitemap"
    first = site["categories"][0]["slug"]
    profile = tmp_path / "one.toml"
    profile.write_text(
        f'name = "one"\nbase_url = "{site["base_url"]}"\n'
        f"[urls]\narticle = '{site['article_url_regex']}'\n"
        f'[listing]\ntemplate = "{site["listing_url_template"]}"\ncategories = ["{first}"]\n',
        encoding="utf-8",
    )
    truth = replica.truth()
    days = sorted(date.fromisoformat(a["published"]) for a in truth["articles"])
    since, until = days[len(days) // 3], days[-1]
    db = tmp_path / "v.db"

    done = run_cli(
        "backfill", "--profile", str(profile), "--db", str(db), *FAST,
        "--since", since.isoformat(), "--until", until.isoformat(), cwd=tmp_path, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    expected = truth_articles(truth, since, until)
    assert {a["category_slug"] for a in expected} - {first}, "other categories are in range"
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT canonical_url FROM articles")}
    assert stored == {a["canonical_url"] for a in expected}
