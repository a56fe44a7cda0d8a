"""Several sites at once (#15 point 7), end to end: two replicas on two ports (the portal and
baovephapluat.vn), one ``vksnd crawl`` / ``vksnd run`` over both, each site's store equal to its
truth, and what stats, the feed, the manifest and ``export --site`` say about each."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.crawl import (
    FAST,
    assert_store_matches,
    cli,
    current_articles,
    run_cli,
    run_command,
    subprocess_env,
    truth_articles,
)
from support.reliability import wait_until
from vksnd.crawler.config import ConfigError, load_settings
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.sites import SiteRules, combine, plan_sites
from vksnd.fixtures.portal import ReplicaServer
from vksnd.storage.records import RunOutcome

MakeReplica = object
SITES = ("vksndtc", "baovephapluat")


def _config(tmp_path: Path, portal: ReplicaServer, paper: ReplicaServer, extra: str = "") -> Path:
    path = tmp_path / "vksnd.toml"
    path.write_text(
        f'[sites.vksndtc]\nbase_url = "{portal.base_url}"\n'
        f'[sites.baovephapluat]\nbase_url = "{paper.base_url}"\n{extra}',
        encoding="utf-8",
    )
    return path


def _truth(server: ReplicaServer) -> list[dict[str, Any]]:
    """The truth's articles with their keys as the store holds them (site-qualified ids off
    the default site: ``baovephapluat:148224``)."""
    site = server.truth().get("site", {})
    name = site.get("name") if isinstance(site, dict) else None
    out = []
    for article in truth_articles(server.truth()):
        key = article["id"] if name in (None, "vksndtc") else f"{name}:{article['id']}"
        out.append({**article, "id": key})
    return out


def _stored_keys(db: Path, site: str) -> set[str]:
    return {str(a.key) for a in current_articles(db, site)}


def _two_replicas(make_replica: MakeReplica, **paper_options: Any) -> tuple[Any, Any]:
    portal = make_replica(articles=30, seed=11, redirects=0)  # type: ignore[operator]
    paper = make_replica(site="baovephapluat", articles=30, seed=5, **paper_options)  # type: ignore[operator]
    return portal, paper


def test_one_crawl_over_two_sites_stores_each_sites_truth(
    make_replica: MakeReplica, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    portal, paper = _two_replicas(make_replica)
    db = tmp_path / "v.db"
    config = _config(tmp_path, portal, paper)

    assert run_command("crawl", "--db", str(db), "--config", str(config), *FAST) == 0

    out = capsys.readouterr().out
    assert "crawl vksndtc: ok" in out and "crawl baovephapluat: ok" in out
    assert "\ncrawl: ok" in out
    assert_store_matches(db, _truth(portal), site="vksndtc")
    assert_store_matches(db, _truth(paper), site="baovephapluat")
    with_hosts = {site: {a.url.split("/")[2] for a in current_articles(db, site)} for site in SITES}
    assert with_hosts == {
        "vksndtc": {portal.base_url.split("/")[2]},
        "baovephapluat": {paper.base_url.split("/")[2]},
    }

    stats = run_cli("stats", "--json", "--db", str(db), cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    by_site = {s["site"]: s for s in json.loads(stats.stdout)["sites"]}
    assert sorted(by_site) == sorted(SITES)
    assert by_site["baovephapluat"]["articles"] == len(_truth(paper))
    assert by_site["vksndtc"]["articles"] == len(_truth(portal))
    assert {run["site"] for run in json.loads(stats.stdout)["last_runs"]} == set(SITES)
    assert "by site" in run_cli("stats", "--db", str(db), cwd=tmp_path).stdout

    # export --site: only that site's files, named as always, its manifest lines say so
    out_dir = tmp_path / "bvpl"
    done = run_cli("export", "--db", str(db), "--out", str(out_dir), "--site", "baovephapluat",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = [json.loads(line) for line in (out_dir / "manifest.jsonl").read_text().splitlines()]
    files = sorted(p.name for p in out_dir.glob("*.txt"))
    assert len(files) == len(_truth(paper)) == len(manifest)
    assert {entry["site"] for entry in manifest} == {"baovephapluat"}
    assert files == sorted(entry["file"] for entry in manifest)
    texts = {a.text for a in current_articles(db, "baovephapluat")}
    assert {(out_dir / name).read_text("utf-8") for name in files} == texts
    bad = run_cli("export", "--db", str(db), "--out", str(out_dir), "--site", "Bad Site",
                  cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "site name 'Bad Site'" in bad.stderr

    # reparse reads each site's pages with its own profile: nothing changes, on either site
    again = run_cli("reparse", "--db", str(db), "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    pages = len(_truth(portal)) + len(_truth(paper))
    assert f"{pages} archived pages re-extracted: 0 changed, {pages} unchanged" in again.stdout

    # a second crawl finds nothing new on either site (their frontiers kept apart)
    assert run_command("crawl", "--db", str(db), "--config", str(config), *FAST) == 0
    assert "new articles 0" in capsys.readouterr().out


def test_one_backfill_over_two_sites_stores_each_sites_truth(
    make_replica: MakeReplica, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    portal, paper = _two_replicas(make_replica)
    db = tmp_path / "v.db"
    config = _config(tmp_path, portal, paper)
    args = ("--db", str(db), "--config", str(config), *FAST)

    assert run_command("backfill", "--since", "2000-01-01", *args) == 0

    out = capsys.readouterr().out
    assert "backfill vksndtc: ok" in out and "backfill baovephapluat: ok" in out
    assert_store_matches(db, _truth(portal), site="vksndtc")
    assert_store_matches(db, _truth(paper), site="baovephapluat")
    assert sorted(_runs(db)) == sorted(SITES)
    assert run_command("backfill", "--since", "2000-01-01", "--category", "2", *args) == 2


def test_a_503_storm_on_one_site_slows_only_its_host(
    make_replica: MakeReplica, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The portal's article pages answer 503 with Retry-After: 2, a storm of eight (its
    listings do not). The paper's crawl, at the same rate, ends long before the portal's first
    Retry-After is over."""
    portal = make_replica(  # type: ignore[operator]
        articles=30, seed=11, redirects=0, fail_rate=1.0, faults=["503"], retry_after=2,
        fault_path=r"\.html", fault_count=8,
    )  # fmt: skip
    paper = make_replica(site="baovephapluat", articles=30, seed=5)  # type: ignore[operator]
    db = tmp_path / "v.db"
    config = _config(tmp_path, portal, paper)

    run_command("crawl", "--db", str(db), "--config", str(config), *FAST)

    assert "crawl baovephapluat: ok" in capsys.readouterr().out
    assert_store_matches(db, _truth(paper), site="baovephapluat")
    runs = _runs(db)
    assert runs["baovephapluat"]["outcome"] == "ok"
    assert 503 in {r["status"] for r in portal.requests()}
    paper_took = _seconds(runs["baovephapluat"])
    assert paper_took < 2.0, runs  # never waited on the portal's Retry-After
    assert _seconds(runs["vksndtc"]) >= 2.0, runs  # the portal's host did wait
    assert runs["baovephapluat"]["finished_at"] < runs["vksndtc"]["finished_at"]
    statuses = {r["status"] for r in paper.requests()}
    assert 503 not in statuses


