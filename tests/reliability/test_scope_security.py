"""The scope is a whitelist of hosts: nothing outside it is ever fetched, whatever a page says.

A hostile "portal" on 127.0.0.1 lists links to another loopback address (127.0.0.2, a real
server here that must receive nothing), ``file:``, ``javascript:``, ``data:``, IP literals in
every spelling, ``localhost``, the real portal, and serves articles that redirect to all of those.
``vksnd crawl`` runs against it; the trap's request log must stay empty, the portal's log must
hold only what was listed in scope, and each rejected redirect must be recorded with its reason.
With the real portal's profile as the scope, loopback and IP-literal URLs are refused before any
connection is made.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.crawl import FAST, current_articles, integrity, run_cli
from support.loopback import Handler, Loopback, send
from support.pages import CATEGORY, PORTAL_HTML, hostile_article_path
from support.pages import URL as PAGE_URL
from support.storage import make_article, make_raw
from vksnd.crawler.config import DEFAULT_BASE_URL, PolitenessConfig, RetryConfig, Settings
from vksnd.crawler.fetch.errors import OutOfScope
from vksnd.crawler.fetch.fetcher import Fetcher
from vksnd.fixtures.urls import listing_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.errors import ParseError
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.parsers.urls import canonicalize
from vksnd.storage.export import LOCK_NAME, MANIFEST_NAME, export_corpus, export_jsonl
from vksnd.storage.records import ExportFilter, StoreRequest
from vksnd.storage.schema import open_reader
from vksnd.storage.sqlite import SqliteStore

LISTING = listing_path(CATEGORY, 1)
FILE_NAME = re.compile(r"\d{3,}_[0-9a-f]{16}\.txt")


def _off_scope_links(portal: Loopback, trap: Loopback) -> list[str]:
    port, trap_port = portal.host_key.split(":")[1], trap.host_key.split(":")[1]
    article = hostile_article_path(7)
    return [
        trap.url(article),
        f"//127.0.0.2:{trap_port}{article}",
        f"http://localhost:{port}{article}",
        f"http://[::1]:{port}{article}",
        f"http://2130706433:{port}{article}",
        f"http://0x7f000001:{port}{article}",
        f"http://127.1:{port}{article}",
        f"http://127.0.0.1.nip.io:{port}{article}",
        f"http://127.0.0.2@127.0.0.1.evil.invalid:{port}{article}",
        f"https://vksndtc.gov.vn{article}",
        f"file:///etc/passwd#{article}",
        f"javascript:fetch('{trap.url(article)}')",
        f"data:text/html,<a href='{trap.url(article)}'>x</a>",
        f"ftp://127.0.0.1:{port}{article}",
    ]


def _redirect(location: str) -> Callable[[Handler], None]:
    return lambda handler: send(handler, 302, b"", {"Location": location})


@pytest.fixture
def trap() -> Iterator[Loopback]:
    server = Loopback(host="127.0.0.2").start()
    server.routes[hostile_article_path(7)] = lambda h: send(h, 200, PORTAL_HTML.encode())
    yield server
    server.stop()


@pytest.fixture
def portal(trap: Loopback) -> Iterator[Loopback]:
    server = Loopback().start()
    port = server.host_key.split(":")[1]
    redirects = {
        101: trap.url(hostile_article_path(7)),
        102: f"//127.0.0.2:{trap.host_key.split(':')[1]}{hostile_article_path(7)}",
        103: f"http://localhost:{port}{hostile_article_path(100)}",
        104: "file:///etc/passwd",
        105: f"http://[::1]:{port}{hostile_article_path(100)}",
        106: f"https://vksndtc.gov.vn{hostile_article_path(100)}",
        107: "javascript:alert(1)",
    }
    links = [hostile_article_path(100), *(hostile_article_path(n) for n in redirects)]
    links += _off_scope_links(server, trap)
    anchors = "".join(f'<li><a href="{link}">tin {i}</a></li>' for i, link in enumerate(links))
    body = f"<html><body><ul class='news-list'>{anchors}</ul></body></html>".encode()
    server.routes[LISTING] = lambda h: send(h, 200, body)
    server.routes[hostile_article_path(100)] = lambda h: send(h, 200, PORTAL_HTML.encode())
    for number, location in redirects.items():
        server.routes[hostile_article_path(number)] = _redirect(location)
    server.redirects = redirects  # type: ignore[attr-defined]
    yield server
    server.stop()


def _states(db: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT url, state, last_error FROM urls").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_crawl_never_leaves_the_whitelist(
    portal: Loopback, trap: Loopback, tmp_path: Path
) -> None:
    db = tmp_path / "v.db"
    done = run_cli(
        "crawl", "--base-url", portal.base_url, "--db", str(db), *FAST,
        cwd=tmp_path, VKSND_CATEGORIES=str(CATEGORY),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr[-3000:]  # partial: the redirects are skipped

    assert trap.seen == [], [s.path for s in trap.seen]
    redirects: dict[int, str] = portal.redirects  # type: ignore[attr-defined]
    allowed = {
        "/robots.txt",
        LISTING,
        hostile_article_path(100),
        *(hostile_article_path(n) for n in redirects),
    }
    asked = portal.paths()
    assert set(asked) <= allowed, set(asked) - allowed
    assert all(len(portal.hits(hostile_article_path(n))) == 1 for n in redirects)  # never retried
    states = _states(db)
    assert set(states) <= {portal.url(p) for p in allowed}, "an off-scope URL entered the frontier"
    for number in redirects:
        state, error = states[portal.url(hostile_article_path(number))]
        # httpx refuses to even build a URL from `javascript:alert(1)`: recorded as invalid URL
        reason = "invalid URL" if number == 107 else "redirect rejected"
        assert state == "skipped" and error and reason in error, (number, error)
    assert [a.url for a in current_articles(db)] == [portal.url(hostile_article_path(100))]
    assert integrity(db) == "ok"


SNEAKY = [
    "http://127.0.0.2:{port}/x",
    "http://127.0.0.1:{port}/x",
    "http://localhost:{port}/x",
    "http://[::1]:{port}/x",
    "http://[::ffff:127.0.0.2]:{port}/x",
    "http://2130706434:{port}/x",
    "http://0x7f000002:{port}/x",
    "http://127.2:{port}/x",
    "https://vksndtc.gov.vn@127.0.0.2:{port}/x",
    "https://vksndtc.gov.vn.127.0.0.2.nip.io:{port}/x",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/html,x",
]


async def test_with_the_real_portals_scope_loopback_and_ip_literals_are_refused_unasked(
    trap: Loopback,
) -> None:
    """The production scope (the profile's hosts): no loopback, no IP, no look-alike host."""
    port = trap.host_key.split(":")[1]
    settings = Settings(
        base_url=DEFAULT_BASE_URL,
        politeness=PolitenessConfig(rate=1000.0, obey_robots=False),
        retry=RetryConfig(attempts=1, initial=0, max_wait=0, jitter=0),
    )
    assert settings.scope_hosts == frozenset(PROFILE.hosts)
    async with Fetcher(settings) as fetcher:
        for template in SNEAKY:
            url = template.format(port=port)
            assert (
                canonicalize(url, base=DEFAULT_BASE_URL, scope_hosts=settings.scope_hosts) is None
            )
            with pytest.raises(OutOfScope):
                await fetcher.fetch(url)
    assert trap.seen == []


# --- output: nothing from a page names a file; any text gives valid JSON; SQL is parameterized --

HOSTILE_STRINGS = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "a\x00b.txt",
    "'; DROP TABLE articles; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM urls;--",
    "%s %d {0} {title}",
    "\u202etxt.exe",
    "\ufeff\u200b\u2028\u2029",
    "x" * 200_000,
]
stored_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=300)


