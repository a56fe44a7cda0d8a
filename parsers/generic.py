"""Generic main-content finder for markup no profile knows (readability-style block scoring).

Why this shape: portals change templates and the real markup was never seen, so the fallback must
rely on what every article page shares: the body is where the long, comma-rich, link-poor text
is. Steps, all by structure and names, none by the words of the text:

1. **Furniture out**: semantic furniture (``nav``, ``aside``, ``header``, ``footer``) and what
   the page hides (``hidden``, ``display:none``, hiding classes) is removed before scoring.
2. **Scores**: each paragraph (1 + commas + length/100, capped) scores its parent fully and the
   next three ancestors by halves, so an article split over sibling blocks scores highest at
   the block holding them all. A list item or quote wrapping blocks is layout, not a paragraph;
   list items count half. A container holding inline elements only (``<div><strong>…``) is a
   paragraph too: its whole text scores for it. Candidates rank by score × (1 − link density)
   × a name factor: lower for a block named as furniture or inside one (comments, related, a
   rail: ``parsers.hints``), a little higher for one named as the article's body.
3. **Climb and join**: the winner widens to its parent while the parent adds little text that is
   not links (title, date, byline come along; menus do not), or when the winner's siblings hold
   prose of their own (the article's other sections): then the siblings that are not article
   (link lists, furniture names) are removed and the parent is taken whole.
4. **Teasers out**: lists of other stories' cards (linked headings over summaries) lose as
   candidates and are removed from the winner. The rest of the clean-up inside the winner is
   ``parsers.cleanup``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.hints import (
    element_name,
    furniture_words,
    is_content_name,
    is_hard_furniture,
)
from vksnd.parsers.query import css, css_first

FURNITURE_SELECTOR = "nav, aside, header, footer, script, style, noscript, template, iframe, svg"
MIN_PARAGRAPH_CHARS = 25
LONG_RAW_TEXT = 600  # raw characters past which a paragraph's collapsed length is over the cap
CLIMB_EXTRA_RATIO = 0.3
CLIMB_EXTRA_LINK_DENSITY = 0.4
PROPAGATE_LEVELS = 4  # a paragraph scores its parent, then 1/2, 1/4, 1/8 of that upwards
TOP_CANDIDATES = 10
HARD_FURNITURE_FACTOR = 0.2
SOFT_FURNITURE_FACTOR = 0.6
CONTENT_NAME_FACTOR = 1.2
JOIN_MIN_SHARE = 0.3  # siblings' prose, as a share of the winner's, that makes them one article
JOIN_PROSE_LINK_DENSITY = 0.25
JOIN_MAX_LINK_DENSITY = 0.5
TEASER_MIN_LINKS = 3  # headline-long links that make a block of prose a list of teasers
TEASER_MIN_LINK_DENSITY = 0.1
TEASER_FACTOR = 0.3
TEASER_CARD_LINK_SHARE = 8  # a card's links are at least 1/8 of its text (its headline)
TEASER_WRAPPER_LEVELS = 3
HEADLINE_LINK_CHARS = 30  # characters of a link that reads as a headline (4+ words)
ANCESTOR_LEVELS = 6  # ancestors whose furniture names count for a candidate
_PARAGRAPH_TAGS = frozenset({"p", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote",
                             "dd", "dt", "figcaption"})  # fmt: skip
_CONTAINER_TAGS = frozenset({"div", "td", "th", "article", "section", "main", "body", "font",
                             "center", "form", "span", "tbody", "table", "tr"})  # fmt: skip
# A card's title: a linked heading. A roundup article's items lead with a link too, but
# inside their own sentence, without a heading of their own.
_CARD_TITLE = ", ".join(f"h{n} a, a h{n}" for n in range(2, 7))
_DISPLAY_NONE_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_LAYOUT_ROOTS = frozenset({None, "article", "main", "body", "html", "-document"})
_MAY_NEST = frozenset({"li", "blockquote", "dd", "dt", "figcaption"})
_BLOCK_CHILD_TAGS = frozenset({"div", "p", "ul", "ol", "table", "section", "article", "h1", "h2",
                               "h3", "h4", "h5", "h6", "figure", "dl"})  # fmt: skip


_INLINE_TAGS = frozenset({"span", "strong", "b", "em", "i", "font", "u", "small", "big"})
# What a paragraph written as a container may hold besides text: inline elements only.
_PHRASING_TAGS = _INLINE_TAGS | {"a", "br", "img", "sub", "sup", "code", "mark", "q", "abbr"}


@dataclass(frozen=True, slots=True)
class Candidate:
    node: LexborNode
    score: float
    text_len: int
    link_density: float


def strip_furniture(tree: LexborHTMLParser) -> None:
    """Remove semantic furniture and what the page hides by inline style (microdata copies,
    popups)."""
    for node in css(tree, FURNITURE_SELECTOR):
        node.decompose()
    # inline styles read in Python: a substring selector tests every element of the page
    for node in css(tree, "[style]"):
        style = node.attrs["style"] or ""
        if "none" in style and _DISPLAY_NONE_RE.search(style):
            node.decompose()


def _ink(text: str) -> int:
    """Characters that are not white space: a text's length for comparing blocks. Counting
    spaces in C beats collapsing (a split and a join of every word), and the measure is the
    same for a block and the links in it, so their ratio holds."""
    return len(text) - text.count(" ") - text.count("\n") - text.count("\t")


def text_len(node: LexborNode) -> int:
    """A block's text length as every comparison here reads it (``_ink``)."""
    return _ink(node.text())


