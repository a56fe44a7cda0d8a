"""Selector-free listing reading (``parsers.link_discovery``): boxes told from the list by
structure and repetition, never by class names or headings; the next page found without a
selector."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from vksnd.parsers.link_discovery import RegionLearner, find_next_page, link_groups

BASE = "https://tinh.example.vn/chuyen-muc/tin-tuc"
ARTICLE = re.compile(r"^/tin/[a-z0-9-]+-(?P<id>\d+)\.html$")


def resolve(href: str) -> str | None:
    url = urljoin(BASE, href)
    return url if urlsplit(url).netloc == "tinh.example.vn" else None


def is_article(url: str) -> bool:
    return ARTICLE.match(urlsplit(url).path) is not None


def page(items: list[int], box: list[int], *, pager: str = "", side_first: bool = False) -> str:
    rows = "".join(
        f'<div class="o"><a class="t" href="/tin/bai-{i}.html">Bài {i}</a>'
        f'<span class="d">0{i % 9 + 1}/05/2024</span></div>'
        for i in items
    )
    side = "".join(f'<p><a href="/tin/moi-{i}.html">Mới {i}</a></p>' for i in box)
    main = f'<div class="c1"><div class="l">{rows}</div>{pager}</div>'
    aside = f'<div class="c2"><div class="b"><div>Box</div>{side}</div></div>'
    cols = aside + main if side_first else main + aside
    nav = '<ul class="m"><li><a href="/tin/menu-9.html">menu</a></li></ul>'
    return f"<html><body><header>{nav}</header><div class='w'>{cols}</div></body></html>"


def groups(html: str) -> list:  # type: ignore[type-arg]
    return link_groups(LexborHTMLParser(html), resolve, is_article)


def test_the_repeated_box_is_told_from_the_list_even_when_bigger() -> None:
    box = [901, 902, 903, 904, 905, 906]
    first = [groups(page([1, 2, 3], box, side_first=True)), groups(page([4, 5, 6], box))]
    learner = RegionLearner()
    for n, found in enumerate(first):
        learner.observe(f"{BASE}?p={n}", found)
    main = learner.main(first[0])
    assert main is not None
    assert [item.url.rsplit("/", 1)[1] for item in main.items] == [
        "bai-1.html", "bai-2.html", "bai-3.html",
    ]  # fmt: skip
    assert main.items[0].published_on is not None and main.items[0].published_on.day == 2
    # The header's menu link never makes a group.
    assert all("menu" not in item.url for g in first[0] for item in g.items)


def test_a_learned_region_holds_on_a_last_page_of_one_item() -> None:
    box = [901, 902, 903, 904, 905]
    learner = RegionLearner()
    pages = [groups(page(list(range(10 * n, 10 * n + 8)), box)) for n in (1, 2, 3)]
    for n, found in enumerate(pages):
        learner.observe(f"p{n}", found)
        learner.main(found)
    last = groups(page([99], box))
    learner.observe("last", last)
    main = learner.main(last)
    assert main is not None and [i.url for i in main.items] == [
        "https://tinh.example.vn/tin/bai-99.html"
    ]


def test_next_page_by_rel_by_words_by_number_and_by_the_template() -> None:
    own = BASE

    def nxt(pager: str, **kw: object) -> str | None:
        tree = LexborHTMLParser(page([1, 2], [], pager=pager))
        return find_next_page(tree, own, resolve, is_article, **kw)  # type: ignore[arg-type]

    assert nxt('<a rel="next" href="?trang=2">»</a>') == f"{BASE}?trang=2"
    assert nxt('<a href="?trang=1">Trang trước</a> <a href="?trang=2">Trang sau</a>') == (
        f"{BASE}?trang=2"
    )
    assert nxt(
        '<span>1</span> <a href="/x/PageID/2">2</a> <a href="/x/PageID/3">3</a>', page=1
    ) == ("https://tinh.example.vn/x/PageID/2")
    assert nxt('<a href="/khac/p/2">…</a>', expected_next="https://tinh.example.vn/khac/p/2") == (
        "https://tinh.example.vn/khac/p/2"
    )
    assert nxt('<a href="?trang=9">»»</a>') is None  # the last page's link is not "next"