def _hostile_requests(titles: list[str], captions: list[str]) -> list[StoreRequest]:
    requests = []
    for i, title in enumerate(titles):
        url = f"https://vksndtc.gov.vn/tin-tuc/x-d2-t{i + 1}.html?q={quote(title[:50])}'\""
        text = f"Bài số {i}.\n\n{title}"
        article = make_article(url, text, title=title, captions=(captions[i % len(captions)],))
        requests.append(StoreRequest(article, make_raw(url, title.encode("utf-8"))))
    return requests


async def _store_export_and_check(tmp_path: Path, titles: list[str], captions: list[str]) -> None:
    db, out = tmp_path / "v.db", tmp_path / "out"
    requests = _hostile_requests(titles, captions)
    async with await SqliteStore.open(db) as store:
        results = await store.store_articles(requests)
    assert len(results) == len(requests)
    # Read back with plain sqlite3: every value exactly as given, the schema untouched.
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT url, title, text, captions FROM articles ORDER BY seq")
        got = [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    want = [(r.article.url, r.article.title, r.article.text, list(r.article.captions))
            for r in requests]  # fmt: skip
    assert got == want
    assert {"articles", "urls", "article_urls", "pages", "runs"} <= tables

    conn = open_reader(db)
    try:
        export_corpus(conn, out, ExportFilter())
        jsonl = io.StringIO()
        export_jsonl(conn, jsonl, ExportFilter())
    finally:
        conn.close()
    names = sorted(p.name for p in out.iterdir())
    assert all(FILE_NAME.fullmatch(n) for n in names if n not in (MANIFEST_NAME, LOCK_NAME))
    assert [p for p in tmp_path.rglob("*") if not p.is_relative_to(out) and p.parent != tmp_path
            ] == []  # fmt: skip
    # JSON Lines are split on "\n" only: U+2028 and friends stay raw inside a line (valid JSON).
    manifest = [json.loads(line) for line in (out / MANIFEST_NAME).read_bytes().split(b"\n")[:-1]]
    objects = [json.loads(line) for line in jsonl.getvalue().split("\n")[:-1]]
    assert [m["title"] for m in manifest] == [o["title"] for o in objects] == titles
    assert [o["text"] for o in objects] == [r.article.text for r in requests]
    for entry in manifest:
        assert (out / entry["file"]).read_bytes().decode("utf-8").endswith(entry["title"])


async def test_hostile_titles_name_no_file_and_round_trip(tmp_path: Path) -> None:
    await _store_export_and_check(tmp_path, HOSTILE_STRINGS, ["../caption", "c" * 100_000])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    titles=st.lists(stored_text, min_size=1, max_size=8),
    captions=st.lists(stored_text, min_size=1, max_size=3),
)
def test_any_text_is_stored_exactly_and_exported_as_valid_json(
    tmp_path_factory: pytest.TempPathFactory, titles: list[str], captions: list[str]
) -> None:
    asyncio.run(_store_export_and_check(tmp_path_factory.mktemp("any"), titles, captions))


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=80), body=st.text(min_size=20, max_size=400))
def test_a_page_with_any_text_parses_to_utf8_clean_fields_or_a_typed_error(
    title: str, body: str
) -> None:
    """Lone surrogates and NULs in the page cannot reach storage: the parser decodes bytes, so
    what it returns always encodes to UTF-8 (the export's JSON needs nothing else)."""
    html = PORTAL_HTML.replace("Đại hội Đảng bộ", title, 1).replace(
        '<div class="news-content">', f'<div class="news-content"><p>{body}</p>', 1
    )
    try:
        article = parse_article(html.encode("utf-8", "surrogatepass"), PAGE_URL)
    except ParseError:
        return
    for value in (article.title, article.text, *article.captions, article.author or ""):
        value.encode("utf-8")  # no lone surrogate
        json.loads(json.dumps(value, ensure_ascii=False))
