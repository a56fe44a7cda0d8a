"""The replica's other sites over real HTTP: listings, pagers, boxes, discovery, dynamics, CLI.

Each check runs on baovephapluat, every named provincial variant and a few random ones, and
uses only what the truth's ``site`` part tells a crawler (regex, templates, categories,
sitemap, feeds) plus, to tell the main list from boxes, the class names the replica chose.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support.html_read import anchors, has_class, items, read
from vksnd.fixtures.portal import ReplicaServer, replica_config
from vksnd.fixtures.provincial_layouts import Classes
from vksnd.fixtures.shaped_site import ShapedSite
from vksnd.fixtures.shapes import VARIANT_NAMES

MakeReplica = Callable[..., ReplicaServer]
SITES: list[dict[str, Any]] = [
    {"site": "baovephapluat"},
    *[{"variant": v} for v in VARIANT_NAMES],
    {"variant": "random-11"},
    {"variant": "random-12"},
]
IDS = ["baovephapluat", *VARIANT_NAMES, "random-11", "random-12"]
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
ATOM = "{http://www.w3.org/2005/Atom}"


def client(server: ReplicaServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10)


def shaped(server: ReplicaServer) -> ShapedSite:
    assert isinstance(server.site, ShapedSite)
    return server.site


def path_of(href: str) -> str:
    return urlsplit(href).path


def by_id(truth: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {a["id"]: a for a in truth["articles"]}


class Reader:
    """What a test needs of a site's pages: which anchors are the main list, which the pager."""

    def __init__(self, server: ReplicaServer) -> None:
        self.server = server
        self.site = shaped(server)
        self.info = server.site_info()
        self.regex = re.compile(self.info["article_url_regex"])
        if self.site.name == "baovephapluat":
            self.list_class, self.box_class, self.pager_class = "cate-stories", "", "paging"
            self.pager = "numbered"
        else:
            css = Classes(self.site.shape)
            self.list_class, self.box_class, self.pager_class = css.list, css.box, css.pager
            self.pager = self.site.shape.pager

    def article_id(self, href: str) -> int | None:
        match = self.regex.fullmatch(path_of(href))
        return int(match["id"]) if match else None

    def main_ids(self, html: str) -> list[int]:
        out: list[int] = []
        for a in anchors(html):
            if self.list_class in a.inside and not (self.box_class and self.box_class in a.inside):
                article = self.article_id(a.href)
                if article is not None and article not in out:
                    out.append(article)
        return out

    def off_list_ids(self, html: str) -> set[int]:
        main = set(self.main_ids(html))
        found = {self.article_id(a.href) for a in anchors(html)}
        return {i for i in found if i is not None} - main

    def next_url(self, html: str, page: int, template_url: Callable[[int], str]) -> str | None:
        found = anchors(html)
        pager = [a for a in found if self.pager_class in a.inside]
        if self.pager == "none":
            return template_url(page + 1)
        if self.pager == "rel-next":
            hrefs = [a.href for a in found if a.rel == "next"]
            heads = [link["href"] for link in read(html).links if link.get("rel") == "next"]
            assert hrefs == heads
            return hrefs[0] if hrefs else None
        if self.pager == "text-next":
            label = self.site.shape.next_label
            hits = [a.href for a in pager if a.text == label]
            return hits[0] if hits else None
        hits = [a.href for a in pager if a.text == str(page + 1)]
        return hits[0] if hits else None


def walk(http: httpx.Client, reader: Reader, category: dict[str, Any]) -> list[list[int]]:
    """Main-list ids page by page, following the site's pager (or its template when it has
    none) until a page is empty, missing, or repeats one already seen."""
    template = reader.info["listing_url_template"]

    def template_url(page: int) -> str:
        return template.format(slug=category["slug"], id=category["id"], page=page)

    pages: list[list[int]] = []
    url: str | None = category["listing_url"]
    seen: set[int] = set()
    while url is not None and len(pages) < 100:
        response = http.get(url)
        if response.status_code == 404 and pages:
            break
        assert response.status_code == 200, url
        ids = reader.main_ids(response.text)
        if not ids or set(ids) <= seen:
            break
        pages.append(ids)
        seen |= set(ids)
        url = reader.next_url(response.text, len(pages), template_url)
    return pages


@pytest.fixture(params=SITES, ids=IDS)
def server(request: pytest.FixtureRequest, make_replica: MakeReplica) -> ReplicaServer:
    return make_replica(articles=45, seed=3, **request.param)


