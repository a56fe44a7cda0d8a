"""Hostile and odd input: never anything but our typed errors; caps; charsets; non-articles."""

from __future__ import annotations

import codecs
import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.pages import BASE, PORTAL_HTML, SEED, URL
from support.strategies import PARA, TAGS
from vksnd.fixtures.layouts import (
    encode_page,
    render_home,
    render_listing,
    render_not_found,
)
from vksnd.fixtures.site import Site
from vksnd.fixtures.urls import CATEGORIES, listing_path
from vksnd.parsers.article import ParseLimits, parse_article
from vksnd.parsers.blocks import TOOLBAR_TOKEN
from vksnd.parsers.decoding import decode_body, sniff_encoding
from vksnd.parsers.errors import NotAnArticle, PageTooComplex, ParseError


def _ok_or_typed(body: bytes) -> None:
    try:
        article = parse_article(body, URL)
    except ParseError:
        return
    assert TOOLBAR_TOKEN not in article.text.lower()
    for value in (article.text, article.title, *article.captions):
        assert unicodedata.is_normalized("NFC", value)
    assert all(TOOLBAR_TOKEN not in c.lower() for c in article.captions)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(body: bytes) -> None:
    _ok_or_typed(body)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=30)), max_size=120))
def test_mangled_html(pieces: list[str]) -> None:
    _ok_or_typed(("<html><body>" + "".join(pieces)).encode("utf-8", "surrogatepass"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(PORTAL_HTML)), st.integers(0, 400), st.binary(max_size=20))
def test_cut_and_spliced_portal_page(cut: int, drop: int, junk: bytes) -> None:
    raw = PORTAL_HTML.encode("utf-8")
    _ok_or_typed(raw[:cut] + junk + raw[cut + drop :])


def test_body_over_the_size_cap() -> None:
    with pytest.raises(PageTooComplex):
        parse_article(PORTAL_HTML.encode(), URL, limits=ParseLimits(max_bytes=1000))


@pytest.mark.parametrize("tag", ["div", "span", "b", "table"])
def test_deep_nesting_is_refused_fast(tag: str) -> None:
    body = (f"<html><body><{tag}>" * 100_000 + "x").encode()
    with pytest.raises(PageTooComplex):
        parse_article(body, URL)


def test_moderate_nesting_is_fine() -> None:
    body = ("<html><body>" + "<div>" * 150 + PARA * 5 + "</div>" * 150).encode()
    article = parse_article(body, URL)
    assert article.text.startswith("Hội nghị")


def test_not_articles() -> None:
    site = Site()
    category = CATEGORIES[0]
    items, has_next = site.listing(category.id, 1)
    pages = {
        "listing": render_listing(
            category, items, 1, has_next, lambda n: listing_path(category.id, n)
        ),
        "home": render_home(CATEGORIES, site.latest(20)),
    }
    for name, html in pages.items():
        with pytest.raises(NotAnArticle) as info:
            parse_article(html.encode(), BASE + "/")
        assert info.value.kind == "listing", name
    with pytest.raises(NotAnArticle) as error_page:
        parse_article(render_not_found(URL).encode(), URL)
    assert error_page.value.kind == "error_page"
    for empty in (b"", b"<html><body><script>var a = 1;</script></body></html>", b"   "):
        with pytest.raises(NotAnArticle) as info:
            parse_article(empty, URL)
        assert info.value.kind == "empty"
        assert info.value.url == URL


def test_profile_matching_badly_falls_back_to_generic() -> None:
    # the profile's body selector hits an empty element: the generic extractor takes over
    broken = PORTAL_HTML.replace(
        '<div class="news-content">', '<div class="news-content"></div><div>'
    )
    article = parse_article(broken.encode(), URL)
    assert article.extractor.generic
    assert article.text == parse_article(PORTAL_HTML.encode(), URL).text


def test_canonical_only_within_the_host_set() -> None:
    other = PORTAL_HTML.replace(
        f'<link rel="canonical" href="{URL}">',
        '<link rel="canonical" href="https://evil.example/x">',
    )
    assert parse_article(other.encode(), URL).canonical_url == URL
    www = PORTAL_HTML.replace(
        f'<link rel="canonical" href="{URL}">',
        '<link rel="canonical" href="https://www.vks.gov.vn/a-d2-t1.html">',
    )
    assert parse_article(www.encode(), URL).canonical_url == "https://www.vks.gov.vn/a-d2-t1.html"


def test_listing_date_is_a_signal() -> None:
    html = PORTAL_HTML
    day = SEED.published_at.date()
    assert parse_article(html.encode(), URL, listing_date=day).published_at == SEED.published_at
    # A listing showing another date (an update) does not override the page's own (#15).
    later = parse_article(html.encode(), URL, listing_date=date(2001, 1, 1))
    assert later.published_at == SEED.published_at


# --- decoding -------------------------------------------------------------------------------

TEXT = "Viện kiểm sát nhân dân tối cao hoà hợp"


def test_http_charset_wins_over_bom_and_meta() -> None:
    body = f'<meta charset="utf-8"><p>{TEXT}</p>'.encode("cp1258", "xmlcharrefreplace")
    assert sniff_encoding(body, "text/html; charset=windows-1258") == "cp1258"
    assert sniff_encoding(codecs.BOM_UTF8 + b"<p>x</p>", "text/html; charset=utf-8") == "utf-8"


def test_bom_wins_over_meta() -> None:
    body = codecs.BOM_UTF8 + f'<meta charset="windows-1258"><p>{TEXT}</p>'.encode()
    assert TEXT in decode_body(body)


def test_meta_charset_and_fallbacks() -> None:
    html = f'<html><head><meta charset="windows-1258"></head><body><p>{TEXT}</p></body></html>'
    body, _ = encode_page(html, "windows-1258")
    assert TEXT in decode_body(body)  # meta only, no HTTP charset; NFC after decoding
    assert TEXT in decode_body(body.replace(b'charset="windows-1258"', b""))  # not UTF-8: cp1258
    assert TEXT in decode_body(unicodedata.normalize("NFD", html).encode())  # NFD → NFC


def test_bad_bytes_become_replacement_characters() -> None:
    text = decode_body(b"<p>ok \xff\xfe</p>", "text/html; charset=utf-8")
    assert "ok" in text and "\ufffd" in text
    assert decode_body(b"<p>x</p>", "text/html; charset=base64") == "<p>x</p>"
