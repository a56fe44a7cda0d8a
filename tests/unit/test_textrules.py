"""Text rules on the real seed dumps (``vksnd clean``'s core) and on hand-made edge cases."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vksnd.parsers.blocks import TOOLBAR_TOKEN
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.parsers.textrules import clean_text, is_byline, scrub_toolbar

SEEDS = sorted(e.name for e in resources.files("vksnd.fixtures").joinpath("seeds").iterdir())


def _read(folder: str, name: str) -> str:
    return resources.files("vksnd.fixtures").joinpath(folder, name).read_text(encoding="utf-8")


def test_there_are_five_seeds() -> None:
    assert len(SEEDS) == 5


@pytest.mark.parametrize("name", SEEDS)
def test_seed_dump_cleans_to_expected_text(name: str) -> None:
    assert clean_text(_read("seeds", name), PROFILE.text).text == _read("expected", name)


@pytest.mark.parametrize(
    ("prefix", "byline", "captions"),
    [("000", None, 0), ("001", "Đắc Thái", 4), ("002", "Đắc Thái", 5), ("003", "V.T", 4),
     ("004", "TL", 3)],
)  # fmt: skip
def test_seed_byline_and_captions(prefix: str, byline: str | None, captions: int) -> None:
    name = next(n for n in SEEDS if n.startswith(prefix))
    result = clean_text(_read("seeds", name), PROFILE.text)
    assert result.byline == byline
    assert len(result.captions) == captions
    for caption in result.captions:
        assert caption not in result.text


def test_seed_004_captions_are_joined_wrapped_lines() -> None:
    name = next(n for n in SEEDS if n.startswith("004"))
    captions = clean_text(_read("seeds", name), PROFILE.text).captions
    assert captions[0] == "Toàn cảnh buổi gặp mặt"
    assert captions[1].startswith("Đồng chí Trần Hữu Thanh, Phó Bí thư Thường trực Đảng uỷ và")
    assert "Tăng Ngọc Tuấn, Uỷ viên Ban Thường vụ" in captions[1]
    assert captions[1].endswith("tặng hoa chúc mừng các cơ quan tham mưu, giúp việc cấp uỷ")


LONG = (
    "Hội nghị đã thảo luận, thống nhất nhiều giải pháp nhằm nâng cao chất lượng, hiệu quả "
    "công tác kiểm sát trong thời gian tới, đáp ứng yêu cầu cải cách tư pháp."
)


def test_toolbar_glued_to_caption_is_split_off() -> None:
    result = clean_text(f"{LONG}\n\nleftcenterrightdelToàn cảnh hội nghị\n\n{LONG}")
    assert result.captions == ("Toàn cảnh hội nghị",)
    assert result.text == f"{LONG}\n\n{LONG}"


def test_toolbar_inside_a_sentence_is_scrubbed() -> None:
    result = clean_text(f"Trước leftcenterrightdel sau. {LONG}")
    assert TOOLBAR_TOKEN not in result.text
    assert result.text.startswith("Trước sau.")


def test_chrome_lines_go_but_similar_sentences_stay() -> None:
    text = "\n\n".join(
        ["Trang chủ » Tin tức", LONG, "Tìm kiếm", "Chia sẻ", f"Tìm kiếm giải pháp mới. {LONG}",
         "Bản quyền thuộc Viện kiểm sát nhân dân tối cao. Lượt truy cập: 12345"]
    )  # fmt: skip
    result = clean_text(text)
    assert result.text == f"{LONG}\n\nTìm kiếm giải pháp mới. {LONG}"


def test_header_zone_needs_a_marker() -> None:
    # a short first line without a date/tools line below it is body, not header
    text = f"Tin vắn hôm nay.\n\n{LONG}"
    assert clean_text(text).text == text
    # ... and with a date line below, everything above it is header
    assert clean_text(f"Tin vắn hôm nay\n18/10/2022\n{LONG}").text == LONG


def test_single_newline_paragraphs_become_blank_line_separated() -> None:
    assert clean_text(f"{LONG}\n{LONG}").text == f"{LONG}\n\n{LONG}"


@pytest.mark.parametrize("line", ["Đắc Thái", "V.T", "TL", "Nguyễn Văn An (VKSND Hà Nội)"])
def test_bylines(line: str) -> None:
    assert is_byline(line)


@pytest.mark.parametrize("line", ["Xin cảm ơn.", "theo báo cáo", LONG, "Hết."])
def test_not_bylines(line: str) -> None:
    assert not is_byline(line)


@given(st.text(alphabet=st.sampled_from(list("leftcenterightd LEFT\n\xa0.áo\u0301")), max_size=300))
def test_no_toolbar_token_survives_any_text(text: str) -> None:
    result = clean_text(text)
    assert TOOLBAR_TOKEN not in result.text.lower()
    assert all(TOOLBAR_TOKEN not in c.lower() for c in result.captions)


@given(st.text(max_size=200))
def test_scrub_is_idempotent(text: str) -> None:
    once = scrub_toolbar(text)
    assert scrub_toolbar(once) == once
    assert TOOLBAR_TOKEN not in once.lower()
