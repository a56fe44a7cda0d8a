"""URL canonicalization and classification: examples from PORTAL.md, and properties."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.strategies import PORTAL, REPLICA, urlish
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.parsers.urls import (
    article_key,
    canonicalize,
    host_key,
    in_scope,
    is_article_url,
    listing_page_number,
    listing_url,
)

ARTICLE = (
    "https://vksndtc.gov.vn/tin-tuc/tin-hoat-dong-vksnd-toi-cao/"
    "hoi-nghi-ban-chi-dao-chuyen-doi-so-nganh-kiem-sat--d2-t12123.html"
)


def portal(url: str, base: str | None = None) -> str | None:
    return canonicalize(url, base=base, scope_hosts=PORTAL)


@pytest.mark.parametrize(
    "alias",
    [
        ARTICLE,
        ARTICLE + "?Page=270",
        ARTICLE + "?page=3#top",
        ARTICLE.replace("https://", "http://"),
        ARTICLE.replace("vksndtc.gov.vn", "www.vksndtc.gov.vn"),
        ARTICLE.replace("https://vksndtc.gov.vn", "http://WWW.VKS.GOV.VN:80"),
        ARTICLE.replace("https://vksndtc.gov.vn", "https://vksndtc.gov.vn:443"),
        ARTICLE + "?utm_source=facebook&utm_medium=social&fbclid=abc",
        ARTICLE.replace("/tin-tuc/", "//tin-tuc/./"),
        ARTICLE.replace("tin-tuc", "%74in-tuc"),
    ],
)
def test_article_aliases_collapse(alias: str) -> None:
    assert portal(alias) == ARTICLE


def test_relative_links_resolve_against_the_base() -> None:
    base = "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&Page=4"
    assert portal("/cong-tac-kiem-sat/bai-viet-d10-t5.html", base) == (
        "https://vksndtc.gov.vn/cong-tac-kiem-sat/bai-viet-d10-t5.html"
    )
    assert portal("lists.aspx?Cat=2&Page=5", base) == (
        "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&Page=5"
    )
    assert portal("../x/./y/../z.html", base) == "https://vksndtc.gov.vn/tintuc/x/z.html"
    assert portal("../../../../z.html", base) == "https://vksndtc.gov.vn/z.html"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:void(0)",
        "mailto:vksnd@vksndtc.gov.vn",
        "file:///etc/passwd",
        "data:text/html,<h1>x</h1>",
        "ftp://vksndtc.gov.vn/x",
        "https://baovephapluat.vn/a-1.html",
        "https://vksndtc.gov.vn.evil.com/a",
        "https://vksndtc.gov.vn:8443/a",
        "http://127.0.0.1/a",
        "",
        "http://[::1/",
        "https://vksndtc.gov.vn:99999/",
    ],
)
def test_not_http_or_out_of_scope_is_none(url: str) -> None:
    assert portal(url, "https://vksndtc.gov.vn/") is None


def test_legacy_and_print_urls_keep_only_their_key_parameters() -> None:
    legacy = "http://www.vksndtc.gov.vn/tintuc/Pages/lists.aspx?ItemID=11236&Page=4&Cat=2&x=1"
    assert portal(legacy) == "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&ItemID=11236"
    printed = (
        "/UserControls/Publishing/News/BinhLuan/pFormPrint.aspx"
        "?UrlListProcess=/tintuc/Pages/lists.aspx&ItemID=11236&webP=portal"
    )
    canonical = portal(printed, "https://vksndtc.gov.vn/")
    assert canonical == (
        "https://vksndtc.gov.vn/UserControls/Publishing/News/BinhLuan/pFormPrint.aspx?ItemID=11236"
    )
    assert article_key(legacy) == article_key(canonical) == 11236
    assert article_key(ARTICLE) == 12123


def test_listing_pages_keep_their_page_number() -> None:
    url = portal("https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Page=94&Cat=2&utm_campaign=x")
    assert url == "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&Page=94"
    assert not is_article_url(url)
    assert listing_page_number(url) == 94
    assert listing_url("https://vksndtc.gov.vn", 2, 94) == url


def test_remaining_query_is_sorted_and_escapes_normalized() -> None:
    got = portal("https://vksndtc.gov.vn/tim-kiem?q=ki%e1%bb%83m s%C3%A1t&b=2&a=%41")
    assert got == "https://vksndtc.gov.vn/tim-kiem?a=A&b=2&q=ki%E1%BB%83m%20s%C3%A1t"


def test_replica_scope_keeps_scheme_and_port_and_does_not_map_aliases() -> None:
    base = "http://127.0.0.1:8123/tintuc/Pages/lists.aspx?Cat=2&Page=1"
    assert canonicalize("/cat/a-d2-t1.html?Page=2", base=base, scope_hosts=REPLICA) == (
        "http://127.0.0.1:8123/cat/a-d2-t1.html"
    )
    assert canonicalize(ARTICLE, base=base, scope_hosts=REPLICA) is None
    assert canonicalize("http://127.0.0.1:8124/a", scope_hosts=REPLICA) is None
    assert canonicalize("http://localhost:8123/a", scope_hosts=REPLICA) is None


def test_article_patterns() -> None:
    assert is_article_url(
        "https://vksndtc.gov.vn/cong-tac-hop-tac-quoc-te/lanh-dao-vksnd-toi-cao-tiep-doan-dai-bieu-vksnd-ti-d20-t12700.html"
    )
    assert article_key("https://vksndtc.gov.vn/a/b/phuong-phap--s14-t8296.html") == 8296
    assert not is_article_url("https://vksndtc.gov.vn/vanban/Pages/qppl.aspx?ItemID=17")
    assert not is_article_url("https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&Page=3")
    assert not is_article_url("https://vksndtc.gov.vn/tin-tuc/a-d2.html")


def test_section_listing_template() -> None:
    profile = dataclasses.replace(PROFILE, listing_url_template="/{section}/{slug}?Page={page}")
    with_section = listing_url("http://127.0.0.1:8123", 10, 3, profile)
    without = listing_url("http://127.0.0.1:8123", 20, 1, profile)
    assert with_section == "http://127.0.0.1:8123/tin-tuc/cong-tac-kiem-sat?Page=3"
    assert without == "http://127.0.0.1:8123/cong-tac-hop-tac-quoc-te?Page=1"


def test_scope_is_exact_host_and_port() -> None:
    assert host_key("HTTP://Example.COM:80/x") == "example.com"
    assert host_key("https://example.com:8443/") == "example.com:8443"
    assert host_key("http://[::1]:8000/") == "[::1]:8000"
    assert in_scope("http://127.0.0.1:8123/x", REPLICA)
    assert not in_scope("http://127.0.0.2:8123/x", REPLICA)
    assert not in_scope("http://127.0.0.1/x", REPLICA)
    assert not in_scope("https://10.0.0.1/", PORTAL)


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.one_of(urlish(), st.text(max_size=80)), st.sampled_from([PORTAL, REPLICA]))
def test_canonicalize_is_idempotent_total_and_in_scope(raw: str, scope: frozenset[str]) -> None:
    base = "https://vksndtc.gov.vn/a/" if scope is PORTAL else "http://127.0.0.1:8123/a/"
    once = canonicalize(raw, base=base, scope_hosts=scope)
    if once is None:
        return
    assert in_scope(once, scope)
    assert "#" not in once
    assert canonicalize(once, scope_hosts=scope) == once
    assert canonicalize(once, base=base, scope_hosts=scope) == once
    assert once.isascii()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_classifiers_never_raise(raw: str) -> None:
    article_key(raw)
    listing_page_number(raw)
    in_scope(raw, PORTAL)
