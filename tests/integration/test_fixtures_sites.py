"""The replica's other sites without HTTP: knobs, URL shapes, generated content, rendered pages.

Pages are read with the standard library (``support.html_read``), never with ``vksnd.parsers``.
The central check: for every site and variant, the text of each article page's body container,
captions aside, is word for word the truth's clean text, and its captions are the truth's.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any, get_args

import pytest

from support.html_read import anchors, classes, collapse, container_text, has_class
from vksnd.fixtures import bvpl_layouts
from vksnd.fixtures.model import Paragraph
from vksnd.fixtures.portal.shaped_pages import ShapedRenderer
from vksnd.fixtures.provincial_layouts import CLASS_POOL, Classes
from vksnd.fixtures.seed_articles import VN_TZ
from vksnd.fixtures.shaped_content import (
    BVPL_CATEGORIES,
    build_articles,
    provincial_categories,
    provincial_stock,
)
from vksnd.fixtures.shaped_site import ShapedSite
from vksnd.fixtures.shaped_urls import (
    ARTICLE_REGEXES,
    LISTING_TEMPLATES,
    ListingRoutes,
    ListingSource,
    article_path,
    article_regex,
    document_path,
    listing_path,
    site_slug,
)
from vksnd.fixtures.shapes import (
    BAOVEPHAPLUAT,
    VARIANT_NAMES,
    VARIANTS,
    ArticleUrls,
    ListingUrls,
    Shape,
    parse_knobs,
    random_shape,
    shape_for,
    variant_shape,
)
from vksnd.fixtures.site import SiteConfig
from vksnd.fixtures.sites import make_site

BASE = "http://replica.test"
# What the built-in vksndtc profile selects (parsers/profiles/vksndtc.py): no page of another site
# may carry these classes, so crawling it needs more than that profile.
PORTAL_PROFILE_CLASSES = {
    "news-title", "title", "news-detail", "news-date", "date", "news-content", "content",
    "news-author", "author", "news-list", "news-item", "list-news", "next", "pager",
    "other-news", "related-news",
}  # fmt: skip
# Chrome that must never reach an article's clean text (it is on the pages, outside the body).
CHROME = (
    "leftcenterrightdel",
    "left center right del",
    "Chia sẻ",
    "Tin liên quan",
    "Xem nhiều",
    "Đọc nhiều",
    "Cập nhật lúc",
    "Từ khóa",
    "In bài",
    "Trang chủ",
    "Bản quyền",
    "Ghi rõ nguồn",
)
SITES: list[tuple[str, str | None]] = [
    ("baovephapluat", None),
    *[("provincial", v) for v in VARIANT_NAMES],
    ("provincial", "random-1"),
    ("provincial", "random-2"),
    ("provincial", "random-3"),
]


def _site(site: str, variant: str | None, **options: Any) -> ShapedSite:
    options.setdefault("articles", 40)
    config = SiteConfig(site=site, variant=variant, **options)  # type: ignore[arg-type]
    built = make_site(config)
    assert isinstance(built, ShapedSite)
    return built


def _words(truth_text: str) -> str:
    """The truth's text as words: list markers and cell separators are rules, not page text."""
    lines = [line.removeprefix("- ") for line in truth_text.split("\n")]
    return collapse(" ".join(line.replace(" | ", " ") for line in lines))


def _body(site: ShapedSite, html: str) -> tuple[str, list[str]]:
    if site.name == "baovephapluat":
        return container_text(
            html,
            has_class("detail-body"),
            is_caption=has_class("pCaption"),
            is_skipped=has_class("imgtoolbar"),
        )
    css = Classes(site.shape)

    def caption(tag: str, attrs: dict[str, str]) -> bool:
        return (
            tag == "figcaption"
            or css.caption in attrs.get("class", "").split()
            or (tag == "p" and "text-align:center" in attrs.get("style", ""))
        )

    return container_text(html, has_class(css.a_body), is_caption=caption)


# --- knobs ---------------------------------------------------------------------------------


def test_knobs_are_validated_and_coerced() -> None:
    parsed = parse_knobs(
        {"pager": "none", "sidebar_first": "yes", "page_size": "7", "boxes": "latest,popular"}
    )
    assert parsed == {
        "pager": "none",
        "sidebar_first": True,
        "page_size": 7,
        "boxes": ("latest", "popular"),
    }
    with pytest.raises(ValueError, match="unknown knobs"):
        parse_knobs({"colour": "red"})
    with pytest.raises(ValueError, match="not one of"):
        parse_knobs({"pager": "infinite"})
    with pytest.raises(ValueError, match="not among"):
        parse_knobs({"boxes": "latest,ads"})
    with pytest.raises(ValueError, match="page_size"):
        Shape(page_size=0)


