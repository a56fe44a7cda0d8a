"""Links and text of replica pages, read with the standard library's ``html.parser``.

The replica's own tests use this, not ``vksnd.parsers``, so the replica is not judged by the code
it exists to test. Every anchor comes with the class names of all its ancestors, so a test can
say "inside the main list and not inside a box".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "img", "input", "link", "meta", "hr", "source"})
_SPACE = re.compile(r"\s+")


def collapse(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\xa0", " ")).strip()


@dataclass(frozen=True, slots=True)
class Anchor:
    href: str
    text: str
    rel: str
    inside: frozenset[str]  # class names of the anchor and all its ancestors
    tags: tuple[str, ...]  # tag names of its ancestors, outermost first


@dataclass(slots=True)
class _Open:
    tag: str
    classes: frozenset[str]
    attrs: dict[str, str]


class _Walker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[Anchor] = []
        self.links: list[dict[str, str]] = []  # <link> tags
        self.classes: set[str] = set()
        self.stack: list[_Open] = []
        self._anchor: tuple[dict[str, str], list[str], frozenset[str], tuple[str, ...]] | None
        self._anchor = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        classes = frozenset(values.get("class", "").split())
        self.classes |= classes
        if tag == "link":
            self.links.append(values)
        if tag == "a":
            inside = frozenset().union(classes, *(o.classes for o in self.stack))
            self._anchor = (values, [], inside, tuple(o.tag for o in self.stack))
        if tag not in VOID:
            self.stack.append(_Open(tag, classes, values))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            values, text, inside, tags = self._anchor
            self.anchors.append(
                Anchor(values.get("href", ""), collapse("".join(text)), values.get("rel", ""),
                       inside, tags)
            )  # fmt: skip
            self._anchor = None
        while self.stack:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._anchor[1].append(data)


def read(html: str) -> _Walker:
    walker = _Walker()
    walker.feed(html)
    walker.close()
    return walker


def anchors(html: str) -> list[Anchor]:
    return read(html).anchors


def classes(html: str) -> set[str]:
    return read(html).classes


Predicate = Callable[[str, dict[str, str]], bool]


class _Subtree(HTMLParser):
    """Text of the first element ``is_root`` accepts; elements ``is_caption`` accepts (and their
    subtrees) go to captions instead, elements ``is_skipped`` accepts are dropped."""

    def __init__(self, is_root: Predicate, is_caption: Predicate, is_skipped: Predicate) -> None:
        super().__init__(convert_charrefs=True)
        self.is_root, self.is_caption, self.is_skipped = is_root, is_caption, is_skipped
        self.depth = 0  # > 0 while inside the root
        self.done = False
        self.text: list[str] = []
        self.captions: list[str] = []
        self._caption_depth = 0
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if self.done:
            return
        if self.depth == 0:
            if self.is_root(tag, values) and tag not in VOID:
                self.depth = 1
            return
        if tag in VOID:
            if tag == "br":
                self._data(" ")
            return
        self.depth += 1
        if self._skip_depth:
            self._skip_depth += 1
        elif self._caption_depth:
            self._caption_depth += 1
        elif self.is_skipped(tag, values):
            self._skip_depth = 1
        elif self.is_caption(tag, values):
            self._caption_depth = 1
            self.captions.append("")
        if tag in ("p", "div", "li", "tr", "td", "table", "ul", "ol", "figure"):
            self._data(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.depth == 0 or self.done or tag in VOID:
            return
        self.depth -= 1
        if self._skip_depth:
            self._skip_depth -= 1
        elif self._caption_depth:
            self._caption_depth -= 1
        if self.depth == 0:
            self.done = True
        else:
            self._data(" ")

    def handle_data(self, data: str) -> None:
        if self.depth and not self.done:
            self._data(data)

    def _data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._caption_depth:
            self.captions[-1] += data
        else:
            self.text.append(data)


def container_text(
    html: str,
    is_root: Predicate,
    is_caption: Predicate = lambda tag, attrs: False,
    is_skipped: Predicate = lambda tag, attrs: False,
) -> tuple[str, list[str]]:
    """(collapsed text, captions) of one element of the page."""
    parser = _Subtree(is_root, is_caption, is_skipped)
    parser.feed(html)
    parser.close()
    return collapse("".join(parser.text)), [collapse(c) for c in parser.captions]


def has_class(name: str) -> Predicate:
    return lambda tag, attrs: name in attrs.get("class", "").split()


@dataclass(frozen=True, slots=True)
class Item:
    """One element a predicate picked: its text, its links, the classes around it."""

    text: str
    hrefs: tuple[str, ...]
    inside: frozenset[str]


class _Items(HTMLParser):
    def __init__(self, is_item: Predicate) -> None:
        super().__init__(convert_charrefs=True)
        self.is_item = is_item
        self.stack: list[frozenset[str]] = []
        self.items: list[Item] = []
        self._open: tuple[int, list[str], list[str], frozenset[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if self._open is not None and tag == "a":
            self._open[2].append(values.get("href", ""))
        if tag in VOID:
            return
        classes = frozenset(values.get("class", "").split())
        if self._open is None and self.is_item(tag, values):
            self._open = (len(self.stack), [], [], frozenset().union(classes, *self.stack))
        self.stack.append(classes)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not self.stack:
            return
        self.stack.pop()
        if self._open is not None and len(self.stack) == self._open[0]:
            _, text, hrefs, inside = self._open
            self.items.append(Item(collapse(" ".join(text)), tuple(hrefs), inside))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[1].append(data)


def items(html: str, is_item: Predicate) -> list[Item]:
    """Every element ``is_item`` accepts (not nested in another one), in page order."""
    parser = _Items(is_item)
    parser.feed(html)
    parser.close()
    return parser.items
