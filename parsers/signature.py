"""The signature line right after an article's body: its author or desk, on sites that print it
as a line of its own below the text (``Thu Hà``, ``V.T``, ``Phòng 15``, ``Văn phòng tổng hợp``)
with no label and no class the generic extractor knows.

Structure only: the first element after the body container (or after its parent, for a body in a
table cell), when it is one short line, no link, no date, no sentence. Read only when the page
declared no author and the text gave no byline.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from vksnd.parsers.blocks import collapse
from vksnd.parsers.dates import parse_date_text
from vksnd.parsers.query import css

SIGNATURE_MAX_CHARS = 60
SIGNATURE_MAX_WORDS = 8
LONG_BLOCK_CHARS = 200  # the body's text before a signature line
_CLIMB = 2  # levels above the body container whose next sibling may hold the line
_BLOCKS = "p, div, ul, ol, table, h1, h2, h3, h4, h5, h6, img, form, input, button"


def _next_element(node: LexborNode) -> LexborNode | None:
    """The next element sibling; None when text that is not white space comes first."""
    sibling = node.next
    while sibling is not None:
        if sibling.tag == "-text":
            if (sibling.text_content or "").strip():
                return None
        elif sibling.tag != "_comment" and sibling.tag != "-comment":
            return sibling
        sibling = sibling.next
    return None


def _signature(node: LexborNode) -> str | None:
    text = collapse(node.text())
    if not text or len(text) > SIGNATURE_MAX_CHARS or len(text.split()) > SIGNATURE_MAX_WORDS:
        return None
    if css(node, "a") or text.endswith((".", ":", "!", "?", ";", ",")) or not text[0].isupper():
        return None
    inner = [n for n in css(node, _BLOCKS) if n.mem_id != node.mem_id]  # css() matches the node
    if node.tag not in ("tr", "td") and inner:
        return None
    if parse_date_text(text) is not None:
        return None
    return text


def trailing_signature(container: LexborNode) -> str | None:
    """The author line just after ``container``, if the page has one there."""
    node: LexborNode | None = container
    for _ in range(_CLIMB + 1):
        if node is None or node.tag in ("body", "html"):
            return None
        following = _next_element(node)
        if following is not None:
            return _signature(following)
        node = node.parent
    return None


def _all_links(node: LexborNode) -> bool:
    """Nothing but links (a share bar, tags) or nothing at all."""
    text = collapse(node.text())
    linked = sum(len(collapse(a.text())) for a in css(node, "a") if a.mem_id != node.mem_id)
    return not text or linked >= len(text) * 0.5


def pop_signature(container: LexborNode) -> str | None:
    """The author line closing ``container`` itself (after its last long block; share bars and
    tag rows after it are passed over), removed from it so the text does not end with it."""
    children = [c for c in container.iter() if c.tag not in ("-text", "_comment")]
    while len(children) == 1:  # a table's tbody, a lone wrapper
        children = [c for c in children[0].iter() if c.tag not in ("-text", "_comment")]
    for index in range(len(children) - 1, 0, -1):
        child = children[index]
        if _all_links(child):
            continue
        text = _signature(child)
        if text is None or len(collapse(children[index - 1].text())) < LONG_BLOCK_CHARS:
            return None
        child.decompose()
        return text
    return None