def test_sites_take_only_their_knobs() -> None:
    assert shape_for("vksndtc", None, {}) is None
    with pytest.raises(ValueError, match="vksndtc"):
        shape_for("vksndtc", "cards", {})
    with pytest.raises(ValueError, match="fixed"):
        shape_for("baovephapluat", None, {"pager": "none"})
    bvpl = shape_for("baovephapluat", None, {"sitemap": "flat", "page_size": 5})
    assert bvpl is not None and (bvpl.sitemap, bvpl.page_size) == ("flat", 5)
    cards = shape_for("provincial", "cards", {"pager": "none"})
    assert cards == replace(VARIANTS["cards"], pager="none")
    with pytest.raises(ValueError, match="unknown variant"):
        variant_shape("nope")


def test_named_variants_share_no_regularity() -> None:
    """Each knob that shapes discovery takes at least two values across the named variants."""
    shapes = [VARIANTS[v] for v in VARIANT_NAMES]
    for knob in ("article_urls", "listing_urls", "first_page", "listing_markup", "pager",
                 "past_end", "listing_dates", "box_markup", "article_markup", "date_format",
                 "body_markup", "image_markup", "link_form", "slug_style", "sitemap", "feeds",
                 "today_bar", "sidebar_first", "page_size"):  # fmt: skip
        assert len({getattr(s, knob) for s in shapes}) >= 2, knob
    assert len({s.article_urls for s in shapes}) == len(shapes)
    assert len({s.listing_urls for s in shapes}) == len(shapes)


def test_random_variants_are_deterministic_and_cover_the_knobs() -> None:
    assert random_shape(7) == random_shape(7) != random_shape(8)
    shapes = [random_shape(n) for n in range(60)]
    for knob in ("article_urls", "listing_urls", "listing_markup", "pager", "past_end",
                 "box_markup", "article_markup", "date_format", "sitemap", "feeds"):  # fmt: skip
        values = {getattr(s, knob) for s in shapes}
        allowed = set(get_args(Shape.__annotations__[knob])) - {"section", "p"}
        assert values == allowed or len(values) >= 3, knob
    assert all(s.article_urls != "section" for s in shapes)


# --- URL shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", get_args(ArticleUrls))
@pytest.mark.parametrize("style", ["portal", "collapsed"])
def test_article_urls_match_their_regex_with_the_right_groups(scheme: str, style: str) -> None:
    shape = Shape(article_urls=scheme, slug_style=style)  # type: ignore[arg-type]
    categories = BVPL_CATEGORIES if scheme == "section" else provincial_categories(shape)
    regex = article_regex(shape)
    group = ARTICLE_REGEXES[shape.article_urls][1]
    for article in build_articles(categories, 120, 3, provincial_stock(Shape())):
        path = article_path(shape, article)
        match = regex.fullmatch(path)
        assert match, path
        assert int(match["id"]) == article.id
        if group == "slug":
            assert match["category"] == article.category.slug
        elif group == "id":
            assert int(match["category"]) == article.category.id
        else:
            assert "category" not in regex.groupindex


@pytest.mark.parametrize("listing", get_args(ListingUrls))
@pytest.mark.parametrize("first", ["bare", "numbered"])
def test_listing_urls_route_back_and_never_look_like_articles(listing: str, first: str) -> None:
    sources = [
        ListingSource(slug, slug, cat_id, slug, (cat_id,))
        for slug, cat_id in (("tin-tuc-su-kien", 481), ("hoat-dong-nganh", 12))
    ]
    for scheme in get_args(ArticleUrls):
        shape = Shape(listing_urls=listing, first_page=first, article_urls=scheme)  # type: ignore[arg-type]
        routes = ListingRoutes(shape, sources)
        regex = article_regex(shape)
        for source in sources:
            for page in (1, 2, 17):
                url = listing_path(shape, source, page)
                path, _, query = url.partition("?")
                params = dict(p.split("=") for p in query.split("&") if p)
                assert routes.match(path, params) == (source, page), url
                assert not regex.fullmatch(path), (scheme, url)
            every = LISTING_TEMPLATES[shape.listing_urls][0]
            numbered = every.format(slug=source.slug, id=source.id, page=1)
            path, _, query = numbered.partition("?")
            params = dict(p.split("=") for p in query.split("&") if p)
            assert routes.match(path, params) == (source, 1)
        assert not regex.fullmatch(document_path("quyet-dinh-so-12", 215))
    assert routes.match("/nothing-here", {}) is None


