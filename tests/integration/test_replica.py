"""The replica over real HTTP: pages, listings, aliases, validators, dynamics, faults, truth."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.crawl import current_articles, run_command, site_args
from vksnd.fixtures.model import expected_captions, expected_text
from vksnd.fixtures.portal import ReplicaServer, replica_config
from vksnd.fixtures.urls import article_path

MakeReplica = Callable[..., ReplicaServer]
ITEM_LINK = re.compile(r'class="news-item"><a [^>]*href="([^"]+)"')
NEXT_LINK = re.compile(r'class="next" href="([^"]+)"')
ARTICLE_ID = re.compile(r"-t(\d+)\.html|ItemID=(\d+)|bai-cu-(\d+)\.html")


def client(server: ReplicaServer, **options: Any) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10, **options)


def text_of(response: httpx.Response) -> str:
    """The page as a reader sees it: decoded by its declared charset, NFC, entities resolved."""
    charset = response.charset_encoding or "utf-8"
    return unicodedata.normalize("NFC", html.unescape(response.content.decode(charset)))


def article_id(url: str) -> int:
    match = ARTICLE_ID.search(url)
    assert match, url
    return int(next(g for g in match.groups() if g))


def walk_listing(http: httpx.Client, first: str) -> list[str]:
    """Item links of every page of a listing, following its "next" links."""
    links: list[str] = []
    url: str | None = first
    while url is not None:
        response = http.get(url)
        assert response.status_code == 200, url
        page = response.text
        links += [html.unescape(h) for h in ITEM_LINK.findall(page)]
        nxt = NEXT_LINK.search(page)
        url = html.unescape(nxt.group(1)) if nxt else None
    return links


def by_id(truth: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {a["id"]: a for a in truth["articles"]}


# --- pages ---------------------------------------------------------------------------------


def test_home_links_every_category_and_the_latest_articles(replica: ReplicaServer) -> None:
    truth = replica.truth()
    with client(replica) as http:
        home = http.get("/")
    assert home.status_code == 200
    page = html.unescape(home.text)
    for category in replica.site.categories:
        assert replica.site.listing_url_for(category.id, 1) in page
    newest = max(truth["articles"], key=lambda a: a["published_at"])
    assert newest["title"] in page


@pytest.mark.parametrize("scheme", ["legacy", "section"])
def test_listings_hold_every_article_once_newest_first(
    make_replica: MakeReplica, scheme: str
) -> None:
    server = make_replica(articles=60, seed=3, page_size=7, listing_scheme=scheme)
    truth = server.truth()
    articles = by_id(truth)
    broken = {article_id(u) for u in truth["broken"]}
    seen: list[int] = []
    with client(server) as http:
        for category in server.site.categories:
            links = walk_listing(http, server.site.listing_url_for(category.id, 1))
            ids = [article_id(link) for link in links]
            seen += ids
            dates = [articles[i]["published_at"] for i in ids if i in articles]
            assert dates == sorted(dates, reverse=True), category.slug
            assert all(articles[i]["category"] == category.id for i in ids if i in articles)
    assert sorted(seen) == sorted([*articles, *broken])
    assert len(seen) == len(set(seen))


def test_listing_beyond_the_last_page_is_empty(replica: ReplicaServer) -> None:
    with client(replica) as http:
        response = http.get("/tintuc/Pages/lists.aspx?Cat=2&Page=999")
    assert response.status_code == 200
    assert ITEM_LINK.findall(response.text) == []


def test_every_article_page_shows_its_title(replica: ReplicaServer) -> None:
    with client(replica) as http:
        for article in replica.truth()["articles"]:
            response = http.get(article["canonical_url"])
            assert response.status_code == 200
            assert article["title"] in text_of(response)


def test_aliases_serve_the_same_article(replica: ReplicaServer) -> None:
    truth = replica.truth()
    with client(replica) as http:
        for article in truth["articles"]:
            canonical = http.get(article["canonical_url"])
            assert len(article["aliases"]) >= 2  # at least the legacy URL and the print view
            for alias in article["aliases"]:
                response = http.get(alias)
                assert response.status_code == 200, alias
                assert article["title"] in text_of(response)
                if "pFormPrint" not in alias:
                    assert response.content == canonical.content
            leftover = http.get(article["canonical_url"] + "?Page=270")
            assert leftover.content == canonical.content


def test_legacy_url_with_item_is_an_article_without_it_a_listing(replica: ReplicaServer) -> None:
    article = replica.truth()["articles"][0]
    cat, item = article["category"], article["id"]
    with client(replica) as http:
        page = http.get(f"/tintuc/Pages/lists.aspx?Cat={cat}&ItemID={item}&Page=4")
        listing = http.get(f"/tintuc/Pages/lists.aspx?Cat={cat}&Page=1")
    assert article["title"] in text_of(page)
    assert ITEM_LINK.findall(page.text) == []
    assert ITEM_LINK.findall(listing.text) != []


def test_print_view_is_its_own_markup(replica: ReplicaServer) -> None:
    article = replica.truth()["articles"][0]
    printed = next(a for a in article["aliases"] if "pFormPrint" in a)
    with client(replica) as http:
        page = http.get(printed)
        canonical = http.get(article["canonical_url"])
    assert page.status_code == 200
    assert article["title"] in text_of(page)
    assert page.content != canonical.content


@pytest.mark.parametrize("crawl_delay", [None, 2.5])
def test_robots_txt(make_replica: MakeReplica, crawl_delay: float | None) -> None:
    server = make_replica(articles=3, crawl_delay=crawl_delay)
    with client(server) as http:
        response = http.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert "User-agent: *" in lines
    assert "Disallow: /tim-kiem" in lines
    assert "Disallow: /UserControls/" in lines
    assert ("Crawl-delay: 2.5" in lines) == (crawl_delay is not None)


def test_missing_pages_404_and_search_exists(replica: ReplicaServer) -> None:
    truth = replica.truth()
    with client(replica) as http:
        for path in ["/rss", "/sitemap.xml", "/tin-tuc/khong-co-d2-t1.html", *truth["broken"]]:
            assert http.get(path).status_code == 404, path
        search = http.get("/tim-kiem", params={"q": truth["articles"][0]["title"][:12]})
    assert search.status_code == 200
    assert truth["broken"]


def test_head_has_headers_and_no_body(replica: ReplicaServer) -> None:
    url = replica.truth()["articles"][0]["canonical_url"]
    with client(replica) as http:
        head = http.head(url)
        get = http.get(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]


# --- validators, compression, encodings -------------------------------------------------


def test_conditional_get_answers_304(replica: ReplicaServer) -> None:
    url = replica.truth()["articles"][1]["canonical_url"]
    with client(replica) as http:
        first = http.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert http.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert http.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
        old = "Mon, 01 Jan 2001 00:00:00 GMT"
        assert http.get(url, headers={"If-Modified-Since": old}).status_code == 200
        log = replica.requests()
    assert log[-4]["if_none_match"] == etag
    assert [e["status"] for e in log[-5:]] == [200, 304, 304, 200, 200]


def test_gzip_when_asked(replica: ReplicaServer) -> None:
    url = replica.truth()["articles"][0]["canonical_url"]
    with client(replica) as http:
        plain = http.get(url, headers={"Accept-Encoding": "identity"})
        raw = http.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == plain.content  # httpx inflated it
    assert int(raw.headers["content-length"]) < len(plain.content)
    assert raw.headers["etag"] != plain.headers["etag"]  # one tag per representation
    with client(replica) as http:
        again = http.get(
            url, headers={"Accept-Encoding": "gzip", "If-None-Match": raw.headers["etag"]}
        )
    assert again.status_code == 304


def test_some_pages_are_nfd_or_windows_1258_unless_told_otherwise(
    make_replica: MakeReplica,
) -> None:
    def charsets(server: ReplicaServer) -> Counter[str]:
        found: Counter[str] = Counter()
        with client(server) as http:
            for article in server.truth()["articles"]:
                response = http.get(article["canonical_url"])
                charset = (response.charset_encoding or "utf-8").lower()
                body = response.content.decode(charset)
                nfd = charset == "utf-8" and body != unicodedata.normalize("NFC", body)
                found[charset + ("-nfd" if nfd else "")] += 1
        return found

    mixed = charsets(make_replica(articles=150, seed=5))
    assert mixed["windows-1258"] > 0
    assert mixed["utf-8-nfd"] > 0
    assert mixed["utf-8"] > 100
    plain = charsets(make_replica(articles=150, seed=5, encodings="utf-8"))
    assert set(plain) == {"utf-8"}


# --- dynamics -----------------------------------------------------------------------------


def test_publish_puts_new_articles_on_top_and_in_the_truth(replica: ReplicaServer) -> None:
    with client(replica) as http:
        response = http.post("/_replica/publish", params={"n": 3})
        assert response.status_code == 200
        new_ids = response.json()["published"]
        assert len(new_ids) == 3
        truth = by_id(replica.truth())
        for new_id in new_ids:
            new = truth[new_id]
            first = replica.site.listing_url_for(new["category"], 1)
            links = walk_listing(http, first)
            ids = [article_id(link) for link in links]
            newer = [i for i in new_ids if truth[i]["category"] == new["category"]]
            assert ids[: len(newer)] == sorted(newer, reverse=True)
            assert http.get(new["canonical_url"]).status_code == 200
    newest = sorted(truth.values(), key=lambda a: a["published_at"])[-3:]
    assert sorted(a["id"] for a in newest) == sorted(new_ids)


def test_publish_shifts_older_items_to_the_next_page(make_replica: MakeReplica) -> None:
    server = make_replica(articles=80, seed=2, page_size=5)
    with client(server) as http:
        before = [
            article_id(u) for u in walk_listing(http, "/tintuc/Pages/lists.aspx?Cat=2&Page=1")
        ]
        published: list[int] = []
        while not any(server.site.article(i).category.id == 2 for i in published):
            published += server.publish(1)
        after = [article_id(u) for u in walk_listing(http, "/tintuc/Pages/lists.aspx?Cat=2&Page=1")]
        page2 = http.get("/tintuc/Pages/lists.aspx?Cat=2&Page=2").text
    new_in_2 = [i for i in published if server.site.article(i).category.id == 2]
    assert after == new_in_2[::-1] + before
    assert article_id(ITEM_LINK.findall(page2)[0]) == before[4]


def test_edit_changes_text_etag_and_truth(replica: ReplicaServer) -> None:
    article = replica.truth()["articles"][2]
    with client(replica) as http:
        before = http.get(article["canonical_url"])
        response = http.post("/_replica/edit", params={"id": article["id"]})
        assert response.json() == {"id": article["id"], "version": article["version"] + 1}
        after = http.get(article["canonical_url"])
        stale = http.get(
            article["canonical_url"], headers={"If-None-Match": before.headers["etag"]}
        )
        assert http.post("/_replica/edit", params={"id": 1}).status_code == 404
    edited = by_id(replica.truth())[article["id"]]
    assert edited["version"] == article["version"] + 1
    assert edited["text"] != article["text"]
    assert after.headers["etag"] != before.headers["etag"]
    assert after.headers["last-modified"] != before.headers["last-modified"]
    assert stale.status_code == 200


def test_old_url_redirects_permanently_to_the_canonical(replica: ReplicaServer) -> None:
    truth = replica.truth()
    assert truth["redirects"]
    with client(replica) as http:
        for old, new in truth["redirects"].items():
            response = http.get(old)
            assert response.status_code == 301
            assert response.headers["location"] == new
        listed = [
            link
            for category in replica.site.categories
            for link in walk_listing(http, replica.site.listing_url_for(category.id, 1))
        ]
    assert sum(replica.base_url + link in truth["redirects"] for link in listed) == 1


# --- request log, truth, determinism ------------------------------------------------------


def test_request_log(replica: ReplicaServer) -> None:
    with client(replica, headers={"User-Agent": "vksnd-test/1"}) as http:
        http.get("/robots.txt")
        http.get("/rss")
        http.get("/_replica/truth.json")
        log = http.get("/_replica/requests").json()
        assert [(e["method"], e["path"], e["status"]) for e in log] == [
            ("GET", "/robots.txt", 200),
            ("GET", "/rss", 404),
        ]
        assert log[0]["user_agent"] == "vksnd-test/1"
        assert log[0]["t"] <= log[1]["t"]
        http.delete("/_replica/requests")
        assert http.get("/_replica/requests").json() == []


def test_truth_over_http_matches_the_site(replica: ReplicaServer) -> None:
    with client(replica) as http:
        truth = http.get("/_replica/truth.json").json()
    assert truth == replica.truth()
    ids = [a["id"] for a in truth["articles"]]
    assert ids == sorted(ids)
    for article in truth["articles"]:
        blocks = replica.site.article(article["id"]).blocks
        assert article["text"] == expected_text(blocks)
        assert article["captions"] == list(expected_captions(blocks))
        assert article["canonical_url"].startswith(replica.base_url + "/")
        assert article["published"] == article["published_at"][:10]
        assert article["published_at"].endswith("+07:00")
        assert article["canonical_url"] not in article["aliases"]
        site_article = replica.site.article(article["id"])
        assert article["canonical_url"] == replica.base_url + article_path(site_article)
        sectionless = replica.base_url + article_path(site_article, with_section=False)
        assert sectionless in [article["canonical_url"], *article["aliases"]]


def test_same_seed_same_site(make_replica: MakeReplica) -> None:
    def portable(server: ReplicaServer) -> str:
        return str(server.truth()).replace(server.base_url, "")

    a, b, c = (make_replica(articles=30, seed=s) for s in (9, 9, 10))
    assert portable(a) == portable(b)
    assert portable(a) != portable(c)
    with client(a) as http_a, client(b) as http_b:
        assert http_a.get("/").content == http_b.get("/").content


def test_idle_keepalive_connections_do_not_block_stop(make_replica: MakeReplica) -> None:
    server = make_replica(articles=3)
    with client(server) as http:
        assert http.get("/").status_code == 200  # the connection stays open in the pool
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 2


# --- CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_signalled(signum: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vksnd.fixtures.portal", "--port", "0", "--articles", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert re.fullmatch(r"serving http://127\.0\.0\.1:\d+", first), first
        base = first.split()[1]
        response = httpx.get(base + "/", timeout=10)
        assert response.status_code == 200
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
def test_twenty_thousand_articles_start_fast_and_serve_fast(make_replica: MakeReplica) -> None:
    start = time.monotonic()
    server = make_replica(articles=20_000, seed=1)
    assert time.monotonic() - start < 15  # ~2.5 s on an idle 2-core box
    ids = server.site.article_ids()
    assert len(ids) == 20_005
    with client(server) as http:
        start = time.monotonic()
        for article_id_ in ids[:: len(ids) // 50]:
            assert http.get(server.site.canonical_path(article_id_)).status_code in (200, 404)
        for page in (1, 50, 100):
            assert http.get(f"/tintuc/Pages/lists.aspx?Cat=2&Page={page}").status_code == 200
        assert time.monotonic() - start < 5


def test_stop_without_start_releases_the_port() -> None:
    server = ReplicaServer(replica_config(articles=0))
    server.stop()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/", timeout=2)


def test_bound_to_every_address_links_follow_the_requested_host(tmp_path: Path) -> None:
    """b2de816: ``--host 0.0.0.0`` wrote links to http://0.0.0.0:PORT, out of the scope of a
    crawler that reached it as http://replica:8765 (the compose file's offline demo)."""
    with ReplicaServer(replica_config(host="0.0.0.0", articles=10, seed=3)) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        truth = server.truth()
        article = truth["articles"][0]["canonical_url"].removeprefix(server.base_url)
        (old,) = [u.removeprefix(server.base_url) for u in truth["redirects"]][:1] or [None]
        for name in ("replica", "localhost"):
            host = {"Host": f"{name}:{server.port}"}
            page = httpx.get(f"{server.base_url}{article}", headers=host).text
            assert f'href="http://{name}:{server.port}{article}"' in page  # the canonical link
            assert "0.0.0.0" not in page and "127.0.0.1" not in page
            if old is not None:
                moved = httpx.get(f"{server.base_url}{old}", headers=host)
                assert moved.headers["location"].startswith(f"http://{name}:{server.port}/")
        # A crawler that reaches it by another name stores the whole site.
        base = f"http://localhost:{server.port}"
        db = tmp_path / "v.db"
        assert run_command("crawl", *site_args(base, db)) == 0
        assert len(current_articles(db)) == len(server.truth()["articles"])
