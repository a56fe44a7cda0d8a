"""CSS queries through one selector engine per thread, shared by every parsed page.

selectolax gives each document its own ``LexborCSSSelector``, built on the document's first
query: a CSS parser and a matcher, about 10 µs, a sizeable slice of a whole page's budget. The
engine keeps nothing of a document between queries (it resets its node and results after each
one, and result nodes point at their own tree), so one engine serves every page. It lives in a
thread-local because the crawler may parse on a thread pool; it holds no client or connection.

``css``/``css_first`` behave as ``node.css``/``node.css_first`` (the node itself can match)
and accept a whole parser too, like ``tree.css``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import cast

from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser, LexborNode

_Find = Callable[[str, LexborNode], list[LexborNode]]


class _Engine(threading.local):
    def __init__(self) -> None:
        selector = LexborCSSSelector()  # type: ignore[no-untyped-call]  # stub lacks "-> None"
        self.find: _Find = selector.find
        # find_first (stops at the first match) is public in selectolax but not in its stub.
        self.find_first = cast(_Find, selector.find_first)  # type: ignore[attr-defined]


_ENGINE = _Engine()


@functools.lru_cache(maxsize=64)
def any_of(selectors: tuple[str, ...]) -> str:
    """One selector list matching any of ``selectors`` (one query instead of one each)."""
    return ", ".join(selectors)


def css(scope: LexborNode | LexborHTMLParser, query: str) -> list[LexborNode]:
    """Every match of ``query`` in ``scope`` (the node itself included), in page order."""
    if isinstance(scope, LexborHTMLParser):
        root = scope.root
        if root is None:
            return []
        scope = root
    return _ENGINE.find(query, scope)


def css_first(scope: LexborNode | LexborHTMLParser, query: str) -> LexborNode | None:
    """The first match of ``query`` in ``scope``, or None."""
    if isinstance(scope, LexborHTMLParser):
        root = scope.root
        if root is None:
            return None
        scope = root
    found = _ENGINE.find_first(query, scope)
    return found[0] if found else None
