"""Clean-up inside the article's block the generic extractor chose, before and after its walk.

The block holds more than the article's text: what the page hides, boxes its template names as
chrome (bylines, share bars, newsletter boxes, author bios, galleries, "latest stories"), short
labels between paragraphs (ad labels), and date and byline lines above the first prose. All are
known by structure and names, in any language: the portal's own wording is ``parsers.textrules``.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from vksnd.parsers.blocks import HEADING, IMAGE, PARA, Block
from vksnd.parsers.dates import parse_date_text
from vksnd.parsers.declared import is_meta_line
from vksnd.parsers.generic import text_len
from vksnd.parsers.hints import is_inner_chrome
from vksnd.parsers.query import css
from vksnd.parsers.textrules import ends_sentence

# What a page hides by attribute or by the common hiding classes; looked for inside the
# article's block only (class selectors over a whole page cost as much as the furniture query).
HIDDEN_SELECTOR = "[hidden], .hidden, .hide, .d-none, .sr-only, .visually-hidden"
HEADER_LINE_MAX = 200  # a heading up to this long may sit above an article's date line
DATE_LINE_MAX = 60  # a labelled date line (``Date: 03/10/2024``) is at most this long
DATE_LINE_MAX_WORDS = 3  # words besides the date's digits: a label, a weekday
_WORD_RE = re.compile(r"[^\W\d_]+")
REPEAT_MAX_CHARS = 40  # a recurring line up to this long is chrome (drop_repeated_lines)


def strip_inner_chrome(container: LexborNode) -> None:
    """Remove what the article's block hides, and the blocks around its text, known by their
    names (bylines, share bars, newsletter boxes, author bios, "latest stories"), unless one
    holds half the block's text: then the name describes the article, not a box in it."""
    for node in css(container, HIDDEN_SELECTOR):
        if node.mem_id != container.mem_id:
            node.decompose()
    named = [n for n in css(container, "[class]") if is_inner_chrome(n.attrs["class"] or "")]
    named += [n for n in css(container, "[id]") if is_inner_chrome(n.id or "")]
    if not named:
        return
    total = text_len(container)
    doomed: dict[int, LexborNode] = {}
    for node in named:
        if node.mem_id != container.mem_id and 2 * text_len(node) <= total:
            doomed[node.mem_id] = node
    # decompose only the outermost: a node is never touched once its ancestor is freed
    for key, node in list(doomed.items()):
        parent = node.parent
        while parent is not None and parent.mem_id != container.mem_id:
            if parent.mem_id in doomed:
                del doomed[key]
                break
            parent = parent.parent
    for node in doomed.values():
        node.decompose()


def drop_repeated_lines(blocks: list[Block]) -> list[Block]:
    """Short lines that recur in one article's text, each standing alone between longer
    blocks, are page chrome between its paragraphs (ad labels, "read more" stubs), in any
    language: a sentence is not printed twice. Runs of short lines (a menu, a schedule, a
    recipe) repeat their labels legitimately and are kept."""
    counts: dict[str, int] = {}
    for block in blocks:
        text = block.text
        if block.kind is PARA and len(text) <= REPEAT_MAX_CHARS:
            counts[text] = counts.get(text, 0) + 1
    repeated = {t for t, n in counts.items() if n > 1 and not ends_sentence(t)}
    if not repeated:
        return blocks

    def short(i: int) -> bool:
        return (
            0 <= i < len(blocks)
            and bool(blocks[i].text)
            and len(blocks[i].text) <= REPEAT_MAX_CHARS
        )

    def kept(i: int, block: Block) -> bool:
        if block.kind is not PARA or block.text not in repeated or block.emphasized:
            return True
        after_image = i > 0 and blocks[i - 1].kind is IMAGE  # two photos, one caption
        return after_image or short(i - 1) or short(i + 1)

    return [b for i, b in enumerate(blocks) if kept(i, b)]


def is_date_line(text: str) -> bool:
    """A short line holding a numeric date and a few words at most (a label, a weekday, in any
    language): a table layout's date row above the text, not a sentence of it."""
    if len(text) > DATE_LINE_MAX or ends_sentence(text) or text.rstrip().endswith(","):
        return False
    if len(_WORD_RE.findall(text)) > DATE_LINE_MAX_WORDS:
        return False
    return parse_date_text(text) is not None


def drop_leading_meta_lines(blocks: list[Block]) -> list[Block]:
    """Date and byline lines above the article's first prose (the header zone of the text rules
    knows the portal's forms; these are the forms of any site: month names, ``By`` lines)."""
    out: list[Block] = []
    for i, block in enumerate(blocks):
        if block.kind is IMAGE or (
            block.kind is PARA and (is_meta_line(block.text) or is_date_line(block.text))
        ):
            if block.kind is not IMAGE:
                continue
        elif block.kind is not HEADING or len(block.text) > HEADER_LINE_MAX:
            return out + blocks[i:]
        out.append(block)
    return out
