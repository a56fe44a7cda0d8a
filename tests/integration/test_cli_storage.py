"""``vksnd export``, ``stats`` and ``reparse`` as real subprocesses."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support.storage import ROOT, article_url, make_article, make_raw
from vksnd.fixtures.generator import build_site
from vksnd.fixtures.layouts import encode_page, render_portal
from vksnd.fixtures.urls import article_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.hashing import content_hash
from vksnd.storage.records import RawPage, RunCounters, RunOutcome, StoreOutcome, UrlKind
from vksnd.storage.sqlite import SqliteStore

NAME = re.compile(r"^\d{3,}_[0-9a-f]{16}\.txt$")
BASE = "https://vksndtc.gov.vn"


def vksnd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VKSND_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "vksnd.crawler", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def filled_db(tmp_path: Path) -> Path:
    db = tmp_path / "data" / "v.db"

    async def fill() -> None:
        async with await SqliteStore.open(db) as store:
            for i in range(5):
                url = article_url(i)
                await store.store_article(make_article(url, f"Bài {i}."), make_raw(url), None, None)
            await store.store_article(
                make_article(article_url(9), "Bài 0."), make_raw(article_url(9)), None, None
            )
            await store.store_article(
                make_article(article_url(1), "Bài 1, sửa."), make_raw(article_url(1)), None, None
            )
            await store.record_failure(article_url(50), "timeout", None, None)
            run = await store.start_run("crawl")
            await store.finish_run(run, RunCounters(pages_fetched=7), outcome=RunOutcome.OK)

    asyncio.run(fill())
    return db


def test_export_writes_the_corpus_then_nothing(filled_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    first = vksnd("export", "--db", str(filled_db), "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "5 written" in first.stdout
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".txt")
    assert len(names) == 5 and all(NAME.match(n) for n in names)
    texts = {(out / n).read_text(encoding="utf-8") for n in names}
    assert texts == {"Bài 0.", "Bài 1, sửa.", "Bài 2.", "Bài 3.", "Bài 4."}
    for name in names:
        assert name[4:20] == content_hash((out / name).read_text(encoding="utf-8"))[:16]
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["file"] for line in lines) == names

    second = vksnd("export", "--db", str(filled_db), "--out", str(out))
    assert second.returncode == 0 and "0 written" in second.stdout
    assert len((out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()) == 5

    every = vksnd("export", "--db", str(filled_db), "--out", str(out), "--include-superseded")
    assert every.returncode == 0 and "1 written" in every.stdout


def test_export_jsonl_to_stdout_and_env_database(filled_db: Path) -> None:
    result = vksnd("export", "--format", "jsonl", "--after-seq", "2",
                   env={"VKSND_DB": str(filled_db)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["seq"] for o in objects] == [3, 4, 5, 6]
    assert all(o["text"].startswith("Bài") for o in objects)


def test_stats_json_counts(filled_db: Path) -> None:
    result = vksnd("stats", "--json", "--db", str(filled_db))
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["articles"] == 5 and stats["versions"] == 6
    assert stats["superseded_versions"] == 1 and stats["urls_collapsed"] == 1
    assert stats["urls_by_state"] == {"fetched": 6, "failed": 1}
    assert stats["failures_by_reason"] == {"timeout": 1}
    assert stats["last_runs"][0]["counters"]["pages_fetched"] == 7
    text = vksnd("stats", "--db", str(filled_db))
    assert text.returncode == 0 and "URLs collapsed" in text.stdout


def test_missing_database_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nothing.db"
    for args in (("stats",), ("export", "--out", str(tmp_path / "o")), ("reparse",)):
        result = vksnd(*args, "--db", str(db))
        assert result.returncode == 1, args
        assert str(db) in result.stderr
    assert not db.exists()


def test_after_seq_and_since_are_exclusive(filled_db: Path, tmp_path: Path) -> None:
    result = vksnd("export", "--db", str(filled_db), "--out", str(tmp_path / "o"),
                   "--after-seq", "1", "--since", "2024-01-01")  # fmt: skip
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_reparse_stores_new_versions_where_the_parser_now_differs(tmp_path: Path) -> None:
    """Pages archived with the text an older, sloppier parser produced (a chrome line left in):
    reparse re-extracts them with the current parser, offline, and stores the clean text as a
    new version; a second reparse finds nothing to change."""
    db = tmp_path / "v.db"
    site = build_site(4, seed=5)[:4]

    async def fill() -> list[str]:
        clean_texts = []
        async with await SqliteStore.open(db) as store:
            for article in site:
                url = BASE + article_path(article)
                body, content_type = encode_page(render_portal(article, url), "utf-8")
                parsed = parse_article(body, url, content_type)
                clean_texts.append(parsed.text)
                sloppy_text = parsed.text + "\n\nCỡ chữ: Tương phản"
                sloppy = dataclasses.replace(
                    parsed, text=sloppy_text, content_hash=content_hash(sloppy_text)
                )
                raw = RawPage(url, url, 200, (("Content-Type", content_type),), body,
                              make_raw(url).fetched_at)  # fmt: skip
                result = await store.store_article(sloppy, raw, None, None)
                assert result.outcome is StoreOutcome.NEW
        return clean_texts

    clean_texts = asyncio.run(fill())
    first = vksnd("reparse", "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "4 archived pages re-extracted: 4 changed" in first.stdout
    second = vksnd("reparse", "--db", str(db), "--since", "2020-01-01")
    assert second.returncode == 0 and "0 changed, 4 unchanged" in second.stdout

    conn = sqlite3.connect(db)
    try:
        current = [
            r[0]
            for r in conn.execute("SELECT text FROM articles WHERE is_current = 1 ORDER BY seq")
        ]
        versions = conn.execute("SELECT count(*), count(supersedes) FROM articles").fetchone()
    finally:
        conn.close()
    assert current == clean_texts
    assert versions == (8, 4)


def test_reparse_recovers_pages_an_earlier_parser_refused(tmp_path: Path) -> None:
    """A page fetched for an article that the parser of the day refused (as after a template
    change it could not read) is read again by reparse: the current parser takes it, so it
    is stored as an article and its URL no longer says "not an article". A page that still
    is no article (a listing) stays as it was and is not a failure. Rerunning changes nothing."""
    db = tmp_path / "v.db"
    article = build_site(1, seed=9)[0]
    url = BASE + article_path(article)
    body, content_type = encode_page(render_portal(article, url), "utf-8")
    listing_url = BASE + "/tintuc/Pages/lists.aspx?Cat=2&Page=1"
    listing = (
        b'<html><body><div class="news-list"><div class="news-item"></div></div></body></html>'
    )
    headers = (("Content-Type", content_type),)

    async def fill() -> None:
        async with await SqliteStore.open(db) as store:
            for page_url, page_body, reason in (
                (url, body, "empty"),
                (listing_url, listing, "listing"),
            ):
                raw = RawPage(page_url, page_url, 200, headers, page_body, make_raw(url).fetched_at)
                await store.record_page(raw, UrlKind.OTHER, None, None, not_article=reason)

    asyncio.run(fill())
    first = vksnd("reparse", "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "2 archived pages re-extracted: 1 changed, 1 unchanged, 0 not parsed" in first.stdout
    assert "of 2 pages refused as not an article before, 1 are articles now" in first.stdout
    second = vksnd("reparse", "--db", str(db))
    assert second.returncode == 0 and "0 changed" in second.stdout, second.stdout

    conn = sqlite3.connect(db)
    try:
        rows = dict(
            ((u, (k, n)) for u, k, n in conn.execute("SELECT url, kind, not_article FROM urls"))
        )
        texts = [r[0] for r in conn.execute("SELECT text FROM articles WHERE is_current = 1")]
    finally:
        conn.close()
    assert rows == {url: ("article", None), listing_url: ("other", "listing")}
    assert texts == [parse_article(body, url, content_type).text]


@pytest.mark.parametrize(
    "argv",
    [
        ("stats",),
        ("stats", "--json"),
        ("export", "--format", "jsonl"),
        ("clean", *[str(p) for p in sorted((ROOT / "fixtures" / "seeds").glob("*.txt"))] * 20),
        ("parse", str(ROOT / "tests" / "data" / "generic_news_page.html")),
    ],
    ids=["stats", "stats-json", "export-jsonl", "clean", "parse"],
)
def test_output_piped_into_a_reader_that_left_exits_quietly(
    filled_db: Path, argv: tuple[str, ...]
) -> None:
    """b2de816: ``vksnd stats | head -1`` (the reader gone before we write) ended with a
    BrokenPipeError traceback and exit 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VKSND_")}
    env["VKSND_DB"] = str(filled_db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vksnd.crawler", *argv], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader left before anything was written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert err == "" or "exported" in err, err