def test_slug_styles() -> None:
    title = "Đại hội Chi bộ nhiệm kỳ 2022 - 2025: “Đoàn kết” và phát triển bền vững, hội nhập"
    assert site_slug(title, "portal") == "dai-hoi-chi-bo-nhiem-ky-2022---2025-doan-ket-va-ph"
    assert site_slug(title, "collapsed") == (
        "dai-hoi-chi-bo-nhiem-ky-2022-2025-doan-ket-va-phat-trien-ben-vung-hoi-nhap"
    )
    long = " ".join(["kiểm sát"] * 20)
    cut = site_slug(long, "collapsed")
    assert len(cut) <= 80 and not cut.endswith("-") and cut.endswith("kiem-sat")


# --- generated content ---------------------------------------------------------------------


@pytest.mark.parametrize(("site", "variant"), SITES)
def test_sites_are_deterministic_and_their_ids_are_not_their_date_order(
    site: str, variant: str | None
) -> None:
    a, b = _site(site, variant, articles=80, seed=4), _site(site, variant, articles=80, seed=4)
    assert a.truth(BASE) == b.truth(BASE)
    assert a.truth(BASE) != _site(site, variant, articles=80, seed=5).truth(BASE)
    truth = a.truth(BASE)["articles"]
    assert len({t["title"] for t in truth}) == len(truth)
    assert {t["category"] for t in truth} <= {c.id for c in a.categories}
    by_id = [t["published_at"] for t in sorted(truth, key=lambda t: t["id"])]
    assert by_id != sorted(by_id), "a few articles are backdated"
    assert all(t["published_at"].endswith("+07:00") for t in truth)
    assert all(t["author"] != "" for t in truth)


def test_listing_dates_differ_where_the_shape_says_so() -> None:
    site = _site("provincial", "id-first", articles=80)
    truth = site.truth(BASE)["articles"]
    updated = [t for t in truth if t["listed"] != t["published"]]
    assert updated and all(t["listed"] > t["published"] for t in updated)
    none = _site("provincial", "no-pager").truth(BASE)["articles"]
    assert all(t["listed"] is None for t in none)


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("site", "variant"), SITES)
def test_article_body_text_is_the_truth_and_chrome_stays_outside(
    site: str, variant: str | None
) -> None:
    shaped = _site(site, variant, articles=40, seed=2, broken=0)
    renderer = ShapedRenderer(shaped, BASE)
    truth = shaped.truth(BASE)
    assert truth["articles"]
    for entry in truth["articles"]:
        page = renderer.page(entry["canonical_url"].removeprefix(BASE))
        assert page.status == 200
        html = page.body.decode()
        text, captions = _body(shaped, html)
        assert text == _words(entry["text"]), entry["id"]
        assert [c for c in captions if c] == entry["captions"], entry["id"]
        assert not any(phrase in entry["text"] for phrase in CHROME)
        assert shaped.date_line(datetime.fromisoformat(entry["published_at"])) in html
        if entry["author"]:
            assert collapse(entry["author"]) in collapse(html)
    everything = "".join(
        renderer.page(e["canonical_url"].removeprefix(BASE)).body.decode()
        for e in truth["articles"]
    )
    assert "Tin liên quan" in everything and "Trang chủ" in everything


@pytest.mark.parametrize(("site", "variant"), SITES)
def test_pages_carry_none_of_the_portal_profiles_classes(site: str, variant: str | None) -> None:
    shaped = _site(site, variant, articles=30)
    renderer = ShapedRenderer(shaped, BASE)
    truth = shaped.truth(BASE)
    targets = ["/", *(c["listing_url"].removeprefix(BASE) for c in truth["site"]["categories"])]
    targets += [a["canonical_url"].removeprefix(BASE) for a in truth["articles"][:10]]
    found: set[str] = set()
    for target in targets:
        found |= classes(renderer.page(target).body.decode())
    assert found and not found & PORTAL_PROFILE_CLASSES
    assert not CLASS_POOL & PORTAL_PROFILE_CLASSES


def test_the_site_name_is_the_only_h1_of_div_h2_pages() -> None:
    shaped = _site("provincial", "cards")
    renderer = ShapedRenderer(shaped, BASE)
    entry = shaped.truth(BASE)["articles"][3]
    html = renderer.page(entry["canonical_url"].removeprefix(BASE)).body.decode()
    h1 = re.findall(r"<h1[^>]*>(.*?)</h1>", html)
    assert len(h1) == 1 and "VIỆN KIỂM SÁT NHÂN DÂN TỈNH PHÚ YÊN" in h1[0]
    assert f">{entry['title']}</h2>" in html.replace("&quot;", '"')


