"""The generic extractor on hand-written markup from no known template (sister-site style)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from vksnd.parsers.article import parse_article
from vksnd.parsers.dates import VIETNAM_TZ
from vksnd.parsers.errors import NotAnArticle

DATA = Path(__file__).resolve().parents[1] / "data"
URL = "https://baovephapluat.vn/kiem-sat/tang-cuong-kiem-sat-123.html"
LEAD = (
    "Sáng 1/8, Viện kiểm sát nhân dân tỉnh A tổ chức hội nghị sơ kết công tác kiểm sát việc "
    "giải quyết các vụ, việc dân sự, hôn nhân và gia đình trong 6 tháng đầu năm."
)


def test_sidebar_menu_related_and_footer_stay_out() -> None:
    article = parse_article((DATA / "generic_news_page.html").read_bytes(), URL)
    assert article.extractor.generic
    assert article.title == "Tăng cường kiểm sát việc giải quyết án dân sự"
    assert article.author == "Minh Anh"
    assert article.published_at == datetime(2023, 8, 1, 12, 12, tzinfo=VIETNAM_TZ)
    assert article.captions == ("Quang cảnh hội nghị.",)
    assert article.images == ("https://baovephapluat.vn/kiem-sat/images/a.jpg",)
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0] == LEAD
    assert "Những hạn chế cần khắc phục" in paragraphs  # a subheading is body text
    assert "- Nâng cao chất lượng kháng nghị\n- Tăng cường phối hợp liên ngành" in paragraphs
    assert paragraphs[-1].startswith("Kết luận hội nghị")
    for chrome in ("Trang chủ", "Bài viết nổi bật", "Tin liên quan", "Bản quyền", "Minh Anh"):
        assert chrome not in article.text


def _page(body: str) -> bytes:
    return f"<html><head><title>Tiêu đề</title></head><body>{body}</body></html>".encode()


def test_br_separated_paragraphs_in_one_div() -> None:
    body = (
        "<div><a href='/'>Trang chủ</a></div><div>"
        + "<br><br>".join([LEAD, LEAD.replace("Sáng", "Chiều"), "Câu ngắn cuối cùng của bài."])
        + "</div>"
    )
    article = parse_article(_page(body), URL)
    assert article.text.split("\n\n") == [
        LEAD,
        LEAD.replace("Sáng", "Chiều"),
        "Câu ngắn cuối cùng của bài.",
    ]


def test_single_br_is_a_space() -> None:
    article = parse_article(_page(f"<div><p>{LEAD}<br>tiếp theo dòng.</p><p>{LEAD}</p></div>"), URL)
    assert article.text.split("\n\n")[0] == f"{LEAD} tiếp theo dòng."


def test_image_table_and_data_table_and_nbsp() -> None:
    body = (
        f"<div><p>{LEAD}</p>"
        "<table><tr><td>leftcenterrightdel</td></tr><tr><td><img src='/x.jpg'></td></tr>"
        "<tr><td>Chú thích dòng một<br>dòng hai</td></tr></table>"
        "<table><tr><th>TT</th><th>Đơn vị</th></tr>"
        "<tr><td>1</td><td>VKSND&nbsp;tỉnh A</td></tr></table>"
        f"<p>{LEAD}</p></div>"
    )
    article = parse_article(_page(body), URL)
    assert article.captions == ("Chú thích dòng một dòng hai",)
    assert article.images == ("https://baovephapluat.vn/x.jpg",)
    assert article.text == f"{LEAD}\n\nTT | Đơn vị\n1 | VKSND tỉnh A\n\n{LEAD}"


def test_after_an_image_italic_or_centred_short_lines_are_captions_bold_ones_subheadings() -> None:
    body = (
        f"<div><p>{LEAD}</p>"
        "<p><img src='/a.jpg'></p><p><em>Toàn cảnh hội nghị</em></p>"
        f"<p>{LEAD}</p>"
        "<p style='text-align:center'><img src='/b.jpg'></p>"
        "<p style='text-align: center'>Đại biểu dự hội nghị</p>"
        f"<p>{LEAD}</p>"
        "<p><img src='/c.jpg'></p><p><strong>Kết quả nổi bật</strong></p>"
        f"<p>{LEAD}</p>"
        "<p><img src='/d.jpg'></p><p><b><i>Quang cảnh buổi lễ</i></b></p>"
        f"<p>{LEAD}</p></div>"
    )
    article = parse_article(_page(body), URL)
    assert article.captions == (
        "Toàn cảnh hội nghị",
        "Đại biểu dự hội nghị",
        "Quang cảnh buổi lễ",  # bold and italic: italic wins, a caption
    )
    assert article.text.split("\n\n") == [LEAD, LEAD, LEAD, "Kết quả nổi bật", LEAD, LEAD]


def test_after_an_image_a_plain_short_line_the_markup_does_not_mark_is_text() -> None:
    # a tutorial's next step, not a caption: no italic, no caption name, not centred
    body = f"<div><p>{LEAD}</p><p><img src='/a.jpg'></p><p>Bấm vào nút Lưu</p><p>{LEAD}</p></div>"
    article = parse_article(_page(body), URL)
    assert article.captions == ()
    assert article.text.split("\n\n") == [LEAD, "Bấm vào nút Lưu", LEAD]


def test_a_page_of_headline_links_is_a_listing() -> None:
    items = "".join(
        f"<li><a href='/tin-tuc/bai-viet-so-{n}-d2-t{1000 + n}.html'>Bài viết số {n} về "
        f"công tác kiểm sát nhân dân</a><p>Tóm tắt ngắn của bài viết số {n}.</p></li>"
        for n in range(12)
    )
    with pytest.raises(NotAnArticle) as info:
        parse_article(_page(f"<div><ul>{items}</ul></div>"), "https://vksndtc.gov.vn/")
    assert info.value.kind == "listing"
