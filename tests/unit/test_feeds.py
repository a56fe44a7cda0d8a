"""Sitemaps, feeds and where sites announce them (``parsers.feeds``): pure parsing."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from vksnd.parsers.feeds import (
    FeedError,
    SourceEntry,
    feed_links,
    parse_feed,
    parse_sitemap,
    robots_sitemaps,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
BASE = "https://example.gov.vn/"


def test_robots_sitemap_lines_in_order_once_each() -> None:
    text = (
        "User-agent: *\nDisallow: /admin\nSitemap: /sitemap.xml\n"
        "sitemap: https://example.gov.vn/news.xml\nSitemap: /sitemap.xml\n"
    )
    assert robots_sitemaps(text, BASE) == [
        "https://example.gov.vn/sitemap.xml",
        "https://example.gov.vn/news.xml",
    ]


def test_a_urlset_gives_entries_with_lastmod_days_in_the_site_zone() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://example.gov.vn/a-1.html</loc><lastmod>2024-05-01T20:00:00Z</lastmod></url>
<url><loc>/b-2.html</loc><lastmod>2024-05-02</lastmod></url>
<url><loc>https://example.gov.vn/c-3.html</loc></url>
</urlset>"""
    parsed = parse_sitemap(body, BASE + "sitemap.xml", VN)
    assert parsed.children == ()
    assert parsed.entries == (
        SourceEntry("https://example.gov.vn/a-1.html", date(2024, 5, 2)),  # 03:00 in Vietnam
        SourceEntry("https://example.gov.vn/b-2.html", date(2024, 5, 2)),
        SourceEntry("https://example.gov.vn/c-3.html", None),
    )


def test_a_sitemap_index_gives_its_children() -> None:
    body = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://example.gov.vn/s-2024-05.xml</loc><lastmod>2024-05-31</lastmod></sitemap>
<sitemap><loc>/s-2024-04.xml</loc></sitemap></sitemapindex>"""
    parsed = parse_sitemap(body, BASE + "sitemap.xml", VN)
    assert parsed.entries == ()
    assert parsed.children == (
        "https://example.gov.vn/s-2024-05.xml",
        "https://example.gov.vn/s-2024-04.xml",
    )


def test_rss_items_with_their_publication_day() -> None:
    body = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Tin</title>
<item><title>Một</title><link>https://example.gov.vn/tin/mot-1.html</link>
<pubDate>Thu, 02 May 2024 23:30:00 +0000</pubDate></item>
<item><title>Hai</title><guid>https://example.gov.vn/tin/hai-2.html</guid></item>
</channel></rss>""".encode()
    assert parse_feed(body, BASE + "rss.xml", VN) == (
        SourceEntry("https://example.gov.vn/tin/mot-1.html", date(2024, 5, 3)),
        SourceEntry("https://example.gov.vn/tin/hai-2.html", None),
    )


def test_atom_entries_take_the_alternate_link_and_published() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><link rel="self" href="/feed/1"/><link href="/bai-viet/1/mot"/>
<published>2024-05-01T08:00:00+07:00</published><updated>2024-06-01T08:00:00+07:00</updated></entry>
<entry><link rel="alternate" href="https://example.gov.vn/bai-viet/2/hai"/>
<updated>2024-05-03T08:00:00+07:00</updated></entry></feed>"""
    assert parse_feed(body, BASE + "feed", VN) == (
        SourceEntry("https://example.gov.vn/bai-viet/1/mot", date(2024, 5, 1)),
        SourceEntry("https://example.gov.vn/bai-viet/2/hai", date(2024, 5, 3)),
    )


@pytest.mark.parametrize(
    "body",
    [b"<html><body>not a feed</body></html>", b"not xml at all <",
     b'<!DOCTYPE x [<!ENTITY a "aaaa">]><rss><channel></channel></rss>'],
)  # fmt: skip
def test_what_is_not_a_feed_is_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, BASE + "rss.xml", VN)


def test_feed_links_announced_in_the_head() -> None:
    html = b"""<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml">
<link rel="alternate" type="application/atom+xml" href="https://example.gov.vn/feed/atom">
<link rel="stylesheet" href="/site.css">
<link rel="alternate" hreflang="en" href="/en"></head></html>"""
    assert feed_links(html, BASE) == [
        "https://example.gov.vn/rss.xml",
        "https://example.gov.vn/feed/atom",
    ]
