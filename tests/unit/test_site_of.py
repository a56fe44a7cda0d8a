"""``SiteMap.site_of`` answers from its per-origin memo exactly as ``host_key`` would."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.strategies import urlish
from vksnd.storage import sites as sites_module
from vksnd.storage.sites import DEFAULT_SITE, SiteMap, host_key

HOSTS = (
    ("vksndtc.gov.vn", "vksndtc"),
    ("www.vksndtc.gov.vn", "vksndtc"),
    ("vks.gov.vn", "other"),
    ("127.0.0.1:8123", "replica"),
    ("[::1]:8000", "v6"),
)
SHARED = SiteMap(HOSTS)  # one map for every example: its memo warms across them

TRICKY = (
    "https://VKSNDTC.gov.vn/a", "https://vksndtc.gov.vn:443/a", "http://vksndtc.gov.vn:443/a",
    "https://vksndtc.gov.vn./a", "https://user@vks.gov.vn/a", "https://u:p@vks.gov.vn:80/",
    "http://127.0.0.1:8123?x=1", "http://127.0.0.1:8123#f", "http://127.0.0.1:8123",
    "http://[::1]:8000/x", "http://[::1/x", "http://vks.gov.vn:99999/", "http://vks.gov.vn:x/",
    "https://vks\t.gov.vn/a", "https://vks.gov.vn\n/a", " https://vks.gov.vn/a",
    "https:///a", "https://", "HTTPS://vks.gov.vn/a", "https:vks.gov.vn/a",
    "https://vks.gov.vn\\a", "https://vksndtc.gov.vn/a?next=http://vks.gov.vn/",
)  # fmt: skip
_tricky = st.sampled_from(TRICKY)


def reference(sites: SiteMap, url: str) -> str:
    host = host_key(url)
    return sites.default if host is None else dict(sites.hosts).get(host, sites.default)


@settings(max_examples=400)
@given(st.one_of(_tricky, urlish(), st.text(max_size=60), _tricky.map(lambda u: u + "/b")))
def test_site_of_is_host_keys_answer(url: str) -> None:
    assert SHARED.site_of(url) == reference(SHARED, url)
    assert SiteMap(HOSTS).site_of(url) == reference(SHARED, url)  # cold memo too


def test_every_tricky_url_twice_in_a_row() -> None:
    sites = SiteMap(HOSTS)
    for url in TRICKY:
        assert sites.site_of(url) == sites.site_of(url) == reference(sites, url), url


def test_one_origin_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(url: str) -> str | None:
        calls.append(url)
        return host_key(url)

    monkeypatch.setattr(sites_module, "host_key", counted)
    sites = SiteMap(HOSTS)
    urls = [f"https://vksndtc.gov.vn/tin-tuc/bai-{i}.html" for i in range(1_000)]
    assert {sites.site_of(url) for url in urls} == {"vksndtc"}
    assert {sites.site_of(f"https://elsewhere.vn/{i}") for i in range(10)} == {DEFAULT_SITE}
    assert len(calls) == 2