# --- listings -------------------------------------------------------------------------------


def test_listings_reach_every_article_once_newest_first(server: ReplicaServer) -> None:
    reader, site = Reader(server), shaped(server)
    truth = server.truth()
    articles = by_id(truth)
    broken = {reader.article_id(u) for u in truth["broken"]}
    seen: list[int] = []
    with client(server) as http:
        for category in reader.info["categories"]:
            pages = walk(http, reader, category)
            ids = [i for page in pages for i in page]
            assert all(len(page) <= site.page_size for page in pages)
            assert all(site.article(i).category.id == category["id"] for i in ids)
            stamps = [(articles[i]["published_at"], i) for i in ids if i in articles]
            assert stamps == sorted(stamps, reverse=True), category["slug"]
            seen += ids
    assert sorted(seen) == sorted([*articles, *broken])
    assert len(seen) == len(set(seen))


def test_both_forms_of_page_one_list_the_same(server: ReplicaServer) -> None:
    reader = Reader(server)
    info = reader.info
    with client(server) as http:
        for category in info["categories"]:
            fill = {"slug": category["slug"], "id": category["id"]}
            bare = http.get(info["listing_first_page"].format(**fill))
            numbered = http.get(info["listing_url_template"].format(page=1, **fill))
            linked = http.get(category["listing_url"])
            assert bare.status_code == numbered.status_code == linked.status_code == 200
            assert reader.main_ids(bare.text) == reader.main_ids(numbered.text)
            assert reader.main_ids(linked.text) == reader.main_ids(bare.text)


def test_a_page_past_the_last_does_what_the_shape_says(server: ReplicaServer) -> None:
    reader, site = Reader(server), shaped(server)
    category = reader.info["categories"][0]
    source = site.source_of(category["id"])
    last = site.page_count(source)
    garbage_url = reader.info["listing_url_template"].format(
        slug=category["slug"], id=category["id"], page="x"
    )
    with client(server) as http:
        last_ids = reader.main_ids(http.get(site.source_url(source, last)).text)
        beyond = http.get(site.source_url(source, last + 3))
        garbage = http.get(garbage_url)
    assert last_ids
    mode = site.shape.past_end
    if mode == "404":
        assert beyond.status_code == 404
    elif mode == "last":
        assert beyond.status_code == 200 and reader.main_ids(beyond.text) == last_ids
    else:
        assert beyond.status_code == 200 and reader.main_ids(beyond.text) == []
    assert garbage.status_code == 404


def test_listing_pages_link_other_categories_and_old_articles(server: ReplicaServer) -> None:
    reader, site = Reader(server), shaped(server)
    articles = by_id(server.truth())
    off_category = older = 0
    with client(server) as http:
        for category in reader.info["categories"]:
            html = http.get(category["listing_url"]).text
            main = [articles[i] for i in reader.main_ids(html) if i in articles]
            others = [articles[i] for i in reader.off_list_ids(html) if i in articles]
            off_category += any(a["category"] != category["id"] for a in others)
            if main:
                oldest = min(a["published_at"] for a in main)
                older += any(a["published_at"] < oldest for a in others)
    assert off_category == len(reader.info["categories"])
    if site.name == "baovephapluat" or "popular" in site.shape.boxes:
        assert older > 0


def test_listing_dates_are_the_truths_listed_dates(server: ReplicaServer) -> None:
    reader, site = Reader(server), shaped(server)
    articles = by_id(server.truth())
    item_class = "story" if site.name == "baovephapluat" else Classes(site.shape).item
    checked = 0
    with client(server) as http:
        for category in reader.info["categories"]:
            html = http.get(category["listing_url"]).text
            for item in items(html, has_class(item_class)):
                if reader.box_class and reader.box_class in item.inside:
                    continue
                ids = {reader.article_id(h) for h in item.hrefs} - {None}
                entry = articles.get(ids.pop()) if len(ids) == 1 else None
                if entry is None:
                    continue
                listed = entry["listed"]
                if listed is None:
                    assert not re.search(r"\d\d/\d\d/\d{4}", item.text)
                else:
                    assert datetime.fromisoformat(listed).strftime("%d/%m/%Y") in item.text
                    checked += 1
    assert checked or site.shape.listing_dates == "none"


