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

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from crawl_support import FAST, current_articles, integrity, run_cli
from loopback import Handler, Loopback, send
from test_hostile_input import CATEGORY, article_path
from test_parse_robust import PORTAL_HTML

from crawler.config import DEFAULT_BASE_URL, PolitenessConfig, RetryConfig, Settings
from crawler.errors import OutOfScope
from crawler.fetch import Fetcher
from fixtures.urls import listing_path
from parsers.profiles.vksndtc import PROFILE
from parsers.urls import canonicalize

LISTING = listing_path(CATEGORY, 1)


def _off_scope_links(portal: Loopback, trap: Loopback) -> list[str]:
    port, trap_port = portal.host_key.split(":")[1], trap.host_key.split(":")[1]
    article = article_path(7)
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
    server.routes[article_path(7)] = lambda h: send(h, 200, PORTAL_HTML.encode())
    yield server
    server.stop()


@pytest.fixture
def portal(trap: Loopback) -> Iterator[Loopback]:
    server = Loopback().start()
    port = server.host_key.split(":")[1]
    redirects = {
        101: trap.url(article_path(7)),
        102: f"//127.0.0.2:{trap.host_key.split(':')[1]}{article_path(7)}",
        103: f"http://localhost:{port}{article_path(100)}",
        104: "file:///etc/passwd",
        105: f"http://[::1]:{port}{article_path(100)}",
        106: f"https://vksndtc.gov.vn{article_path(100)}",
        107: "javascript:alert(1)",
    }
    links = [article_path(100), *(article_path(n) for n in redirects)]
    links += _off_scope_links(server, trap)
    anchors = "".join(f'<li><a href="{link}">tin {i}</a></li>' for i, link in enumerate(links))
    body = f"<html><body><ul class='news-list'>{anchors}</ul></body></html>".encode()
    server.routes[LISTING] = lambda h: send(h, 200, body)
    server.routes[article_path(100)] = lambda h: send(h, 200, PORTAL_HTML.encode())
    for number, location in redirects.items():
        server.routes[article_path(number)] = _redirect(location)
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
    assert done.returncode == 0, done.stderr[-3000:]

    assert trap.seen == [], [s.path for s in trap.seen]
    redirects: dict[int, str] = portal.redirects  # type: ignore[attr-defined]
    allowed = {"/robots.txt", LISTING, article_path(100), *(article_path(n) for n in redirects)}
    asked = portal.paths()
    assert set(asked) <= allowed, set(asked) - allowed
    assert all(len(portal.hits(article_path(n))) == 1 for n in redirects)  # never retried
    states = _states(db)
    assert set(states) <= {portal.url(p) for p in allowed}, "an off-scope URL entered the frontier"
    for number in redirects:
        state, error = states[portal.url(article_path(number))]
        # httpx refuses to even build a URL from `javascript:alert(1)`: recorded as invalid URL
        reason = "invalid URL" if number == 107 else "redirect rejected"
        assert state == "skipped" and error and reason in error, (number, error)
    assert [a.url for a in current_articles(db)] == [portal.url(article_path(100))]
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