def link_density(node: LexborNode) -> float:
    """Share of ``node``'s collapsed text that sits in links (0 to 1)."""
    return _Lengths().link_density(node)


class _Lengths:
    """Collapsed text lengths of elements, each read once per page: the ranking and the climb
    ask again for the same nested containers, and each read walks a whole subtree."""

    __slots__ = ("_headlines", "_links", "_texts")

    def __init__(self) -> None:
        self._texts: dict[int, int] = {}
        self._links: dict[int, int] = {}
        self._headlines: dict[int, int] = {}

    def text(self, node: LexborNode) -> int:
        key = node.mem_id
        length = self._texts.get(key)
        if length is None:
            length = self._texts[key] = text_len(node)
        return length

    def links(self, node: LexborNode) -> int:
        """Length of the text of all links under ``node``."""
        key = node.mem_id
        length = self._links.get(key)
        if length is None:
            length = self._read_links(node)
        return length

    def headline_links(self, node: LexborNode) -> int:
        """How many links under ``node`` are headline-long (a teaser's title, not a word)."""
        key = node.mem_id
        count = self._headlines.get(key)
        if count is None:
            self._read_links(node)
            count = self._headlines[key]
        return count

    def _read_links(self, node: LexborNode) -> int:
        texts = [a.text() for a in css(node, "a")]
        total = _ink("".join(texts))  # one count over all links, not one per link
        self._links[node.mem_id] = total
        self._headlines[node.mem_id] = sum(len(t) >= HEADLINE_LINK_CHARS for t in texts)
        return total

    def forget(self, node: LexborNode) -> None:
        """Drop the lengths of ``node`` and its ancestors: something under it was removed."""
        walk: LexborNode | None = node
        while walk is not None:
            self._texts.pop(walk.mem_id, None)
            self._links.pop(walk.mem_id, None)
            self._headlines.pop(walk.mem_id, None)
            walk = walk.parent

    def link_density(self, node: LexborNode) -> float:
        total = self.text(node)
        return 0.0 if total == 0 else min(1.0, self.links(node) / total)


def _paragraph_value(raw: str) -> float:
    """1 + commas + length/100 (capped at 3) of a paragraph's text; 0 when it is too short to
    be one. Only a text short enough to matter is collapsed: past the cap, length is moot."""
    size = len(raw)
    if size < MIN_PARAGRAPH_CHARS:
        return 0.0
    if size < LONG_RAW_TEXT:
        size = len(collapse(raw))
        if size < MIN_PARAGRAPH_CHARS:
            return 0.0
    commas = raw.count(",") + raw.count("、") + raw.count("，")
    return 1.0 + commas + min(size / 100.0, 3.0)


def _has_block_child(node: LexborNode) -> bool:
    """A list item or quote wrapping blocks is layout (a teaser card, a rail), not a paragraph."""
    for child in node.iter():  # noqa: SIM110 (children only: cheaper than a deep query)
        if child.tag in _BLOCK_CHILD_TAGS:
            return True
    return False


def _counts_inline(node: LexborNode | None) -> bool:
    """``node`` is a paragraph written as a container: no block in it and no text run of its
    own (``<div><strong>…</strong></div>``), so its inline elements' text is its own. A block
    with text runs of its own (a ``<br>``-separated body) scores those, its inline elements
    theirs."""
    if node is None or node.tag not in _CONTAINER_TAGS:
        return False
    child = node.child
    while child is not None:
        tag = child.tag
        if tag == "-text":
            if len((child.text_content or "").strip()) >= MIN_PARAGRAPH_CHARS:
                return False
        elif child.is_element_node and tag not in _PHRASING_TAGS:
            return False
        child = child.next
    return True