def test_baovephapluat_sections_list_their_categories_together(make_replica: MakeReplica) -> None:
    server = make_replica(site="baovephapluat", articles=60, seed=5)
    reader, site = Reader(server), shaped(server)
    articles = by_id(server.truth())
    sections = server.site_info()["sections"]
    assert [s["slug"] for s in sections] == [
        "kiem-sat-24h", "cai-cach-tu-phap", "phap-luat", "an-ninh-hinh-su"
    ]  # fmt: skip
    with client(server) as http:
        for section in sections:
            ids = reader.main_ids(http.get(section["listing_url"]).text)
            members = sorted(
                (a for a in articles.values()
                 if a["category_slug"].startswith(section["slug"] + "/")),
                key=lambda a: (a["published_at"], a["id"]),
                reverse=True,
            )  # fmt: skip
            listed = [i for i in ids if i in articles]
            assert listed == [a["id"] for a in members][: len(listed)]
            gone = [
                i
                for i in site.broken
                if site.article(i).category.slug.startswith(section["slug"] + "/")
            ]
            assert len(ids) == min(site.page_size, len(members) + len(gone))
            page2 = http.get(section["listing_url"] + "/p/2")
            assert page2.status_code == 200


def test_the_portals_site_info_is_enough_for_a_profile(make_replica: MakeReplica) -> None:
    server = make_replica(articles=30, seed=2)
    truth = server.truth()
    info = truth["site"]
    assert info["name"] == "vksndtc" and info["base_url"] == server.base_url
    assert (info["sitemap"], info["feeds"], truth["non_articles"]) == (None, [], [])
    regex = re.compile(info["article_url_regex"])
    for entry in truth["articles"]:
        match = regex.fullmatch(path_of(entry["canonical_url"]))
        assert match and int(match["id"]) == entry["id"]
        assert match["category"] == entry["category_slug"]
    with client(server) as http:
        for category in info["categories"]:
            url = info["listing_url_template"].format(id=category["id"], page=1)
            assert server.base_url + url == category["listing_url"]
            assert http.get(url).status_code == 200


# --- articles, boxes, documents ------------------------------------------------------------


def test_truth_urls_are_article_pages_matching_the_profile_regex(server: ReplicaServer) -> None:
    truth = server.truth()
    info = truth["site"]
    regex = re.compile(info["article_url_regex"])
    slugs = {c["id"]: c["slug"] for c in info["categories"]}
    no_canonical = 0
    with client(server) as http:
        for entry in truth["articles"]:
            match = regex.fullmatch(path_of(entry["canonical_url"]))
            assert match and int(match["id"]) == entry["id"]
            if info["article_url_category"] == "slug":
                assert match["category"] == slugs[entry["category"]] == entry["category_slug"]
            elif info["article_url_category"] == "id":
                assert int(match["category"]) == entry["category"]
            response = http.get(entry["canonical_url"])
            assert response.status_code == 200
            assert response.headers["etag"] and response.headers["last-modified"]
            canonical = [
                link["href"] for link in read(response.text).links if link.get("rel") == "canonical"
            ]
            assert canonical in ([entry["canonical_url"]], [])
            no_canonical += not canonical
        for url in truth["broken"]:
            assert http.get(url).status_code == 404
        for old, new in truth["redirects"].items():
            moved = http.get(old)
            assert moved.status_code == 301 and moved.headers["location"] == new
        for url in truth["non_articles"]:
            assert http.get(url).status_code == 200
            assert not regex.fullmatch(path_of(url))
    table_pages = info["knobs"].get("article_markup") == "table" and info["name"] == "provincial"
    assert no_canonical == (len(truth["articles"]) if table_pages else 0)


def test_documents_are_linked_like_articles_but_are_not(make_replica: MakeReplica) -> None:
    server = make_replica(variant="cards", articles=20)
    truth = server.truth()
    with client(server) as http:
        home = http.get("/").text
    linked = {a.href for a in anchors(home)}
    docs = [u for u in truth["non_articles"] if "/van-ban/" in u]
    assert docs and set(docs) <= linked  # absolute links on this variant
    assert all(re.search(r"-\d+\.html$", u) for u in docs)


# --- discovery --------------------------------------------------------------------------------


