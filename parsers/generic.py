"""Generic main-content finder for markup no profile knows (readability-style block scoring).

Why this shape: portals change templates and the real markup was never seen, so the fallback must
rely on what every article page shares: the body is where the long, comma-rich, link-poor text
is. Each text-bearing element scores its paragraph container (1 + commas + length/100, capped);
candidates are ranked by score × (1 − link density), with a small penalty for class/id names
that conventionally mark page furniture. The winner then climbs to its parent while the parent
adds little text that is not links (so title, date and byline come along; menus do not).
Semantic furniture (``nav``, ``aside``, ``header``, ``footer``) is removed before scoring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.query import css

FURNITURE_SELECTOR = "nav, aside, header, footer, script, style, noscript, template, iframe, svg"
MIN_PARAGRAPH_CHARS = 25
CLIMB_EXTRA_RATIO = 0.3
CLIMB_EXTRA_LINK_DENSITY = 0.4
_PARAGRAPH_TAGS = frozenset({"p", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote",
                             "dd", "dt", "figcaption"})  # fmt: skip
_CONTAINER_TAGS = frozenset({"div", "td", "th", "article", "section", "main", "body", "font",
                             "center", "form", "span", "tbody", "table", "tr"})  # fmt: skip
_FURNITURE_NAME_RE = re.compile(
    r"menu|nav|footer|header|sidebar|breadcrumb|share|social|comment|related|other|tags?\b|"
    r"banner|advert|search|widget|more-links|topnav|site-head|site-foot",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    node: LexborNode
    score: float
    text_len: int
    link_density: float


def strip_furniture(tree: LexborHTMLParser) -> None:
    for node in css(tree, FURNITURE_SELECTOR):
        node.decompose()


def _text_len(node: LexborNode) -> int:
    return len(collapse(node.text()))


def _link_text_len(node: LexborNode) -> int:
    return sum(len(collapse(a.text())) for a in css(node, "a"))


def link_density(node: LexborNode) -> float:
    """Share of ``node``'s collapsed text that sits in links (0 to 1)."""
    return _Lengths().link_density(node)


class _Lengths:
    """Collapsed text lengths of elements, each read once per page: the ranking and the climb
    ask again for the same nested containers, and each read walks a whole subtree."""

    __slots__ = ("_links", "_texts")

    def __init__(self) -> None:
        self._texts: dict[int, int] = {}
        self._links: dict[int, int] = {}

    def text(self, node: LexborNode) -> int:
        key = node.mem_id
        length = self._texts.get(key)
        if length is None:
            length = self._texts[key] = _text_len(node)
        return length

    def links(self, node: LexborNode) -> int:
        """Collapsed length of the text of all links under ``node``."""
        key = node.mem_id
        length = self._links.get(key)
        if length is None:
            length = self._links[key] = _link_text_len(node)
        return length

    def link_density(self, node: LexborNode) -> float:
        total = self.text(node)
        return 0.0 if total == 0 else min(1.0, self.links(node) / total)


def _furniture_named(node: LexborNode) -> bool:
    attrs = node.attributes
    name = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
    return bool(name.strip()) and _FURNITURE_NAME_RE.search(name) is not None


def _paragraph_value(text: str) -> float:
    return 1.0 + text.count(",") + min(len(text) / 100.0, 3.0)


def score_candidates(body: LexborNode, lengths: _Lengths) -> list[Candidate]:
    """Candidates best first."""
    scores: dict[int, float] = {}
    nodes: dict[int, LexborNode] = {}

    def add(node: LexborNode | None, value: float) -> None:
        if node is None or node.tag in (None, "html", "-document"):
            return
        key = node.mem_id
        nodes[key] = node
        scores[key] = scores.get(key, 0.0) + value

    for node in body.traverse():
        tag = node.tag
        if tag in _PARAGRAPH_TAGS:
            text = collapse(node.text())
            if len(text) >= MIN_PARAGRAPH_CHARS:
                parent = node.parent
                value = _paragraph_value(text)
                add(parent, value)
                add(parent.parent if parent is not None else None, value / 2)
        elif tag in _CONTAINER_TAGS:
            # direct text runs of a container (<br>-separated paragraphs) count for it
            text = collapse(node.text(deep=False))
            if len(text) >= MIN_PARAGRAPH_CHARS:
                value = _paragraph_value(text)
                add(node, value)
                add(node.parent, value / 2)

    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:8]
    out: list[Candidate] = []
    for key, raw in ranked:
        node = nodes[key]
        length = lengths.text(node)
        density = lengths.link_density(node)
        score = raw * (1.0 - density) * (0.5 if _furniture_named(node) else 1.0)
        out.append(Candidate(node, score, length, density))
    out.sort(key=lambda c: c.score, reverse=True)
    return out


def climb(candidate: Candidate, lengths: _Lengths) -> LexborNode:
    """Widen to ancestors that add little non-link text (title, date, byline come along)."""
    node = candidate.node
    length = candidate.text_len
    while True:
        parent = node.parent
        if parent is None or parent.tag in (None, "html", "-document"):
            return node
        parent_len = lengths.text(parent)
        extra = parent_len - length
        if extra > max(CLIMB_EXTRA_RATIO * length, 0):
            return node
        if extra > 0:
            extra_links = lengths.links(parent) - lengths.links(node)
            if extra_links / extra > CLIMB_EXTRA_LINK_DENSITY:
                return node
        node, length = parent, parent_len


def find_main_content(tree: LexborHTMLParser) -> LexborNode | None:
    """The element holding the article body, or None when nothing reads like one."""
    body = tree.body
    if body is None:
        return None
    lengths = _Lengths()
    candidates = score_candidates(body, lengths)
    if not candidates:
        return None
    return climb(candidates[0], lengths)
