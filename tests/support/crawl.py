"""Helpers shared by the orchestration tests (crawl, backfill, daemon, pipeline).

Commands run in-process through their own module (fast) or as real subprocesses
(``python -m vksnd.crawler ...``) where a signal or a kill is the point. The database is read with
plain ``sqlite3`` so the assertions do not trust the code under test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from vksnd.crawler.config import FetchConfig, PolitenessConfig, RetryConfig, Settings

ROOT = Path(__file__).resolve().parents[2]

# Politeness lifted for speed: the replica is ours, on loopback.
FAST = ("--rate", "2000", "--host-concurrency", "8", "--global-concurrency", "8",
        "--retry-attempts", "2")  # fmt: skip


def fast_settings(base_url: str, db: Path, concurrency: int = 8) -> Settings:
    return Settings(
        base_url=base_url,
        db=db,
        fetch=FetchConfig(global_concurrency=concurrency),
        politeness=PolitenessConfig(rate=2000, host_concurrency=concurrency),
        retry=RetryConfig(attempts=1, initial=0, max_wait=0, jitter=0),
    )


def run_command(name: str, *argv: str) -> int:
    """Run ``vksnd NAME ARGV`` in this process, through the command module alone."""
    module = importlib.import_module(f"vksnd.crawler.cli.commands.{name}")
    parser = argparse.ArgumentParser(prog=f"vksnd {name}")
    module.add_arguments(parser)
    code: int = module.run(parser.parse_args(list(argv)))
    return code


def site_args(base_url: str, db: Path) -> tuple[str, ...]:
    return ("--base-url", base_url, "--db", str(db), *FAST)


def cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "vksnd.crawler", *argv]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VKSND_")}
    env.update(extra)
    return env


def run_cli(
    *argv: str, cwd: Path, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*argv), cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredArticle:
    key: str | None
    url: str
    canonical_url: str
    title: str
    published_at: str | None
    author: str | None
    text: str
    captions: tuple[str, ...]
    root_id: int


def _captions(raw: str) -> tuple[str, ...]:
    value = json.loads(raw)
    return tuple(value) if isinstance(value, list) else ()


def current_articles(db: Path, site: str | None = None) -> list[StoredArticle]:
    """The current versions (of one ``site`` only, when given)."""
    of_site = "" if site is None else " AND site = ?"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT article_key, url, canonical_url, title, published_at, author, text, captions,"
            f" root_id FROM articles WHERE is_current = 1{of_site} ORDER BY id",
            () if site is None else (site,),
        ).fetchall()
    return [StoredArticle(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _captions(r[7]), r[8])
            for r in rows]  # fmt: skip


def count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(sql, params).fetchone()
    return int(row[0])


def integrity(db: Path) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def truth_articles(
    truth: Mapping[str, Any], since: date | None = None, until: date | None = None
) -> list[dict[str, Any]]:
    out = []
    for article in truth["articles"]:
        day = date.fromisoformat(article["published"])
        if (since is None or day >= since) and (until is None or day <= until):
            out.append(article)
    return out


def assert_store_matches(
    db: Path, expected: Iterable[Mapping[str, Any]], *, site: str | None = None
) -> None:
    """Exactly these articles, each once, with their title, date, author, text and captions
    (the articles of one ``site``, when given)."""
    stored = current_articles(db, site)
    by_key: dict[str, list[StoredArticle]] = {}
    for article in stored:
        by_key.setdefault(str(article.key), []).append(article)
    want = {str(a["id"]): a for a in expected}
    assert sorted(by_key) == sorted(want), (
        f"missing {sorted(set(want) - set(by_key))}, unexpected {sorted(set(by_key) - set(want))}"
    )
    for key, truth in want.items():
        (article,) = by_key[key]  # once
        assert article.title == truth["title"], key
        assert article.published_at is not None
        assert article.published_at[:10] == truth["published"], key
        assert article.author == truth["author"], key
        assert article.text == truth["text"], key
        assert list(article.captions) == truth["captions"], key


def article_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def article_hits(requests: Iterable[Mapping[str, Any]], paths: set[str]) -> dict[int, int]:
    """Status -> number of GETs the replica answered for these article paths."""
    counts: dict[int, int] = {}
    for entry in requests:
        if entry["method"] == "GET" and entry["path"] in paths:
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return counts


def json_lines(stream: IO[str], out: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        try:
            out.put(json.loads(line))
        except json.JSONDecodeError:
            out.put({"event": "non_json", "message": line})


def wait_for_events(
    events: queue.Queue[dict[str, Any]], wanted: str, n: int, timeout: float
) -> list[dict[str, Any]]:
    """Read log events until ``n`` of kind ``wanted`` arrived (or fail at the deadline)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(seen) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(seen)} {wanted} events in {timeout}s"
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            continue
        if event.get("event") == wanted:
            seen.append(event)
    return seen