def sitemap_rows(http: httpx.Client, url: str) -> list[tuple[str, str | None]]:
    response = http.get(url)
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    if root.tag == f"{SM}sitemapindex":
        rows = []
        for child in root.findall(f"{SM}sitemap"):
            rows += sitemap_rows(http, child.findtext(f"{SM}loc") or "")
        return rows
    assert root.tag == f"{SM}urlset"
    return [(u.findtext(f"{SM}loc") or "", u.findtext(f"{SM}lastmod")) for u in root]


def feed_items(http: httpx.Client, url: str) -> list[tuple[str, datetime]]:
    response = http.get(url)
    assert response.status_code == 200, url
    root = ET.fromstring(response.content)
    if root.tag == "rss":
        assert root.get("version") == "2.0"
        return [
            (i.findtext("link") or "", parsedate_to_datetime(i.findtext("pubDate") or ""))
            for i in root.iter("item")
        ]
    assert root.tag == f"{ATOM}feed"
    return [
        (
            e.find(f"{ATOM}link").get("href", ""),  # type: ignore[union-attr]
            datetime.fromisoformat(e.findtext(f"{ATOM}published") or ""),
        )
        for e in root.iter(f"{ATOM}entry")
    ]


def check_discovery(server: ReplicaServer) -> None:
    truth = server.truth()
    info = truth["site"]
    newest_first = sorted(
        truth["articles"], key=lambda a: (a["published_at"], a["id"]), reverse=True
    )
    with client(server) as http:
        robots = http.get("/robots.txt").text.splitlines()
        home = http.get("/").text
        if info["sitemap"]:
            assert f"Sitemap: {info['sitemap']}" in robots
            rows = sitemap_rows(http, info["sitemap"])
            regex = re.compile(info["article_url_regex"])
            articles = {loc: mod for loc, mod in rows if regex.fullmatch(path_of(loc))}
            assert articles == {a["canonical_url"]: a["modified_at"] for a in truth["articles"]}
            pages = {loc for loc, _ in rows} - set(articles)
            assert pages <= {c["listing_url"] for c in info["categories"]}
        else:
            assert not [line for line in robots if line.startswith("Sitemap:")]
        alternates = {link["href"] for link in read(home).links if link.get("rel") == "alternate"}
        assert alternates == {f["url"] for f in info["feeds"]}
        for feed in info["feeds"]:
            items = feed_items(http, feed["url"])
            wanted = [a for a in newest_first if feed["category"] in (None, a["category"])]
            assert items
            assert [link for link, _ in items] == [a["canonical_url"] for a in wanted][:20]
            stamps = [datetime.fromisoformat(a["published_at"]) for a in wanted[:20]]
            assert [when for _, when in items] == stamps


def test_sitemaps_and_feeds_list_exactly_the_articles(server: ReplicaServer) -> None:
    check_discovery(server)


@pytest.mark.parametrize(
    ("site", "sitemap", "feeds"),
    [
        ("vksndtc", "flat", "rss"),
        ("vksndtc", "monthly", "category-rss"),
        ("baovephapluat", "by-category", "atom"),
        ("provincial", "none", "none"),
    ],
)
def test_discovery_options_work_on_every_site(
    make_replica: MakeReplica, site: str, sitemap: str, feeds: str
) -> None:
    server = make_replica(site=site, articles=30, seed=8, sitemap=sitemap, feeds=feeds)
    info = server.site_info()
    assert (info["sitemap"] is None) == (sitemap == "none")
    assert bool(info["feeds"]) == (feeds != "none")
    check_discovery(server)


def test_baovephapluat_has_rss_per_category_where_the_real_one_does(
    make_replica: MakeReplica,
) -> None:
    server = make_replica(site="baovephapluat", articles=30)
    info = server.site_info()
    assert [f["url"] for f in info["feeds"]] == [
        f"{server.base_url}/so-do-website/rss/{c['id']}" for c in info["categories"]
    ]
    with client(server) as http:
        index = http.get("/so-do-website/rss").text
        feed = http.get("/so-do-website/rss/71")
    assert all(f["url"] in index for f in info["feeds"])
    assert feed.headers["content-type"].startswith("application/rss+xml")
    assert "<pubDate>" in feed.text


# --- dynamics and faults ---------------------------------------------------------------------