def test_the_worst_site_outcome_is_the_runs() -> None:
    by_site = {name: RunReport("crawl") for name in ("a", "b", "c")}
    for (name, report), outcome in zip(
        by_site.items(), (RunOutcome.OK, RunOutcome.PARTIAL, RunOutcome.FAILED), strict=True
    ):
        report.outcome = outcome
        report.counters.new_articles = 2
        report.reason = None if outcome is RunOutcome.OK else f"{name} went wrong"
    overall = RunReport("crawl")
    combine(overall, by_site)
    assert overall.outcome is RunOutcome.FAILED
    assert overall.reason == "b: partial (b went wrong); c: failed (c went wrong)"
    assert overall.counters.new_articles == 6
    by_site["c"].outcome = RunOutcome.INTERRUPTED
    combine(overall := RunReport("crawl"), by_site)
    assert overall.outcome is RunOutcome.INTERRUPTED
    by_site["c"].outcome = by_site["b"].outcome = RunOutcome.OK
    combine(overall := RunReport("crawl"), by_site)
    assert overall.outcome is RunOutcome.OK and overall.reason is None


def _runs(db: Path) -> dict[str, dict[str, str]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT site, outcome, started_at, finished_at FROM runs").fetchall()
    return {row["site"]: dict(row) for row in rows}


def _seconds(run: dict[str, str]) -> float:
    started = datetime.fromisoformat(run["started_at"])
    return (datetime.fromisoformat(run["finished_at"]) - started).total_seconds()


@pytest.mark.slow
def test_the_daemon_crawls_both_sites_and_serves_them_apart(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    portal, paper = _two_replicas(make_replica)
    db = tmp_path / "v.db"
    config = _config(tmp_path, portal, paper)
    port = _free_port()
    proc = subprocess.Popen(
        cli("run", "--db", str(db), "--config", str(config), *FAST, "--interval", "1h",
            "--jitter", "0", "--http", f"127.0.0.1:{port}"),
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        health: dict[str, Any] = {}
        wait_until(lambda: _health_with_sites(base, health), timeout=60)
        assert health["sites"]["vksndtc"]["crawl"]["outcome"] == "ok"
        assert health["sites"]["baovephapluat"]["crawl"]["outcome"] == "ok"
        assert health["last_pass"]["outcome"] == "ok"
        feed = httpx.get(f"{base}/articles", params={"site": "baovephapluat", "limit": 500})
        assert feed.status_code == 200
        page = feed.json()
        assert page["site"] == "baovephapluat"
        assert {a["site"] for a in page["articles"]} == {"baovephapluat"}
        assert len(page["articles"]) == len(_truth(paper))
        everything = httpx.get(f"{base}/articles", params={"limit": 500}).json()
        assert {a["site"] for a in everything["articles"]} == set(SITES)
        bad = httpx.get(f"{base}/articles", params={"site": "../x"})
        assert bad.status_code == 400 and "site" in bad.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_store_matches(db, _truth(portal), site="vksndtc")
    assert_store_matches(db, _truth(paper), site="baovephapluat")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health_with_sites(base: str, into: dict[str, Any]) -> bool:
    """Whether /healthz lists a crawl pass of both sites yet (its body copied ``into``)."""
    try:
        body: dict[str, Any] = httpx.get(f"{base}/healthz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    sites = body.get("sites") or {}
    if not all("crawl" in sites.get(name, {}) for name in SITES):
        return False
    into.update(body)
    return True


def test_the_sites_setting_and_its_errors(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    listed = load_settings({"sites": "vksndtc, baovephapluat"}, env, None)
    assert [s.name for s in listed.sites] == list(SITES)
    path = tmp_path / "vksnd.toml"
    path.write_text(
        'sites = ["vksndtc", { name = "paper", profile = "baovephapluat", rate = 0.5 }]\n',
        encoding="utf-8",
    )
    settings = load_settings({}, env, path)
    plans = {plan.name: plan.settings for plan in plan_sites(settings)}
    assert sorted(plans) == ["paper", "vksndtc"]
    assert plans["paper"].profile.name == "baovephapluat"
    assert plans["paper"].politeness.rate == 0.5
    assert plans["vksndtc"].politeness.rate == settings.politeness.rate
    assert plans["paper"].base_url == "https://baovephapluat.vn"
    assert plans["paper"].scope_hosts != plans["vksndtc"].scope_hosts
    # each URL is read (reparse) and keyed (frontier) by its own site's profile
    rules = SiteRules.of(plan_sites(settings))
    paper_url = "https://baovephapluat.vn/kiem-sat-24h/hoat-dong-nganh/mot-bai-viet-148221.html"
    portal_url = "https://vksndtc.gov.vn/tin-tuc/tin-hoat-dong/bai-viet-d2-t12.html"
    assert rules.profile_of(paper_url).name == "baovephapluat"
    assert rules.profile_of(portal_url).name == "vksndtc"
    assert rules.sites.site_of(paper_url) == "paper"
    assert rules.url_key(paper_url) == "baovephapluat:148221"
    assert rules.url_key(portal_url) == "12"
    for text, message in (
        ('sites = ["nope"]', "sites.nope"),
        ('sites = ["vksndtc", "vksndtc"]', "listed twice"),
        ("[sites.vksndtc]\nspeed = 3", "sites.vksndtc.speed: unknown key"),
        ('[sites.vksndtc]\nbase_url = "ftp://x"', "sites.vksndtc.base_url"),
        ('sites = ["Bad Name"]', "site name 'Bad Name'"),
    ):
        path.write_text(text + "\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="sites") as caught:
            load_settings({}, env, path)
        assert message in str(caught.value)
    single = load_settings({}, env, None)
    assert [plan.name for plan in plan_sites(single)] == ["vksndtc"]
