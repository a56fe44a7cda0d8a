"""Site profile of vksndtc.gov.vn: hosts, URL patterns and CSS selectors, as data.

URL facts come from ``PORTAL.md`` (C = seen, I = inferred). The real markup was never seen, so the
selectors describe the replica's portal-like layout plus common DotNetNuke names; when they stop
matching, ``parsers.article`` falls back to the generic extractor and records it in ``extractor``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Selectors:
    """CSS selectors, tried in order; the first that matches wins."""

    title: tuple[str, ...]
    date: tuple[str, ...]
    body: tuple[str, ...]
    author: tuple[str, ...]
    chrome: tuple[str, ...]  # removed from the body before extraction
    listing_item: tuple[str, ...]
    listing_next: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SiteProfile:
    name: str
    hosts: frozenset[str]  # the scope whitelist: only these hosts are ever fetched
    preferred_host: str
    article_path: re.Pattern[str]  # groups: section?, category, slug, kind (d|s), cat, id
    legacy_article_path: re.Pattern[str]
    print_path: re.Pattern[str]
    listing_url_template: str  # {cat} and {page}; PORTAL.md: the new-style scheme is unknown (I)
    categories: tuple[tuple[int, str, str | None], ...]  # (id, slug, section)
    drop_query_params: frozenset[str]
    selectors: Selectors


ARTICLE_PATH = re.compile(
    r"^/(?:(?P<section>[a-z0-9-]+)/)?(?P<category>[a-z0-9-]+)/"
    r"(?P<slug>[a-z0-9-]*)-(?P<kind>[ds])(?P<cat>\d+)-t(?P<id>\d+)\.html$"
)
LEGACY_ARTICLE_PATH = re.compile(r"^/tintuc/Pages/lists\.aspx$", re.IGNORECASE)
PRINT_PATH = re.compile(r"^/UserControls/Publishing/News/BinhLuan/pFormPrint\.aspx$", re.IGNORECASE)

PROFILE = SiteProfile(
    name="vksndtc",
    hosts=frozenset({"vksndtc.gov.vn", "www.vksndtc.gov.vn", "www.vks.gov.vn", "vks.gov.vn"}),
    preferred_host="vksndtc.gov.vn",
    article_path=ARTICLE_PATH,
    legacy_article_path=LEGACY_ARTICLE_PATH,
    print_path=PRINT_PATH,
    # The legacy listing is the one listing scheme seen on the real portal (C).
    listing_url_template="/tintuc/Pages/lists.aspx?Cat={cat}&Page={page}",
    categories=(
        (2, "tin-hoat-dong-vksnd-toi-cao", "tin-tuc"),
        (10, "cong-tac-kiem-sat", "tin-tuc"),
        (20, "cong-tac-hop-tac-quoc-te", None),
        (32, "cong-tac-xay-dung-dang", "thong-tin"),
        (14, "chao-mung-ngay-thanh-lap-vien-kiem-sat-nhan-dan-to", "tin-tuc-su-kien"),
    ),
    drop_query_params=frozenset(
        {
            "page",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "fbclid",
            "gclid",
            "zarsrc",
        }
    ),
    selectors=Selectors(
        title=("h1.news-title", "h1.title", ".news-detail h1", "h1"),
        date=(".news-date", ".date", "time"),
        body=(".news-content", ".news-detail .content", "#dnn_ContentPane .content"),
        author=(".news-author", ".author"),
        chrome=(
            "script",
            "style",
            "noscript",
            ".news-tools",
            ".other-news",
            ".related-news",
            ".tags",
            ".share",
            ".print",
            ".breadcrumb",
            ".menu",
            "nav",
            "iframe",
            "form",
        ),
        listing_item=(".news-list .news-item", ".list-news li", ".news-item"),
        listing_next=("a.next", ".pager a.next"),
    ),
)
