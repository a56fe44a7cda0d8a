"""Hypothesis strategies and building blocks shared by the property tests and ``fuzz/run.py``."""

from __future__ import annotations

from hypothesis import strategies as st

from vksnd.parsers.profiles.vksndtc import PROFILE

PORTAL = frozenset(PROFILE.hosts)
REPLICA = frozenset({"127.0.0.1:8123"})
PARA = "<p>Hội nghị đã thảo luận, thống nhất nhiều giải pháp, nâng cao chất lượng công tác.</p>"

TAGS = ["<p>", "</p>", "<div>", "</div>", "<table>", "<tr>", "<td>", "</td>", "<br>", "<img src=x>",
        "<figure>", "<figcaption>", "<ul><li>", "<em>", "<script>", "</script>", "<!--", "-->",
        "leftcenterrightdel", "left", "center", "right", "del", "Toàn cảnh", "&nbsp;", "&#7889;",
        "o\u0300a", "<", ">", "\x00", "\ufeff", "Cỡ chữ:", "18/10/2022", "Đắc Thái", PARA, PARA,
        "<p>left</p><p>center</p>", "<td>right</td><td>del</td>", "</table>", "<h1>",
        "<i>"]  # fmt: skip

_segment = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_hosts = st.sampled_from(
    ["vksndtc.gov.vn", "WWW.vksndtc.gov.vn", "www.vks.gov.vn", "127.0.0.1:8123", "evil.com"]
)


@st.composite
def urlish(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "javascript", "ftp", ""]))
    path = "/".join(draw(st.lists(_segment, max_size=5)))
    query = "&".join(
        f"{k}={v}"
        for k, v in draw(
            st.lists(
                st.tuples(st.sampled_from(["Page", "Cat", "ItemID", "utm_x", "q", "a"]), _segment),
                max_size=4,
            )
        )
    )
    fragment = draw(_segment)
    prefix = f"{scheme}://{draw(_hosts)}" if scheme else ""
    return f"{prefix}/{path}?{query}#{fragment}"
