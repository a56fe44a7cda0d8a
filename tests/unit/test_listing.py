"""The listing parser on the replica's markup and on markup it has never seen."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from vksnd.fixtures.alt_layouts import to_cp1258_form
from vksnd.fixtures.layouts import render_listing
from vksnd.fixtures.model import ListingItem as ShownItem
from vksnd.fixtures.urls import CAT_ACTIVITIES, listing_path
from vksnd.parsers.listing import MAX_ITEMS, parse_listing
from vksnd.parsers.urls import in_scope, is_article_url

BASE = "http://127.0.0.1:8123"
SCOPE = frozenset({"127.0.0.1:8123"})
LISTING = BASE + "/tintuc/Pages/lists.aspx?Cat=2&Page=2"


def art(n: int, cat: int = 2) -> str:
    return f"/tin-tuc/tin-hoat-dong-vksnd-toi-cao/bai-so-{n}-d{cat}-t{n}.html"


def parse(html: str, url: str = LISTING, content_type: str | None = "text/html; charset=utf-8"):
    return parse_listing(html.encode("utf-8"), url, content_type, scope_hosts=SCOPE)


def test_replica_listing_items_dates_summaries_and_next_page() -> None:
    shown = [
        ShownItem(art(300 - n), f"Tiêu đề {n}", date(2025, 1, 20 - n), f"Tóm tắt {n}.")
        for n in range(5)
    ]
    html = render_listing(CAT_ACTIVITIES, shown, 2, True, lambda p: listing_path(2, p))
    listing = parse(html)
    assert [i.url for i in listing.items] == [BASE + s.url for s in shown]
    assert [i.title for i in listing.items] == [s.title for s in shown]
    assert [i.published_on for i in listing.items] == [s.published for s in shown]
    assert [i.summary for i in listing.items] == [s.summary for s in shown]
    assert listing.next_page_url == BASE + "/tintuc/Pages/lists.aspx?Cat=2&Page=3"
    assert listing.url == LISTING


def test_last_page_has_no_next() -> None:
    shown = [ShownItem(art(7), "Một", date(2020, 5, 1), "S.")]
    html = render_listing(CAT_ACTIVITIES, shown, 9, False, lambda p: listing_path(2, p))
    listing = parse(html, BASE + "/tintuc/Pages/lists.aspx?Cat=2&Page=9")
    assert listing.next_page_url is None and len(listing.items) == 1


CHROME = f"""
<div id="header"><ul class="menu"><li><a href="{art(1)}">Menu article</a></li></ul></div>
<nav><a href="{art(2)}">Nav article</a></nav>
"""
FOOTER = f"""
<div class="other-news"><a href="{art(3)}">Tin khác</a> (01/01/2020)</div>
<div id="footer"><a href="{art(4)}">Footer article</a></div>
"""


def test_links_outside_the_listing_container_are_ignored() -> None:
    html = f"""<html><body>{CHROME}
    <div class="news-list">
      <div class="news-item"><a href="{art(10)}">Mười</a> <span class="date">10/10/2024</span></div>
      <p class="promo"><a href="{art(11)}">Loose link inside the list</a> 09/10/2024</p>
    </div>{FOOTER}</body></html>"""
    listing = parse(html)
    assert [i.url for i in listing.items] == [BASE + art(10), BASE + art(11)]
    assert [i.published_on for i in listing.items] == [date(2024, 10, 10), date(2024, 10, 9)]


def test_unknown_markup_falls_back_to_url_patterns_outside_chrome() -> None:
    html = f"""<html><body>{CHROME}
    <table class="tbl-tin">
      <tr><td><a href="{art(21)}"><img src="x.jpg"></a></td>
          <td><a href="{art(21)}">Hai mốt</a><br><i>(21/03/2023)</i></td></tr>
      <tr><td></td><td><a href="/tintuc/Pages/lists.aspx?ItemID=20&Cat=2&Page=7">Hai mươi</a>
          <i>(20/03/2023)</i></td></tr>
      <tr><td></td><td><a href="https://evil.example/x-d2-t19.html">Off site</a></td></tr>
      <tr><td></td><td><a href="/tin-tuc/ve-chung-toi.html">Not an article</a></td></tr>
    </table>
    <div class="paging"><a href="?Cat=2&amp;Page=1">1</a> <b>2</b>
      <a href="lists.aspx?Page=3&amp;Cat=2">3</a></div>{FOOTER}</body></html>"""
    listing = parse(html)
    assert [(i.url, i.title, i.published_on) for i in listing.items] == [
        (BASE + art(21), "Hai mốt", date(2023, 3, 21)),
        (BASE + "/tintuc/Pages/lists.aspx?Cat=2&ItemID=20", "Hai mươi", date(2023, 3, 20)),
    ]
    assert listing.next_page_url == BASE + "/tintuc/Pages/lists.aspx?Cat=2&Page=3"


def test_a_listing_item_without_an_article_url_still_names_its_article() -> None:
    # An old URL (it answers 301 to the article) is the item's only link: taken, in page order.
    # Items linking only a file, the listing itself, the home page or another site give nothing.
    html = f"""<html><body><div class="news-list">
      <div class="news-item"><a href="{art(40)}">Bốn mươi</a>
        <span class="date">04/04/2024</span></div>
      <div class="news-item"><a href="/">Trang chủ</a> <a href="/tin-tuc/bai-cu-39.html">Ba chín</a>
        <span class="date">03/04/2024</span></div>
      <div class="news-item"><a href="/Lists/VanBan/Attachments/39/qd.PDF">Tải về</a>
        <a href="lists.aspx?Cat=2&amp;Page=3">Trang 3</a></div>
      <div class="news-item"><a href="https://evil.example/bai-cu-37.html">Off site</a></div>
      <div class="news-item"><a href="{art(38)}">Ba tám</a>
        <span class="date">02/04/2024</span></div>
    </div></body></html>"""
    listing = parse(html)
    assert [(i.url, i.title, i.published_on) for i in listing.items] == [
        (BASE + art(40), "Bốn mươi", date(2024, 4, 4)),
        (BASE + "/tin-tuc/bai-cu-39.html", "Ba chín", date(2024, 4, 3)),
        (BASE + art(38), "Ba tám", date(2024, 4, 2)),
    ]


def test_a_date_inside_the_title_is_not_the_items_date() -> None:
    title = "Kỷ niệm 66 năm ngày thành lập (26/7/1960 - 26/7/2026)"
    html = f"""<html><body><ul class="list-news">
      <li><a href="{art(30)}">{title}</a> — 25/07/2026</li></ul></body></html>"""
    (item,) = parse(html).items
    assert item.title == title and item.published_on == date(2026, 7, 25)


def test_items_are_deduplicated_in_page_order_and_capped() -> None:
    links = "".join(
        f'<div class="news-item"><a href="{art(n)}">T{n}</a></div>' for n in range(6000)
    )
    again = f'<div class="news-item"><a href="{art(0)}?Page=4">T0 again</a></div>'
    listing = parse(f'<html><body><div class="news-list">{links}{again}</div></body></html>')
    assert len(listing.items) == MAX_ITEMS
    assert listing.items[0].url == BASE + art(0) and listing.items[0].title == "T0"
    assert listing.items[1].url == BASE + art(1)


def test_windows_1258_listing_is_decoded() -> None:
    html = f"""<html><head><meta charset="windows-1258"></head><body>
    <div class="news-list"><div class="news-item"><a href="{art(40)}">Viện kiểm sát</a>
    <span class="date">01/02/2021</span></div></div></body></html>"""
    body = to_cp1258_form(html).encode("cp1258", errors="strict")
    listing = parse_listing(body, LISTING, "text/html", scope_hosts=SCOPE)
    assert listing.items[0].title == "Viện kiểm sát"
    assert listing.items[0].published_on == date(2021, 2, 1)


def test_garbage_gives_an_empty_listing() -> None:
    listing = parse_listing(b"\x00\xff\xfe garbage <<<", LISTING, None, scope_hosts=SCOPE)
    assert listing.items == () and listing.next_page_url is None


_fragments = st.sampled_from(
    [
        '<div class="news-list">',
        '<div class="news-item">',
        "</div>",
        "<li>",
        "<nav>",
        "</nav>",
        f'<a href="{art(1)}">',
        f'<a href="{art(2)}?Page=9#x">',
        '<a href="/tintuc/Pages/lists.aspx?Cat=2&amp;ItemID=77">',
        '<a href="javascript:go()">',
        '<a href="http://evil.example/x-d2-t5.html">',
        '<a class="next" href="?Cat=2&amp;Page=3">',
        "</a>",
        "12/12/2024",
        "31/02/2024",
        "Tiêu đề",
        "<",
        "&amp;",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_fragments, st.text(max_size=20)), max_size=40), st.binary(max_size=30))
def test_any_markup_gives_in_scope_unique_article_items(parts: list[str], noise: bytes) -> None:
    body = "".join(parts).encode("utf-8") + noise
    listing = parse_listing(body, LISTING, None, scope_hosts=SCOPE)
    urls = [item.url for item in listing.items]
    assert len(urls) == len(set(urls))
    assert all(in_scope(u, SCOPE) and is_article_url(u) for u in urls)
    assert listing.next_page_url is None or in_scope(listing.next_page_url, SCOPE)