def test_publish_and_edit_on_every_site(server: ReplicaServer) -> None:
    reader, site = Reader(server), shaped(server)
    with client(server) as http:
        new_ids = http.post("/_replica/publish", params={"n": 3}).json()["published"]
        truth = by_id(server.truth())
        for new_id in new_ids:
            category = site.article(new_id).category.id
            info = next(c for c in reader.info["categories"] if c["id"] == category)
            first = reader.main_ids(http.get(info["listing_url"]).text)
            newer = sorted(
                (i for i in new_ids if site.article(i).category.id == category),
                key=lambda i: truth[i]["published_at"],
                reverse=True,
            )
            assert first[: len(newer)] == newer
        newest = max(truth.values(), key=lambda a: a["published_at"])
        assert newest["id"] == new_ids[-1]
        target = truth[new_ids[0]]
        before = http.get(target["canonical_url"])
        edited = http.post("/_replica/edit", params={"id": target["id"]}).json()
        after = http.get(target["canonical_url"])
        stale = http.get(target["canonical_url"], headers={"If-None-Match": before.headers["etag"]})
    assert edited == {"id": target["id"], "version": 1}
    changed = by_id(server.truth())[target["id"]]
    assert changed["text"] != target["text"] and changed["version"] == 1
    assert changed["modified_at"] > target["modified_at"]
    assert after.headers["etag"] != before.headers["etag"] and stale.status_code == 200
    check_discovery(server)


@pytest.mark.parametrize("options", [{"site": "baovephapluat"}, {"variant": "no-pager"}])
def test_faults_work_on_the_other_sites(make_replica: MakeReplica, options: dict[str, Any]) -> None:
    server = make_replica(articles=10, **options)
    url = server.truth()["articles"][0]["canonical_url"]
    server.set_faults(kinds=("503",), rate=1.0, count=2)
    with client(server) as http:
        statuses = [http.get(url).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    flaky = make_replica(articles=10, fail_rate=1.0, faults=["429"], fault_count=1, **options)
    with client(flaky) as http:
        assert [http.get("/").status_code for _ in range(2)] == [429, 200]


def test_same_seed_same_site_and_bytes(make_replica: MakeReplica) -> None:
    def portable(server: ReplicaServer) -> str:
        return str(server.truth()).replace(server.base_url, "")

    a, b = (make_replica(variant="random-5", articles=20, seed=2) for _ in range(2))
    assert portable(a) == portable(b)
    page = path_of(a.truth()["articles"][3]["canonical_url"])
    with client(a) as http_a, client(b) as http_b:
        for target in (page, "/"):
            body_a = http_a.get(target).content.replace(a.base_url.encode(), b"")
            body_b = http_b.get(target).content.replace(b.base_url.encode(), b"")
            assert body_a == body_b


def test_truth_over_http_and_site_json(make_replica: MakeReplica) -> None:
    server = make_replica(variant="numbered", articles=15)
    with client(server) as http:
        truth = http.get("/_replica/truth.json").json()
        info = http.get("/_replica/site.json").json()
    assert truth == server.truth()
    assert info == truth["site"] == server.site_info()
    assert info["name"] == "provincial" and info["variant"] == "numbered"
    assert info["article_url_category"] is None
    assert info["listing_url_template"] == "/tin-tuc/{slug}/PgrID/481/PageID/{page}"
    keys = {"id", "canonical_url", "aliases", "category", "category_slug", "category_name",
            "published", "published_at", "modified_at", "listed", "title", "author",
            "captions", "text", "version"}  # fmt: skip
    assert all(keys <= set(a) for a in truth["articles"])


def test_bad_options_are_refused_before_start() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        replica_config(variant="nope")
    with pytest.raises(ValueError, match="unknown knobs"):
        replica_config(knobs={"colour": "red"})
    with pytest.raises(ValueError, match="fixed"):
        replica_config(site="baovephapluat", knobs={"pager": "none"})
    assert replica_config(knobs={"pager": "none"}).site.site == "provincial"


def test_cli_serves_a_site_and_refuses_a_bad_variant() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "vksnd.fixtures.portal", "--port", "0", "--articles", "5"]
    proc = subprocess.Popen(
        [*command, "--variant", "cards", "--knob", "pager=none", "--sitemap", "flat"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[1]
        info = httpx.get(base + "/_replica/site.json", timeout=10).json()
        assert info["variant"] == "cards" and info["knobs"]["pager"] == "none"
        assert httpx.get(base + "/sitemap.xml", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    bad = subprocess.run(
        [*command, "--variant", "nope"], capture_output=True, text=True, env=env, timeout=30
    )
    assert bad.returncode == 2 and "unknown variant" in bad.stderr
