"""The parser's shortcuts (issue 17, point 3) give what the long way gives, on any input.

Each shortcut answers the common case without the general code; these properties hold it to
the general code (the parser's own long way, called past the shortcut, or the library the
shortcut replaces), on inputs built to hit the edges: escapes, dot segments, brackets,
fragments, controls, non-ASCII.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vksnd.parsers.profiles.load import builtin_names, builtin_profile
from vksnd.parsers.profiles.model import TextRules, _fold
from vksnd.parsers.urls import (
    _PATH_SAFE,
    _QUERY_PART_SAFE,
    _dot_and_slash_fixpoint,
    _escape_each,
    _normalize_escapes,
    _normalize_path,
    _path_and_query,
)


def reference_escapes(text: str, safe: frozenset[str]) -> str:
    return _escape_each(text, safe)  # the long way, without the early return


def reference_path(path: str) -> str:
    path = _escape_each(path, _PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    return _dot_and_slash_fixpoint(path)


URL_CHARS = st.sampled_from(
    [*"aZ09-._~/?#&=%[]:@!$'()*+,; \t\n\x00\x1f\x7fAf", "ế", "đ", "\u3000", "\xa0", "２", "ﬀ"]
)
url_text = st.text(URL_CHARS, max_size=40)


@settings(max_examples=600, deadline=None)
@given(url_text, st.sampled_from([_PATH_SAFE, _QUERY_PART_SAFE]))
@example("/tin-tuc/a-d2-t1.html", _PATH_SAFE)
@example("/a%2fb%41%zz%4", _PATH_SAFE)
def test_escapes_as_the_loop(text: str, safe: frozenset[str]) -> None:
    assert _normalize_escapes(text, safe) == reference_escapes(text, safe)


@settings(max_examples=600, deadline=None)
@given(url_text)
@example("/a/./b/../c")
@example("/a//b/.")
@example("/.hidden/x")
@example("")
def test_path_as_the_fixpoint(path: str) -> None:
    assert _normalize_path(path) == reference_path(path)


def split_by_urlsplit(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.path, parts.query


def split_fast(url: str) -> tuple[str, str] | None:
    try:
        return _path_and_query(url)
    except ValueError:
        return None


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(["http://", "https://", "HTTPS://", " https://", "ftp://", ""]), url_text)
@example("https://", "vksndtc.gov.vn/tin-tuc/a-d2-t5.html?x=1&y=2#f?z")
@example("https://", "h/p#frag?x")
@example("https://", "[::1/p?q")
@example("https://", "host]/p")
@example("https://", "ｈost/p?q")
@example("https://", "h/p?q\n")
@example("https://", "h/p\t?q")
def test_path_and_query_as_urlsplit(scheme: str, rest: str) -> None:
    url = scheme + rest
    assert split_fast(url) == split_by_urlsplit(url)


PROFILE_RULES = [builtin_profile(name).text for name in builtin_names()]
line_text = st.text(
    st.sampled_from([*"VvIỆệNnKkCcơƠ aA'’\t\n\xa0", "ß", "ﬁ", "İ", "ŉ", "Σ", "ς"]),
    max_size=30,
)


@pytest.mark.parametrize("rules", PROFILE_RULES, ids=builtin_names())
def test_profile_masthead_lines_still_match(rules: TextRules) -> None:
    for line in rules.masthead:
        for variant in (line, line.lower(), f"  {line.upper()} ", line.replace(" ", "\xa0 ")):
            assert rules.is_masthead(variant)
    for line in rules.chrome_phrases:
        assert rules.is_chrome_phrase(f" {line.upper()}")


@settings(max_examples=800, deadline=None)
@given(
    st.lists(line_text, max_size=4),
    st.lists(line_text, max_size=4),
    line_text,
    st.sampled_from(PROFILE_RULES),
)
@example(["ß x"], ["’a"], "SS X", TextRules())
@example([""], [""], " \t", TextRules())
@example(["ﬁle"], [], "FILE", TextRules())
def test_masthead_check_as_the_folded_set(
    masthead: list[str], chrome: list[str], line: str, profile_rules: TextRules
) -> None:
    for rules in (TextRules(masthead=tuple(masthead), chrome_phrases=tuple(chrome)), profile_rules):
        keys = {_fold(m) for m in rules.masthead}
        phrases = {_fold(c) for c in rules.chrome_phrases}
        for text in (line, *rules.masthead[:1], *(s.upper() for s in rules.chrome_phrases[:1])):
            assert rules.is_masthead(text) == (bool(keys) and _fold(text) in keys)
            assert rules.is_chrome_phrase(text) == (bool(phrases) and _fold(text) in phrases)
