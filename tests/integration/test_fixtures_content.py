"""The replica's content: URL shapes, seeds, the generator's site, layouts and encodings.

Page checks use the standard library's ``html.parser``, not our parser, so the replica is not
judged by the code it exists to test.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vksnd.fixtures.generator import build_site, date_for_id, edit_article, new_article
from vksnd.fixtures.layouts import (
    encode_page,
    has_json_ld,
    render_article_element,
    render_home,
    render_legacy,
    render_listing,
    render_not_found,
    render_portal,
    render_print,
)
from vksnd.fixtures.model import (
    Image,
    ListBlock,
    ListingItem,
    Paragraph,
    SiteArticle,
    Table,
    collapse,
    expected_captions,
    expected_text,
)
from vksnd.fixtures.seed_articles import VN_TZ, first_sentence, seed_articles
from vksnd.fixtures.urls import (
    CATEGORIES,
    SERIES_ANNIVERSARY,
    article_path,
    category_by_id,
    legacy_article_path,
    listing_path,
    print_path,
    slugify,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SEED_FILES = sorted(p.name for p in (FIXTURES / "seeds").glob("*.txt"))
VOID = {"meta", "link", "input", "img", "br", "hr"}


@pytest.fixture(scope="module")
def site() -> list[SiteArticle]:
    return build_site(600, 3)


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        (
            "Hội nghị Ban Chỉ đạo chuyển đổi số ngành Kiểm sát nhân dân",
            "hoi-nghi-ban-chi-dao-chuyen-doi-so-nganh-kiem-sat-",
        ),
        (
            "Lãnh đạo VKSND tối cao tiếp Đoàn đại biểu VKSND tỉnh Hủa Phăn (Lào)",
            "lanh-dao-vksnd-toi-cao-tiep-doan-dai-bieu-vksnd-ti",
        ),
        ("Đại hội Chi bộ nhiệm kỳ 2022 - 2025", "dai-hoi-chi-bo-nhiem-ky-2022---2025"),
        ("Giải chạy “Vì ngành Kiểm sát”: 26/7!", "giai-chay-vi-nganh-kiem-sat-267"),
        ("ĐẢNG ỦY đồng hành", "dang-uy-dong-hanh"),
        ("", ""),
    ],
)
def test_slugify_follows_the_portal_rule(title: str, slug: str) -> None:
    assert slugify(title) == slug


@given(st.text(max_size=120))
def test_slug_is_ascii_and_at_most_50(title: str) -> None:
    assert re.fullmatch(r"[a-z0-9-]{0,50}", slugify(title))


def test_category_slugs_are_their_names_slugified() -> None:
    assert {c.id for c in CATEGORIES} == {2, 10, 20, 32, 14}
    for category in CATEGORIES:
        assert slugify(category.name) == category.slug
    assert category_by_id(14) is SERIES_ANNIVERSARY and SERIES_ANNIVERSARY.series


def _article(title: str, cat_id: int, article_id: int) -> SiteArticle:
    when = datetime(2024, 4, 23, 9, tzinfo=VN_TZ)
    return SiteArticle(article_id, category_by_id(cat_id), title, when, None, (), "")


def test_article_paths_reproduce_portal_examples() -> None:
    a = _article("Hội nghị Ban Chỉ đạo chuyển đổi số ngành Kiểm sát nhân dân", 2, 12123)
    assert article_path(a) == (
        "/tin-tuc/tin-hoat-dong-vksnd-toi-cao/hoi-nghi-ban-chi-dao-chuyen-doi-so-nganh-kiem-sat--d2-t12123.html"
    )
    assert article_path(a, with_section=False).startswith("/tin-hoat-dong-vksnd-toi-cao/hoi-")
    b = _article("Lãnh đạo VKSND tối cao tiếp Đoàn đại biểu VKSND tỉnh Hủa Phăn", 20, 12700)
    assert article_path(b) == (
        "/cong-tac-hop-tac-quoc-te/lanh-dao-vksnd-toi-cao-tiep-doan-dai-bieu-vksnd-ti-d20-t12700.html"
    )
    c = _article("Phương pháp và kinh nghiệm khi trực tiếp kiểm sát việc tạm giữ", 14, 8296)
    assert article_path(c) == (
        "/tin-tuc-su-kien/chao-mung-ngay-thanh-lap-vien-kiem-sat-nhan-dan-to/"
        "phuong-phap-va-kinh-nghiem-khi-truc-tiep-kiem-sat--s14-t8296.html"
    )
    assert legacy_article_path(a) == "/tintuc/Pages/lists.aspx?Cat=2&ItemID=12123"
    assert legacy_article_path(a, page=4) == "/tintuc/Pages/lists.aspx?Cat=2&ItemID=12123&Page=4"
    assert print_path(a) == (
        "/UserControls/Publishing/News/BinhLuan/pFormPrint.aspx"
        "?UrlListProcess=/tintuc/Pages/lists.aspx&ItemID=12123&webP=portal"
    )


def test_listing_paths() -> None:
    assert listing_path(2, 94) == "/tintuc/Pages/lists.aspx?Cat=2&Page=94"
    assert listing_path(32, 3, "section") == "/thong-tin/cong-tac-xay-dung-dang?Page=3"
    assert listing_path(20, 1, "section") == "/cong-tac-hop-tac-quoc-te?Page=1"
    with pytest.raises(ValueError, match="start at 1"):
        listing_path(2, 0)
    with pytest.raises(KeyError):
        listing_path(99, 1, "section")


# --- Seeds ------------------------------------------------------------------------------------


def _raw_seed_captions(name: str) -> list[str]:
    """Caption lines straight from the dump: after each toolbar line up to a blank/toolbar line."""
    lines = (FIXTURES / "seeds" / name).read_text(encoding="utf-8").splitlines()
    captions: list[str] = []
    for n, line in enumerate(lines):
        if line.strip() == "leftcenterrightdel":
            group = []
            for follow in lines[n + 1 :]:
                if not follow.strip() or follow.strip() == "leftcenterrightdel":
                    break
                group.append(follow)
            captions.append(collapse(" ".join(group)))
    return captions


SEED_004_CAPTIONS = [
    "Toàn cảnh buổi gặp mặt",
    "Đồng chí Trần Hữu Thanh, Phó Bí thư Thường trực Đảng uỷ và đồng chí Tăng Ngọc Tuấn, "
    "Uỷ viên Ban Thường vụ Đảng uỷ đại diện Ban Thường vụ Đảng uỷ VKSND tối cao "
    "tặng hoa chúc mừng các cơ quan tham mưu, giúp việc cấp uỷ",
    "Đồng chí Lương Minh Thống, Vụ trưởng Vụ Kiểm sát việc tạm giữ, tạm giam "
    "và thi hành án hình sự tặng hoa chúc mừng các cơ quan tham mưu, giúp việc cấp uỷ",
    "Cục Kế hoạch – Tài chính tặng hoa chúc mừng các cơ quan tham mưu, giúp việc cấp uỷ",
]


@pytest.mark.parametrize("index", range(5))
def test_seed_blocks_reproduce_the_hand_written_expected_text(index: int) -> None:
    article = seed_articles()[index]
    name = SEED_FILES[index]
    assert expected_text(article.blocks) == (FIXTURES / "expected" / name).read_text("utf-8")
    wanted = SEED_004_CAPTIONS if name.startswith("004") else _raw_seed_captions(name)
    assert list(expected_captions(article.blocks)) == wanted
    forms = {b.form for b in article.blocks if isinstance(b, Image)}
    assert forms <= ({"caption_paragraph"} if name.startswith("004") else {"toolbar_table"})


def test_seed_metadata() -> None:
    seeds = seed_articles()
    assert [a.id for a in seeds] == [12281, 8541, 9262, 7712, 10745]
    assert [a.category.id for a in seeds] == [32, 32, 2, 10, 32]
    assert [a.author for a in seeds] == [None, "Đắc Thái", "Đắc Thái", "V.T", "TL"]
    assert seeds[4].published_at == datetime(2022, 10, 18, 15, 20, tzinfo=VN_TZ)
    assert not [b for b in seeds[0].blocks if isinstance(b, Image)]
    wrapped = [b.caption_lines for b in seeds[4].blocks if isinstance(b, Image)]
    assert [len(lines) for lines in wrapped] == [1, 3, 2, 2]
    assert all(a.summary and a.summary in expected_text(a.blocks) for a in seeds)


def test_summary_is_the_first_sentence() -> None:
    assert first_sentence("Một câu… đồng chí nói. Đảng uỷ họp.") == "Một câu… đồng chí nói."
    assert first_sentence("Số 1.400m2. “Trích” sau.") == "Số 1.400m2."
    assert first_sentence("Không có dấu chấm") == "Không có dấu chấm"


# --- Generator --------------------------------------------------------------------------------


def test_build_site_is_deterministic() -> None:
    assert build_site(150, 11) == build_site(150, 11)
    assert build_site(150, 11) != build_site(150, 12)
    assert build_site(0, 1) == seed_articles()


def test_ids_titles_and_texts_are_unique(site: list[SiteArticle]) -> None:
    assert len(site) == 605
    assert len({a.id for a in site}) == len(site)
    assert len({a.title for a in site}) == len(site)
    assert len({expected_text(a.blocks) for a in site}) == len(site)


def test_native_ids_grow_with_dates(site: list[SiteArticle]) -> None:
    native = sorted((a.id, a.published_at) for a in site if a.published_at.year >= 2018)
    dates = [when for _, when in native]
    assert dates == sorted(dates)
    assert all(datetime(2018, 1, 1, tzinfo=VN_TZ) <= d < datetime(2026, 12, 1, tzinfo=VN_TZ)
               for d in dates)  # fmt: skip
    per_month = [i for i, d in native if d.year >= 2022]
    months = (native[-1][1] - datetime(2022, 1, 1, tzinfo=VN_TZ)).days / 30.4
    assert max(per_month) - min(per_month) < 95 * months  # ~75-90 ids a month since 2022


@pytest.mark.parametrize(
    ("article_id", "day"),
    [(10106, "28/03/2022"), (11236, "11/05/2023"), (11831, "05/12/2023"), (12123, "23/04/2024"),
     (12700, "20/12/2024"), (13203, "01/07/2025"), (10745, "18/10/2022"), (7712, "08/11/2019")],
)  # fmt: skip
def test_id_line_passes_through_portal_samples(article_id: int, day: str) -> None:
    assert f"{date_for_id(article_id):%d/%m/%Y}" == day


def test_ids_grow_about_80_a_month_since_2022() -> None:
    # PORTAL.md says "roughly 75-90"; its own samples give ~70 a month across 2024.
    for year in (2022, 2023, 2024, 2025):
        ids = [i for i in range(9500, 14600, 5) if date_for_id(i).year == year]
        assert 65 * 12 <= max(ids) - min(ids) <= 100 * 12, year


def test_synthetic_articles_appear_in_office_hours(site: list[SiteArticle]) -> None:
    for a in site[5:]:
        assert 7 <= a.published_at.hour < 18 or a.published_at.strftime("%H:%M") == "18:00"


def test_migrated_block_runs_against_date_order(site: list[SiteArticle]) -> None:
    old = sorted((a.id, a.published_at) for a in site if a.published_at.year < 2018)
    assert len(old) == 30
    assert all(2900 <= i <= 3000 or 6411 <= i <= 6771 for i, _ in old)
    block = [d for i, d in old if i >= 6411]
    assert block == sorted(block, reverse=True) and block[0].year == 2010
    migrated = next(a for a in site if a.id == old[0][0])
    first, second = migrated.blocks[:2]
    assert isinstance(first, Paragraph) and first.text.endswith("…")
    assert isinstance(second, Paragraph) and second.text == migrated.title


def test_site_covers_categories_forms_lists_tables_and_spellings(site: list[SiteArticle]) -> None:
    cats = Counter(a.category.id for a in site)
    assert set(cats) == {2, 10, 20, 32, 14}
    assert 0.05 < cats[14] / len(site) < 0.16
    blocks = [b for a in site for b in a.blocks]
    images = [b for b in blocks if isinstance(b, Image)]
    assert {b.form for b in images} == {"toolbar_table", "figure", "caption_paragraph"}
    assert any(len(b.caption_lines) >= 2 for b in images if b.form != "caption_paragraph")
    for a in site:
        srcs = [b.src for b in a.blocks if isinstance(b, Image)]
        month = f"{a.published_at.year}/{a.published_at.month:02d}"
        assert srcs == [f"/Uploads/images/{month}/{a.id}_{n}.jpg" for n in range(1, len(srcs) + 1)]
    assert any(isinstance(b, ListBlock) for b in blocks)
    assert any(isinstance(b, Table) for b in blocks)
    text = " ".join(expected_text(a.blocks) for a in site[5:])
    assert "ủy" in text and "uỷ" in text and "hòa" in text
    assert {a.author for a in site} >= {"Đắc Thái", "V.T", "TL", None}
    for a in site[5:]:
        paragraphs = [b for b in a.blocks if isinstance(b, Paragraph)]
        assert 3 <= len(paragraphs) <= 16 and a.summary
        assert sum(isinstance(b, Image) for b in a.blocks) <= 3


def test_titles_stress_the_slug_rule(site: list[SiteArticle]) -> None:
    titles = [a.title for a in build_site(3000, 5)]
    assert any(re.search(r"\d - \d", t) for t in titles)
    assert any("“" in t for t in titles)
    assert any(len(slugify(t)) == 50 and slugify(t).endswith("-") for t in titles)
    assert any("(" in t for t in titles) and any("đ" in t for t in titles)


def test_build_site_is_fast_and_scales_ids() -> None:
    started = time.perf_counter()
    big = build_site(20000, 1)
    elapsed = time.perf_counter() - started
    assert elapsed < 6.0  # target < 3 s; the margin keeps a loaded CI box from flaking
    assert len({a.id for a in big}) == len(big) == 20005


def test_edit_and_new_article_are_deterministic(site: list[SiteArticle]) -> None:
    a = site[42]
    edited = edit_article(a)
    assert edited == edit_article(a) and edited.version == a.version + 1
    assert expected_text(edited.blocks) != expected_text(a.blocks)
    assert expected_text(edit_article(edited).blocks) != expected_text(edited.blocks)
    assert (edited.id, edited.title, edited.published_at) == (a.id, a.title, a.published_at)
    when = datetime(2026, 11, 30, 10, tzinfo=VN_TZ)
    fresh = new_article(7, 14700, when)
    assert fresh == new_article(7, 14700, when) and fresh.id == 14700
    assert fresh.published_at == when
    titled = new_article(7, 14700, when, taken_titles=set())
    avoided = new_article(7, 14700, when, taken_titles={titled.title})
    assert avoided.title != titled.title
    untracked = {new_article(7, i, when).title for i in range(14700, 14760)}
    assert len(untracked) == 60 and not untracked & {a.title for a in site}


# --- Layouts ----------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects text, class names and ids, and checks that non-void tags nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.classes: set[str] = set()
        self.ids: set[str] = set()
        self.errors: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "class" and value:
                self.classes.update(value.split())
            if name == "id" and value:
                self.ids.add(value)
        if tag in ("script", "style"):
            self.skip += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    assert not page.errors and not page.stack, (page.errors, page.stack)
    return page


LAYOUTS = {
    "portal": lambda a: render_portal(a, "https://vksndtc.gov.vn" + article_path(a)),
    "element": lambda a: render_article_element(a, "https://vksndtc.gov.vn" + article_path(a)),
    "legacy": lambda a: render_legacy(a, "https://vksndtc.gov.vn" + legacy_article_path(a)),
    "print": render_print,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layouts_are_well_formed_and_carry_all_text(layout: str, site: list[SiteArticle]) -> None:
    for a in site[:5] + site[40:120]:
        page = _parse(LAYOUTS[layout](a))
        text = collapse("".join(page.text))
        assert collapse(a.title) in text
        for block in a.blocks:
            if isinstance(block, Paragraph):
                assert collapse(block.text) in text
            elif isinstance(block, Image):
                assert all(collapse(line) in text for line in block.caption_lines)
            elif isinstance(block, ListBlock):
                assert all(collapse(item) in text for item in block.items)
        if a.author:
            assert a.author in text


def test_the_three_article_layouts_share_no_class_or_id(site: list[SiteArticle]) -> None:
    found: dict[str, set[str]] = {}
    for name in ("portal", "element", "legacy"):
        pages = [_parse(LAYOUTS[name](a)) for a in site[:40]]
        found[name] = {f"c:{c}" for p in pages for c in p.classes} | {
            f"i:{i}" for p in pages for i in p.ids
        }
    assert found["portal"] and found["element"] and not found["legacy"]
    assert not found["portal"] & found["element"]


def test_portal_pages_carry_meta_and_realistic_mess(site: list[SiteArticle]) -> None:
    pages = {a.id: LAYOUTS["portal"](a) for a in site}
    seed = site[4]
    assert 'content="2022-10-18T15:20:00+07:00"' in pages[seed.id]
    assert '<div class="news-date">18/10/2022</div>' in pages[seed.id]
    assert '<div class="news-author">TL</div>' in pages[seed.id]
    assert "news-author" not in pages[site[0].id]  # seed 000 has no author
    with_ld = [a for a in site if "application/ld+json" in pages[a.id]]
    assert with_ld == [a for a in site if has_json_ld(a)]
    assert 0.3 < len(with_ld) / len(site) < 0.7
    bodies = "".join(
        p.split('<div class="news-content">')[1].split("</div>")[0] for p in pages.values()
    )
    for mess in (
        "&nbsp;",
        "&#7889;",
        "&#273;",
        "<p>&nbsp;</p>",
        "&amp;",
        "<span style=",
        "<strong>",
    ):
        assert mess in bodies
    everything = "".join(pages.values())
    assert 'class="image-toolbar"><span>left</span>' in everything


def test_listing_home_and_not_found_pages(site: list[SiteArticle]) -> None:
    items = [
        ListingItem(article_path(a), a.title, a.published_at.date(), a.summary) for a in site[5:25]
    ]
    page = render_listing(CATEGORIES[0], items, 3, True, lambda n: listing_path(2, n))
    parsed = _parse(page)
    assert parsed.classes >= {"news-list", "news-item", "title", "date", "summary", "pager"}
    assert page.count('class="news-item"') == 20
    assert '<a class="next" href="/tintuc/Pages/lists.aspx?Cat=2&amp;Page=4">Trang sau</a>' in page
    assert f'<span class="date">{items[0].published:%d/%m/%Y}</span>' in page
    last = render_listing(CATEGORIES[0], items[:2], 9, False, lambda n: listing_path(2, n))
    assert 'class="next"' not in last and 'class="prev"' in last
    home = _parse(render_home(CATEGORIES, items[:5]))
    assert all(collapse(c.name) in collapse("".join(home.text)) for c in CATEGORIES)
    missing = render_not_found("/rss")
    assert "Không tìm thấy trang" in missing and "/rss" in missing
    _parse(missing)


# --- Encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["portal", "element", "legacy"])
def test_windows_1258_round_trip(layout: str, site: list[SiteArticle]) -> None:
    for a in site[:5] + site[200:230]:
        html = LAYOUTS[layout](a).replace('<meta charset="utf-8">', '<meta charset="windows-1258">')
        body, content_type = encode_page(html, "windows-1258")
        assert content_type == "text/html; charset=windows-1258"
        decoded = body.decode("cp1258")
        assert unicodedata.normalize("NFC", decoded) == unicodedata.normalize("NFC", html)
        assert "ố" not in decoded and "\u0301" in decoded  # tone marks travel as combining marks
        assert '<meta charset="windows-1258">' in decoded


def test_windows_1258_escapes_what_it_cannot_encode() -> None:
    body, _ = encode_page('<meta charset="utf-8"><p>Lễ ★ ộ Ư</p>', "windows-1258")
    decoded = body.decode("cp1258")
    assert "&#9733;" in decoded and '<meta charset="windows-1258">' in decoded
    assert decoded.endswith("<p>L\u00ea\u0303 &#9733; \u00f4\u0323 \u01af</p>")


def test_nfd_and_utf8_encodings(site: list[SiteArticle]) -> None:
    html = LAYOUTS["element"](site[1])
    body, content_type = encode_page(html, "nfd")
    assert content_type == "text/html; charset=utf-8"
    decoded = body.decode("utf-8")
    assert decoded == unicodedata.normalize("NFD", decoded) != html
    assert unicodedata.normalize("NFC", decoded) == unicodedata.normalize("NFC", html)
    legacy_as_utf8, _ = encode_page(LAYOUTS["legacy"](site[1]), "utf-8")
    assert b'<meta charset="utf-8">' in legacy_as_utf8