def score_candidates(
    body: LexborNode, lengths: _Lengths, masses: dict[int, float] | None = None
) -> list[Candidate]:
    """Candidates best first; ``masses`` (when given) receives every scored element's score
    and every paragraph's own value, by ``mem_id``.

    Each paragraph scores its parent fully and its next ancestors by halves: an article split
    over sibling blocks (one per paragraph, or per few) then scores highest at the block that
    holds them all, where a single rich paragraph's own block would otherwise win alone.
    """
    scores: dict[int, float] = {}
    nodes: dict[int, LexborNode] = {}
    paragraphs: dict[int, float] = {}

    def add(node: LexborNode | None, value: float) -> None:
        for _ in range(PROPAGATE_LEVELS):
            if node is None or node.tag in (None, "html", "-document"):
                return
            key = node.mem_id
            if key not in nodes:
                nodes[key] = node
                scores[key] = value
            else:
                scores[key] += value
            node = node.parent
            value /= 2

    for node in body.traverse():
        tag = node.tag
        if tag in _PARAGRAPH_TAGS:
            if tag in _MAY_NEST and _has_block_child(node):
                continue  # its paragraphs score for themselves
            value = _paragraph_value(node.text())
            if value:
                if tag == "li":
                    value *= 0.5
                paragraphs[node.mem_id] = value
                add(node.parent, value)
        elif tag in _CONTAINER_TAGS:
            # direct text runs of a container (<br>-separated paragraphs) count for it, and so
            # do its inline elements' when it holds no block (a paragraph written as a div)
            if tag in _INLINE_TAGS and _counts_inline(node.parent):
                continue  # its text counted for its block
            own = node.text() if _counts_inline(node) else node.text(deep=False)
            if len(own) >= MIN_PARAGRAPH_CHARS and (value := _paragraph_value(own)):
                add(node, value)

    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:TOP_CANDIDATES]
    if masses is not None:
        masses.update(scores)
        masses.update(paragraphs)
    out: list[Candidate] = []
    for key, raw in ranked:
        node = nodes[key]
        density = lengths.link_density(node)
        score = raw * (1.0 - density)
        if _is_teaser_list(node, density, lengths):
            score *= TEASER_FACTOR  # other stories' cards: prose-like, not the article
        out.append(Candidate(node, score, lengths.text(node), density))
    return _rank_by_names(out)


def _rank_by_names(candidates: list[Candidate]) -> list[Candidate]:
    """Best first, with the names of each candidate and its ancestors weighed in. A name can
    only lower or mildly raise a score, so names are read from the top down until the leader
    is one whose names have been read (reading every candidate's ancestry costs)."""
    pending = sorted(candidates, key=lambda c: c.score * CONTENT_NAME_FACTOR, reverse=True)
    done: list[Candidate] = []
    while pending:
        best = max(c.score for c in done) if done else -1.0
        if pending[0].score * CONTENT_NAME_FACTOR < best:
            break
        first = pending.pop(0)
        factor = _name_factor(first.node)
        done.append(Candidate(first.node, first.score * factor, first.text_len, first.link_density))
    done.sort(key=lambda c: c.score, reverse=True)
    return done + pending


def _name_factor(node: LexborNode) -> float:
    """Lower for a block named as furniture, or inside one (comments, related, a sidebar):
    a comment thread is prose, and only its wrapper says whose. Ancestors are read up to the
    page's own article or main element, and a few levels at most: past those, names describe
    page layout (``has-sidebar``), not the block."""
    factor = 1.0
    own = element_name(node)
    if own.strip():
        if is_hard_furniture(own):
            factor *= HARD_FURNITURE_FACTOR
        elif furniture_words(own):
            factor *= SOFT_FURNITURE_FACTOR
        elif is_content_name(own):
            factor *= CONTENT_NAME_FACTOR
    parent = node.parent
    for _ in range(ANCESTOR_LEVELS):
        if parent is None or parent.tag in _LAYOUT_ROOTS:
            break
        name = element_name(parent)
        if name.strip() and is_hard_furniture(name):
            return factor * HARD_FURNITURE_FACTOR
        parent = parent.parent
    return factor


def climb(candidate: Candidate, scores: dict[int, float], lengths: _Lengths) -> LexborNode:
    """Widen the winner to the block holding the whole article.

    A parent is taken when its other children add little text that is not links (title, date
    and byline come along; menus do not), or when they add prose of their own: sibling blocks
    of one article (a body split into sections, an article of lists and paragraphs). In the
    second case the parent's children that are not article (link lists, blocks named as
    furniture) are removed, so the parent can be walked whole.
    """
    node = candidate.node
    length = candidate.text_len
    while True:
        parent = node.parent
        if parent is None or parent.tag in (None, "html", "-document"):
            return node
        parent_len = lengths.text(parent)
        extra = parent_len - length
        if extra <= max(CLIMB_EXTRA_RATIO * length, 0):
            extra_links = lengths.links(parent) - lengths.links(node)
            if extra <= 0 or extra_links / extra <= CLIMB_EXTRA_LINK_DENSITY:
                node, length = parent, parent_len
                continue
        if parent.tag == "body":
            return node
        if _inline_in_loose_text(node, parent):
            node, length = parent, parent_len  # a span of a <br>-separated body: its block
            continue
        if not _join_siblings(node, parent, scores, lengths):
            return node
        node, length = parent, lengths.text(parent)