def test_date_only_pages_state_the_time_in_meta() -> None:
    shaped = _site("provincial", "numbered")
    renderer = ShapedRenderer(shaped, BASE)
    entry = shaped.truth(BASE)["articles"][0]
    html = renderer.page(entry["canonical_url"].removeprefix(BASE)).body.decode()
    when = datetime.fromisoformat(entry["published_at"])
    assert f"Ngày {when:%d/%m/%Y}" in html
    assert f'<meta property="article:published_time" content="{entry["published_at"]}">' in html


def test_baovephapluat_images_are_three_row_tables_behind_the_real_date_line() -> None:
    shaped = _site("baovephapluat", None, articles=60)
    renderer = ShapedRenderer(shaped, BASE)
    tables = 0
    for entry in shaped.truth(BASE)["articles"]:
        html = renderer.page(entry["canonical_url"].removeprefix(BASE)).body.decode()
        toolbar = html.count(
            '<tr class="imgtoolbar"><td>left</td><td>center</td><td>right</td><td>del</td></tr>'
        )
        assert toolbar == len(entry["captions"]) == html.count('class="pCaption"')
        tables += toolbar
        line = re.search(r'<span class="detail-time">([^<]+)</span>', html)
        assert line
        assert re.fullmatch(
            r"Cập nhật lúc \d\d:\d\d, (Thứ (hai|ba|tư|năm|sáu|bảy)|Chủ nhật), "
            r"\d\d/\d\d/\d{4} \(GMT\+7\)",
            line.group(1),
        )
        when = datetime.fromisoformat(entry["published_at"])
        assert f"{when:%H:%M}, " in line.group(1) and f"{when:%d/%m/%Y}" in line.group(1)
        naive = collapse(re.sub(r"<[^>]+>", "", html))
        if entry["captions"]:
            assert "leftcenterrightdel" in naive  # what a naive extractor gets
    assert tables > 10
    assert bvpl_layouts.TOOLBAR == ("left", "center", "right", "del")


def test_bodies_reuse_the_generators_vietnamese() -> None:
    shaped = _site("baovephapluat", None, articles=30)
    words = Counter(
        w for i in shaped.article_ids() for b in shaped.article(i).blocks
        if isinstance(b, Paragraph) for w in b.text.split()
    )  # fmt: skip
    assert words["VKSND"] > 5 and words["Kiểm"] + words["kiểm"] > 5


def test_boxes_link_elsewhere() -> None:
    shaped = _site("provincial", "chuyen-muc", articles=60)
    renderer = ShapedRenderer(shaped, BASE)
    truth = {a["id"]: a for a in shaped.truth(BASE)["articles"]}
    regex = article_regex(shaped.shape)
    category = shaped.categories[0]
    html = renderer.page(shaped.listing_url_for(category.id, 1)).body.decode()
    css = Classes(shaped.shape)
    ids_in = {
        int(m["id"])
        for a in anchors(html)
        if (m := regex.fullmatch(a.href)) and css.box not in a.inside
    }
    ids_out = {
        int(m["id"])
        for a in anchors(html)
        if (m := regex.fullmatch(a.href)) and css.box in a.inside
    }
    assert ids_in and ids_out - ids_in
    listed = [truth[i] for i in ids_in if i in truth]
    assert {t["category"] for t in listed} == {category.id}
    boxed = [truth[i] for i in ids_out if i in truth]
    assert any(t["category"] != category.id for t in boxed)
    oldest = min(t["published"] for t in listed)
    assert any(t["published"] < oldest for t in boxed)


def test_bvpl_shape_is_fixed_but_for_discovery() -> None:
    assert BAOVEPHAPLUAT.article_urls == "section" and BAOVEPHAPLUAT.listing_urls == "p"
    assert BAOVEPHAPLUAT.feed_path == "/so-do-website/rss/{id}"
    knobs = _site("baovephapluat", None).profile(BASE)["knobs"]
    assert "listing_markup" not in knobs and knobs["feeds"] == "category-rss"
    at = datetime(2025, 6, 27, 9, 5, tzinfo=VN_TZ)
    assert _site("baovephapluat", None).date_line(at) == (
        "Cập nhật lúc 09:05, Thứ sáu, 27/06/2025 (GMT+7)"
    )
