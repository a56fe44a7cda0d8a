"""Site profiles as TOML: the keys of issue #15 work as written, and a bad file is one clear line
naming the key (``ProfileError``), never a silently ignored typo or an empty slug."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from vksnd.parsers.errors import ProfileError
from vksnd.parsers.profiles.load import (
    builtin_names,
    builtin_profile,
    load_profile,
    parse_profile,
)
from vksnd.parsers.urls import article_key, canonicalize, listing_url

# The issue's example, exactly as written there.
MINIMAL = """
name = "example"
base_url = "https://example.gov.vn"
[urls]
article = '^/tin-tuc/(?P<category>[a-z0-9-]+)/[a-z0-9-]+-(?P<id>[0-9]+)\\.html$'  # id required
[listing]
template = "/chuyen-muc/{slug}?trang={page}"     # placeholders {slug}, {id}, {page}
categories = ["slug-a", "slug-b"]                 # or tables: { slug = "…", id = 2, name = "…" }
"""


def test_minimal_profile_of_the_issue_loads() -> None:
    profile = parse_profile(MINIMAL, "example.toml")
    assert profile.name == "example"
    assert profile.preferred_host == "example.gov.vn"
    assert profile.hosts == frozenset({"example.gov.vn"})
    assert [c.slug for c in profile.categories] == ["slug-a", "slug-b"]
    assert [c.key for c in profile.categories] == [1, 2]
    assert profile.listing_page_param == "trang"
    assert profile.time_zone == "Asia/Ho_Chi_Minh"
    base = "https://example.gov.vn"
    assert listing_url(base, 2, 3, profile) == "https://example.gov.vn/chuyen-muc/slug-b?trang=3"
    url = "https://example.gov.vn/tin-tuc/slug-a/mot-bai-viet-4711.html?utm_source=x&trang=2"
    canonical = canonicalize(url, scope_hosts=profile.hosts, profile=profile)
    assert canonical == "https://example.gov.vn/tin-tuc/slug-a/mot-bai-viet-4711.html"
    assert article_key(url, profile) == 4711


def test_category_tables_and_id_placeholder() -> None:
    text = MINIMAL.replace(
        'template = "/chuyen-muc/{slug}?trang={page}"', 'template = "/c/{id}/p/{page}"'
    ).replace(
        'categories = ["slug-a", "slug-b"]',
        'categories = [{ slug = "a", id = 7, name = "A" }, { slug = "b", id = 9 }]',
    )
    profile = parse_profile(text, "t.toml")
    assert profile.category_by_key(9).slug == "b"
    assert listing_url("https://example.gov.vn", 7, 1, profile) == "https://example.gov.vn/c/7/p/1"


def test_unknown_category_is_an_error_not_an_empty_slug() -> None:
    profile = parse_profile(MINIMAL, "example.toml")
    with pytest.raises(KeyError, match="no category 99"):
        listing_url("https://example.gov.vn", 99, 1, profile)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (("[urls]", "colour = 1\n[urls]"), "colour", "unknown key"),
        (("[listing]", "[listing]\ntemplat = 'x'"), "listing.templat", "did you mean"),
        (('name = "example"', "name = 3"), "name", "must be a string"),
        (("(?P<id>[0-9]+)", "(?P<num>[0-9]+)"), "urls.article", "named group 'id'"),
        (("(?P<id>[0-9]+)", "(?P<id>[0-9+)"), "urls.article", "does not compile"),
        (("?trang={page}", "?trang={page}&x={year}"), "listing.template", "{year}"),
        (("?trang={page}", "?trang=1"), "listing.template", "needs {page}"),
        (("{slug}?trang", "{id}?trang"), "listing.template", "has no id"),
        (('["slug-a", "slug-b"]', '["slug-a", 5]'), "listing.categories[1]", "slug or a table"),
        (('["slug-a", "slug-b"]', '["a", "a"]'), "listing.categories[1].slug", "twice"),
        (('["slug-a", "slug-b"]', '[{ slug = "a", idd = 2 }]'), "listing.categories[0].idd", ""),
        (('name = "example"', 'name = "example"\ntime_zone = "Mars/Base"'), "time_zone", ""),
        (('base_url = "https://example.gov.vn"', 'base_url = "ftp://x"'), "base_url", "http"),
        (("[urls]", "[urls]\nlegacy = [{ path = '^/a$' }]"), "urls.legacy[0].id_param", ""),
        (("[listing]", "[listing]\nitem = 'ul li a['"), "listing.item[0]", "unbalanced"),
    ],
)
def test_bad_profile_names_the_key(change: tuple[str, str], key: str, words: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ProfileError) as caught:
        parse_profile(MINIMAL.replace(old, new, 1), "bad.toml")
    message = str(caught.value)
    assert caught.value.key == key
    assert message.startswith(f"profile bad.toml: {key}: ")
    assert "\n" not in message
    assert words in message


def test_missing_required_key() -> None:
    with pytest.raises(ProfileError, match=r"urls\.article: is required"):
        parse_profile(MINIMAL.replace("article =", "#"), "bad.toml")


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not valid TOML"):
        parse_profile("name = ", "bad.toml")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(ProfileError, match="no built-in profile"):
        load_profile("nosuchsite")


def test_builtins_load_and_pickle() -> None:
    for name in builtin_names():
        profile = builtin_profile(name)
        assert profile.name == name
        assert load_profile(name) is profile
        assert pickle.loads(pickle.dumps(profile)) == profile


def test_file_path_loads(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_profile(str(path)).source == str(path)


def test_date_formats_and_time_zone_are_used_by_the_parser() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from vksnd.parsers.article import parse_article

    text = (
        MINIMAL.replace('name = "example"', 'name = "example"\ntime_zone = "Asia/Tokyo"').replace(
            'name = "example"', 'name = "example"\ndate_formats = ["Posted %Y.%m.%d at %H.%M"]'
        )
        + '[selectors]\nbody = [".story"]\ndate = [".when"]\ntitle = ["h1"]\n'
    )
    profile = parse_profile(text, "tz.toml")
    paragraph = (
        "<p>" + "Một đoạn văn bản đủ dài để làm thân bài của trang thử nghiệm. " * 3 + "</p>"
    )
    page = (
        "<html><body><h1>Tiêu đề bài viết thử nghiệm</h1>"
        '<div class="when">Posted 2024.06.17 at 08.15</div>'
        f'<div class="story">{paragraph * 3}</div></body></html>'
    ).encode()
    url = "https://example.gov.vn/tin-tuc/slug-a/bai-viet-77.html"
    article = parse_article(page, url, "text/html; charset=utf-8", profile=profile)
    assert article.extractor.label == "profile:example"
    assert article.key == "example:77"
    assert article.category == "slug-a"
    assert article.published_at == datetime(2024, 6, 17, 8, 15, tzinfo=ZoneInfo("Asia/Tokyo"))
