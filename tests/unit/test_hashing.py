"""Content hash: one hash for both tone spellings and any whitespace, different for real edits."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from vksnd.parsers.hashing import canonical_form, content_hash, fold_tone_placement


def test_folds_both_spellings_to_one() -> None:
    assert fold_tone_placement("hoà hợp, thuý, khoẻ") == fold_tone_placement("hòa hợp, thúy, khỏe")
    assert fold_tone_placement("HOÀ, Uỷ ban, QUÝ") == fold_tone_placement("HÒA, Ủy ban, QÚY")


def test_text_differences_still_change_the_hash() -> None:
    assert content_hash("Hòa bình") != content_hash("Hòa bình.")
    assert content_hash("thủy") != content_hash("thùy")


def test_whitespace_and_normalization_do_not_matter() -> None:
    nfc = "Đảng uỷ Văn phòng\n\nhoà hợp"
    nfd = unicodedata.normalize("NFD", "Đảng  ủy Văn\u00a0phòng hòa   hợp")
    assert content_hash(nfc) == content_hash(nfd)
    assert canonical_form(nfc) == canonical_form(nfd)


def test_hash_is_sha256_hex() -> None:
    """The sha256 of the canonical form's UTF-8, as 64 lowercase hex digits."""
    text = "Hoà  bình\n\nthuỷ"
    value = content_hash(text)
    assert value == hashlib.sha256(canonical_form(text).encode("utf-8")).hexdigest()
    assert value == hashlib.sha256("Hòa bình thủy".encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", value)


OLD_NEW = [("oà", "òa"), ("oá", "óa"), ("oả", "ỏa"), ("oã", "õa"), ("oạ", "ọa"), ("oè", "òe"),
           ("oé", "óe"), ("oẻ", "ỏe"), ("oẽ", "õe"), ("oẹ", "ọe"), ("uý", "úy"), ("uỳ", "ùy"),
           ("uỷ", "ủy"), ("uỹ", "ũy"), ("uỵ", "ụy")]  # fmt: skip
words = st.lists(
    st.tuples(st.sampled_from(["h", "th", "kh", "l", "x", "T", "Đ"]), st.integers(0, 14)),
    min_size=1,
    max_size=30,
)


@given(
    words, st.lists(st.booleans(), min_size=30, max_size=30), st.sampled_from([" ", "\n\n", "\t"])
)
def test_hash_invariant_across_tone_spellings(
    parts: list[tuple[str, int]], flips: list[bool], sep: str
) -> None:
    a = " ".join(onset + OLD_NEW[i][0] for onset, i in parts)
    b = sep.join(onset + OLD_NEW[i][1 if flips[n] else 0] for n, (onset, i) in enumerate(parts))
    assert content_hash(a) == content_hash(b)
    assert content_hash(a.upper()) == content_hash(b.upper())


def test_parser_shortcut_hashes_like_the_full_canonical_form() -> None:
    """``lines_collapsed=True`` (the parser's own output: collapsed lines, no empty ones)."""
    from vksnd.fixtures.generator import build_site
    from vksnd.fixtures.layouts import encode_page, render_portal
    from vksnd.fixtures.urls import article_path
    from vksnd.parsers.article import parse_article

    for article in build_site(40, seed=5):
        url = "https://vksndtc.gov.vn" + article_path(article)
        body, content_type = encode_page(render_portal(article, url), "utf-8")
        text = parse_article(body, url, content_type).text
        assert content_hash(text, lines_collapsed=True) == content_hash(text)
    text = "Hoà bình.\n\n- một\n- hai\n\na | b\nc | d\n\nThuý Kiều"
    assert content_hash(text, lines_collapsed=True) == content_hash(text)


@given(st.text(alphabet="oOuUaAeEyYqàáảãạÀÁẢÃẠèéẻẽẹÈÉẺẼẸỳýỷỹỵỲÝỶỸỴ ._1ưđ\n", max_size=40))
def test_fold_matches_the_one_pass_rule(text: str) -> None:
    """The per-letter passes fold exactly what one ``[oOuU][toned a/e/y]`` pass would."""
    import re

    from vksnd.parsers.hashing import _FOLDS

    seconds = "".join(sorted({k[1] for k in _FOLDS}))
    one_pass = re.compile(f"[oOuU][{seconds}]" + r"(?![^\W\d_])")
    expected = one_pass.sub(lambda m: _FOLDS.get(m.group(0), m.group(0)), text)
    assert fold_tone_placement(text) == expected
