"""parsers.query: the shared selector engine answers exactly as each tree's own would."""

from __future__ import annotations

import threading

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.fixtures.generator import build_site
from vksnd.fixtures.layouts import render_article_element, render_legacy, render_portal
from vksnd.fixtures.urls import article_path
from vksnd.parsers.query import css, css_first

QUERIES = ("p", "img, table", "td.image-caption", ".news-content", "a[href]", "figure figcaption")


def _pages() -> list[str]:
    pages = []
    for article in build_site(12, seed=3):
        url = "https://vksndtc.gov.vn" + article_path(article)
        pages += [render(article, url) for render in (render_portal, render_article_element,
                                                      render_legacy)]  # fmt: skip
    return pages


def _ids(nodes: list[LexborNode]) -> list[int]:
    return [n.mem_id for n in nodes]


def _check(pages: list[str]) -> None:
    for html in pages:
        tree = LexborHTMLParser(html)
        for query in QUERIES:
            assert _ids(css(tree, query)) == _ids(tree.css(query))
            first, own = css_first(tree, query), tree.css_first(query)
            assert (first is None) == (own is None)
            assert first is None or own is None or first.mem_id == own.mem_id
            body = tree.body
            assert body is not None
            assert _ids(css(body, query)) == _ids(body.css(query))


def test_shared_engine_matches_each_trees_own() -> None:
    _check(_pages())


def test_shared_engine_is_per_thread() -> None:
    pages = _pages()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _check(pages)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