def _inline_in_loose_text(node: LexborNode, parent: LexborNode) -> bool:
    """``node`` is an inline element whose parent also holds text of its own, outside any
    element (paragraphs separated by ``<br>``): a piece of the parent's text, not a block."""
    if node.tag not in _INLINE_TAGS:
        return False
    child = parent.child
    while child is not None:
        if child.tag == "-text" and len((child.text_content or "").strip()) >= MIN_PARAGRAPH_CHARS:
            return True
        child = child.next
    return False


def _join_siblings(
    node: LexborNode,
    parent: LexborNode,
    scores: dict[int, float],
    lengths: _Lengths,
) -> bool:
    """When ``node``'s siblings hold prose enough to be parts of one article, remove the
    siblings that are not article and say so; else False (nothing touched). Scores decay with
    depth, so the siblings' are weighed against ``node``'s own, taken at the same depth; past
    the depth scores reach, text without links stands in for them, in both."""
    mass = scores.get(node.mem_id, 0.0)
    by_text = mass == 0.0
    if by_text:
        mass = lengths.text(node) * (1.0 - lengths.link_density(node))
    prose = 0.0
    drop: list[LexborNode] = []
    for child in parent.iter():
        if child.mem_id == node.mem_id or not child.is_element_node:
            continue
        size = lengths.text(child)
        if size == 0:
            continue
        name = element_name(child)
        density = lengths.link_density(child)
        if (
            (name.strip() and is_hard_furniture(name))
            or (size >= MIN_PARAGRAPH_CHARS and density > JOIN_MAX_LINK_DENSITY)
            or _is_teaser_list(child, density, lengths)
        ):
            drop.append(child)
            continue
        if density <= JOIN_PROSE_LINK_DENSITY:
            prose += size * (1.0 - density) if by_text else scores.get(child.mem_id, 0.0)
    if prose <= 0 or prose < JOIN_MIN_SHARE * mass:
        return False
    for child in drop:
        child.decompose()
    if drop:
        lengths.forget(parent)
    return True


def _is_teaser_list(node: LexborNode, density: float, lengths: _Lengths) -> bool:
    """Cards of other stories, repeated: most of the block's items (its children, below any
    lone wrappers) each lead with a headline-long link over a summary. Prose-like text with
    few links overall, where an article's own paragraphs link words inside sentences."""
    if density < TEASER_MIN_LINK_DENSITY or lengths.headline_links(node) < TEASER_MIN_LINKS:
        return False
    if len(css(node, _CARD_TITLE)) < TEASER_MIN_LINKS:
        return False  # one query answers most blocks: no linked titles, no cards
    for _ in range(TEASER_WRAPPER_LEVELS):
        items = [c for c in node.iter() if c.is_element_node and lengths.text(c) > 0]
        if len(items) != 1:
            break
        node = items[0]
    cards = 0
    for item in items:
        links = lengths.links(item)
        if (
            lengths.headline_links(item)
            and links * TEASER_CARD_LINK_SHARE >= lengths.text(item)
            and css_first(item, _CARD_TITLE) is not None
        ):
            cards += 1
    return cards >= TEASER_MIN_LINKS and 2 * cards >= len(items)


def find_main_content(tree: LexborHTMLParser) -> LexborNode | None:
    """The element holding the article body, or None when nothing reads like one."""
    body = tree.body
    if body is None:
        return None
    lengths = _Lengths()
    masses: dict[int, float] = {}
    candidates = score_candidates(body, lengths, masses)
    if not candidates:
        return None
    container = climb(candidates[0], masses, lengths)
    _drop_teaser_lists(container, lengths)
    return container


def _drop_teaser_lists(container: LexborNode, lengths: _Lengths) -> None:
    """Remove the blocks of other stories' cards inside the winner, down a few levels: a rail
    of teasers beside the article's column scores for the layout block holding both."""
    if len(css(container, _CARD_TITLE)) < TEASER_MIN_LINKS:
        return  # the usual article: no block in it can be a list of teasers
    level = [container]
    for _ in range(TEASER_WRAPPER_LEVELS):
        below: list[LexborNode] = []
        doomed: list[LexborNode] = []
        for node in level:
            for child in node.iter():
                if not child.is_element_node or lengths.headline_links(child) < TEASER_MIN_LINKS:
                    continue
                if _is_teaser_list(child, lengths.link_density(child), lengths):
                    doomed.append(child)
                else:
                    below.append(child)
        for child in doomed:  # after the walk: never remove a node while iterating its siblings
            child.decompose()
        level = below
