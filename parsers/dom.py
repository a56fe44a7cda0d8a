"""A body container (selectolax node) → blocks: paragraphs, lists, tables, images, captions.

The walk is iterative (an explicit stack with a depth cap), so hostile nesting cannot blow the
recursion limit. It stays fast by letting lexbor do the per-character work: ``<br>`` elements
are swapped once for a private-use marker, and every *leaf block* (a block element with no block
or image inside) is read with one ``.text()`` call; Python only visits the block skeleton.

Markup → blocks:
- text runs and leaf blocks are paragraphs; ``<br><br>`` splits a paragraph, a single ``<br>``
  is a space (it wraps a line, it does not end one);
- ``ul``/``ol`` → one LIST block of ``- item`` lines;
- a table holding an image and little text is an *image table* (the portal editor's three
  rows: toolbar, image, caption): IMAGE + CAPTION, the toolbar row dropped;
- a table of plain cells is a data table: one ``a | b`` line per row; any other table is
  layout and is walked through;
- ``figure`` → IMAGE blocks + its ``figcaption`` as CAPTION; ``img`` elsewhere → IMAGE;
- with ``drop_link_lists`` (generic path), blocks that are mostly link text are dropped
  (related-news lists, menus that slipped into the container).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from selectolax.lexbor import LexborNode

from vksnd.parsers.blocks import (
    CAPTION,
    HEADING,
    IMAGE,
    LIST,
    PARA,
    TABLE,
    TOOLBAR_TOKEN,
    Block,
    Kind,
    collapse,
)
from vksnd.parsers.errors import PageTooComplex
from vksnd.parsers.query import css, css_first
from vksnd.parsers.textrules import ends_sentence

BR_MARK = "\ue000"
DEFAULT_MAX_DEPTH = 400
IMAGE_TABLE_MAX_TEXT = 600
SMALL_TABLE_TEXT = 2000  # raw text chars up to which a table is walked rather than queried
LINK_DENSITY_MAX = 0.6
ICON_MAX_PIXELS = 32  # an image declared this small is an icon or an emoji
CAPTION_MAX = 250  # chars of a short text sharing an image's block, read as its caption
CAPTION_NAMED_MAX = 600  # a block named as a caption may run longer: its name says what it is

SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "iframe", "svg", "object", "embed", "button",
     "select", "input", "textarea", "head", "title", "meta", "link", "canvas", "video",
     "audio", "map", "form-control", "-comment", "!doctype"}
)  # fmt: skip
BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote",
     "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead",
     "tbody", "tfoot", "tr", "td", "th", "caption", "figure", "figcaption", "pre", "address",
     "form", "fieldset", "center", "hr", "body", "html", "details", "summary", "legend"}
)  # fmt: skip
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Anything inside that is not plain inline text: the node cannot be read with one .text().
# (lexbor's ``node.css`` matches the node itself as well as its descendants.)
STRUCTURE_TAGS = frozenset(BLOCK_TAGS - {"html", "body"} | {"img"})
_PARAGRAPH_SPLIT_RE = re.compile(BR_MARK + r"\s*(?:" + BR_MARK + r"\s*)+")


def mark_breaks(container: LexborNode) -> None:
    """Swap every ``<br>`` for a marker character, so ``.text()`` keeps line breaks."""
    for br in css(container, "br"):
        br.replace_with(BR_MARK)


def _paragraphs(raw: str) -> list[str]:
    if BR_MARK not in raw:
        text = collapse(raw)
        return [text] if text else []
    out = []
    for part in _PARAGRAPH_SPLIT_RE.split(raw):
        text = collapse(part.replace(BR_MARK, " "))
        if text:
            out.append(text)
    return out


def _element_sibling(node: LexborNode, *, before: bool) -> LexborNode | None:
    """The element next to ``node`` (None when text that is not white space comes first)."""
    sibling = node.prev if before else node.next
    while sibling is not None:
        if sibling.tag == "-text":
            if (sibling.text_content or "").strip():
                return None
        elif sibling.tag != "_comment":
            return sibling
        sibling = sibling.prev if before else sibling.next
    return None


def _closes_image_wrapper(node: LexborNode) -> bool:
    """``node`` follows an ``<img>`` and ends their shared wrapper (``<div><img><div>A
    caption</div></div>``): a picture and its caption, however the caption is named."""
    previous = _element_sibling(node, before=True)
    if previous is None or previous.tag != "img":
        return False
    if _element_sibling(node, before=False) is not None:
        return False
    first = _element_sibling(previous, before=True)
    return first is None and node.parent is not None and node.parent.tag not in ("body", "html")


def _caption_text(raw: str) -> str:
    return collapse(raw.replace(BR_MARK, " "))


def _short_enough(collapsed: str) -> bool:
    """Could be the toolbar: its 18 letters with at most single spaces between them."""
    return len(collapsed) < 2 * len(TOOLBAR_TOKEN)


def _link_density(node: LexborNode, text_len: int) -> float:
    if text_len == 0:
        return 0.0
    linked = sum(len(collapse(a.text())) for a in css(node, "a"))
    return linked / text_len


def _wholly(node: LexborNode, tags: frozenset[str], text: str) -> bool:
    """Is all of ``text`` (the node's collapsed text) inside elements named ``tags``?"""
    inner = "".join(n.text() for n in descendants(node, tags))
    inner = collapse(inner.replace(BR_MARK, " "))
    return bool(inner) and inner == text


def _is_icon(attributes: dict[str, str | None]) -> bool:
    """An emoji or icon drawn as an image (declared a few pixels wide, or named so): part of
    the text around it, not a picture with a caption."""
    for key in ("width", "height"):
        value = (attributes.get(key) or "").strip().removesuffix("px")
        if value.isdigit() and int(value) <= ICON_MAX_PIXELS:
            return True
    name = (attributes.get("class") or "").lower()
    return "emoji" in name or "icon" in name


def _caption_named(node: LexborNode) -> bool:
    """The paragraph or its wrapper is named as a caption or a photo credit."""
    for part in (node, node.parent):
        if part is None:
            break
        attrs = part.attributes
        name = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower()
        if "caption" in name or "credit" in name:
            return True
    return False


def _marked_caption(node: LexborNode, text: str | None = None) -> bool:
    """The markup ties this paragraph to the image before it: it (or its wrapper) is named as
    a caption, or it is a centred line without a sentence end (``text``), as captions under a
    centred image are (a page centring all its text centres its sentences too)."""
    if _caption_named(node):
        return True
    if text is None or len(text) > CAPTION_MAX or ends_sentence(text):
        return False
    attrs = node.attributes
    style = (attrs.get("style") or "").replace(" ", "").lower()
    return "text-align:center" in style or (attrs.get("align") or "").lower() == "center"


def descendants(node: LexborNode, tags: frozenset[str]) -> list[LexborNode]:
    """``css(node, "a, b")`` for plain tag names (the node itself included, page order), by a
    walk. For the small subtrees it is used on (an image table, a figure, a caption paragraph)
    a walk is cheaper: every selector query parses its selector again (~3 µs), whatever the
    size of the subtree, where a walk costs ~0.2 µs a node."""
    return [n for n in node.traverse() if n.tag in tags]


_EMPHASIS = frozenset({"em", "i"})
_STRONG = frozenset({"strong", "b"})
# A table with any of these inside is layout, not data.
_NOT_IN_DATA_TABLES = frozenset({"p", "div", "ul", "ol", "h1", "h2", "h3", "h4"})


def is_leaf(node: LexborNode) -> bool:
    """No block or image anywhere inside: one ``.text()`` reads the node.

    Walking the few element descendants of a paragraph is cheaper than a selector query
    (which matches the node itself too) or serializing the paragraph; a lone text child (most
    paragraphs) answers without the walk.
    """
    child = node.first_child
    if child is not None and child.is_text_node and child.next is None:
        return True
    return _no_structure_below(node)


def _no_structure_below(node: LexborNode) -> bool:
    """``is_leaf`` once the lone-text-child case is ruled out: a walk of the descendants."""
    nodes = node.traverse()
    next(nodes, None)  # the node itself
    for child in nodes:  # noqa: SIM110 (a plain loop beats all() + generator here)
        if child.tag in STRUCTURE_TAGS:
            return False
    return True


class _Walker:
    def __init__(
        self,
        resolve: Callable[[str], str],
        *,
        url: str,
        max_depth: int,
        drop_link_lists: bool,
    ) -> None:
        self.resolve = resolve
        self.url = url
        self.max_depth = max_depth
        self.drop_link_lists = drop_link_lists
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.inline_images: list[str] = []
        self.inline_links = 0  # generic path: characters of link text in the open inline run

    # -- output ---------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.inline and not self.inline_images:
            return
        raw = "".join(self.inline)
        self.inline.clear()
        if not self.inline_images and (not raw or raw.isspace()):
            return
        images, self.inline_images = self.inline_images, []
        for src in images:
            self.blocks.append(Block(IMAGE, src=src))
        linked, self.inline_links = self.inline_links, 0
        if linked and linked > LINK_DENSITY_MAX * len(raw.strip()):
            return  # a run of links between blocks (tags, "read more" rows): not text
        texts = _paragraphs(raw)
        if images and self.drop_link_lists and len(texts) == 1 and len(texts[0]) <= CAPTION_MAX:
            # a short text in the image's own block (a photo wrapper): the image's caption
            self.blocks.append(Block(PARA, texts[0], emphasized=True))
            return
        for text in texts:
            self.blocks.append(Block(PARA, text))

    def image(self, node: LexborNode) -> str | None:
        attributes = node.attributes
        if self.drop_link_lists and _is_icon(attributes):
            return None
        src = attributes.get("src") or attributes.get("data-src")
        if src:
            src = src.strip()
        return self.resolve(src) if src else None

    def paragraph_node(self, node: LexborNode, kind: Kind) -> None:
        raw = node.text()
        texts = _paragraphs(raw)
        if not texts:
            return
        if self.drop_link_lists and css_first(node, "a") is not None:
            total = sum(len(t) for t in texts)
            if _link_density(node, total) > LINK_DENSITY_MAX:
                return
        emphasized = strong = False
        if self.drop_link_lists and self.blocks and self.blocks[-1].kind is IMAGE:
            caption = _caption_text(raw)
            if len(caption) <= CAPTION_MAX and _closes_image_wrapper(node):
                # the image's wrapper: an image, then this text, nothing else: its caption
                self.blocks.append(Block(CAPTION, caption))
                return
        if self.blocks and self.blocks[-1].kind is IMAGE and len(texts) == 1:
            # Right after an image: italic reads as its caption, bold as a subheading.
            emphasized = _wholly(node, _EMPHASIS, texts[0])
            strong = not emphasized and _wholly(node, _STRONG, texts[0])
            if self.drop_link_lists and not emphasized and not strong:
                emphasized = _marked_caption(node, texts[0])
        elif (
            self.drop_link_lists
            and len(texts) == 1
            and len(texts[0]) <= CAPTION_NAMED_MAX
            and _caption_named(node)
        ):  # a caption block whose image is elsewhere (a lazy-loaded or removed picture)
            self.blocks.append(Block(CAPTION, texts[0]))
            return
        for text in texts:
            self.blocks.append(Block(kind, text, emphasized=emphasized, strong=strong))

    # -- special blocks -----------------------------------------------------------------
    def list_block(self, node: LexborNode) -> None:
        items = [_caption_text(li.text()) for li in node.iter() if li.tag == "li"]
        items = [i for i in items if i]
        if not items:
            return
        if self.drop_link_lists and css_first(node, "a") is not None:
            total = sum(len(i) for i in items)
            if _link_density(node, total) > LINK_DENSITY_MAX:
                return
        self.blocks.append(Block(LIST, "\n".join(f"- {i}" for i in items)))

    def table(self, node: LexborNode) -> bool:
        """Image table or data table handled here (False); a layout table is walked (True).

        A table with little text (the editor's image tables, short data tables) is read by
        one walk of its nodes; a bigger one, likely layout holding the page, by selector
        queries, which match in C (each costs a selector parse, a walk costs per node).
        """
        raw = node.text()
        rows: list[LexborNode] | None = None
        blocky: bool | None = None
        if len(raw) <= SMALL_TABLE_TEXT:
            images, rows, tables, blocky = [], [], 0, False
            for part in node.traverse():  # the table itself first
                tag = part.tag
                if tag == "img":
                    images.append(part)
                elif tag == "tr":
                    rows.append(part)
                elif tag == "table":
                    tables += 1
                elif tag in _NOT_IN_DATA_TABLES:
                    blocky = True
            nested = tables > 1
        else:
            found = css(node, "img, table")  # one query; css() matches the node itself too
            images = [n for n in found if n.tag == "img"]
            nested = len(found) - len(images) > 1
        if images and not nested:
            text = collapse(raw.replace(BR_MARK, " "))
            if len(text) <= IMAGE_TABLE_MAX_TEXT:
                self.image_table(node, images, css(node, "tr") if rows is None else rows)
                return False
        if not nested and not images:
            if blocky is None:
                blocky = css_first(node, "p, div, ul, ol, h1, h2, h3, h4") is not None
            if not blocky:
                self.data_table(css(node, "tr") if rows is None else rows)
                return False
        return True

    def image_table(
        self, node: LexborNode, images: list[LexborNode], rows: list[LexborNode]
    ) -> None:
        """Rows in order: their images, then their text as caption (the toolbar row dropped).

        The table holds no other table, so each image's row is its nearest ``tr`` ancestor:
        climbing a step or two beats a selector query per row.
        """
        row_images: dict[int, list[LexborNode]] = {}
        for img in images:
            row = img.parent
            while row is not None and row.tag != "tr" and row.mem_id != node.mem_id:
                row = row.parent
            if row is not None and row.tag == "tr":
                row_images.setdefault(row.mem_id, []).append(img)
        caption: list[str] = []
        for row in rows:
            text = _caption_text(row.text())
            for img in row_images.get(row.mem_id, ()):
                src = self.image(img)
                if src:
                    self.blocks.append(Block(IMAGE, src=src))
            if not text or (_short_enough(text) and "".join(text.split()).lower() == TOOLBAR_TOKEN):
                continue
            caption.append(text)
        if caption:
            self.blocks.append(Block(CAPTION, " ".join(caption)))

    def data_table(self, rows: list[LexborNode]) -> None:
        """One ``a | b`` line per row (``rows``: the table's ``tr`` elements in page order)."""
        lines = []
        for row in rows:
            cells = [_caption_text(c.text()) for c in row.iter() if c.tag in ("td", "th")]
            if any(cells):
                lines.append(" | ".join(cells))
        if lines:
            self.blocks.append(Block(TABLE, "\n".join(lines)))

    def figure(self, node: LexborNode) -> None:
        """Its images in page order, then its first ``figcaption`` as the caption."""
        caption = None
        for part in node.traverse():  # one walk of the figure's few nodes: no selector query
            tag = part.tag
            if tag == "img":
                src = self.image(part)
                if src:
                    self.blocks.append(Block(IMAGE, src=src))
            elif tag == "figcaption" and caption is None:
                caption = part
        if caption is not None:
            text = _caption_text(caption.text())
            if text:
                self.blocks.append(Block(CAPTION, text))

    # -- the walk -------------------------------------------------------------------------
    def walk(self, root: LexborNode) -> list[Block]:
        """Depth-first over a stack of child iterators: no recursion, no per-child tuples.

        Each frame's children are read by a plain ``for`` loop (cheaper than ``next()`` per
        child); descending breaks out of it and the frame's iterator resumes after the child.

        Blank text nodes (ASCII whitespace: the newlines between a body's paragraphs, about
        half of its children) are skipped in C. A blank node is a space inside an inline run
        and nothing elsewhere (before a run, or before the block that ends one, whose text is
        collapsed), so the run gets its space when the child after a blank node, or the end of
        the inline element that ends on one, is reached with the run open. Two blank nodes in
        a row (left by removed chrome) give one space where they gave two: the same once
        collapsed.
        """
        stack: list[tuple[Iterator[LexborNode], LexborNode, int]] = [
            (root.iter(include_text=True, skip_empty=True), root, 0)
        ]
        blocks, inline, visit = self.blocks, self.inline, self.visit
        plain = not self.drop_link_lists
        while stack:
            children, parent, depth = stack[-1]
            for child in children:
                if inline:  # a blank node skipped just before this child: a space in the run
                    prev = child.prev
                    if prev is not None and prev.is_empty_text_node:
                        inline.append(" ")
                tag = child.tag
                if tag == "-text":  # inlined visit() for the commonest node
                    text = child.text_content
                    if text and (inline or not text.isspace()):
                        inline.append(text)
                    continue
                raw: str | None = None
                if (
                    tag == "p"
                    and plain
                    and not inline
                    and not self.inline_images
                    and (not blocks or blocks[-1].kind is not IMAGE)
                ):
                    # is_leaf() inlined: a lone text child (most paragraphs) is read as it
                    # stands, which is what .text() returns, without its walk and buffer
                    # (text_content is None for any other node, and for a text node without
                    # data, whose paragraph the fallback reads as "").
                    first = child.first_child
                    if first is not None and first.next is None:
                        raw = first.text_content
                    if raw is None and _no_structure_below(child):
                        raw = child.text()
                if raw is not None:  # a leaf paragraph
                    if BR_MARK in raw:
                        blocks.extend(Block(PARA, t) for t in _paragraphs(raw))
                    else:
                        text = collapse(raw)
                        if text:
                            blocks.append(Block(PARA, text))
                    continue
                if visit(child):
                    if depth + 1 >= self.max_depth:
                        raise PageTooComplex(self.url, f"nesting deeper than {self.max_depth}")
                    stack.append((child.iter(include_text=True, skip_empty=True), child, depth + 1))
                    break
            else:
                stack.pop()
                if parent.tag in BLOCK_TAGS:
                    self.flush()
                elif inline:  # an inline element ending on a skipped blank node
                    last = parent.last_child
                    if last is not None and last.is_empty_text_node:
                        inline.append(" ")
        self.flush()
        return self.blocks

    def visit(self, node: LexborNode) -> bool:
        """Handle one node; True when the walk must descend into it."""
        tag = node.tag
        if tag == "-text":
            text = node.text_content
            if text and (self.inline or not text.isspace()):  # no leading blank runs
                self.inline.append(text)
            return False
        if tag is None or tag in SKIP_TAGS or not node.is_element_node:
            return False
        if tag == "img":
            src = self.image(node)
            if src:
                self.inline_images.append(src)
            return False
        if tag not in BLOCK_TAGS:  # inline element
            if (
                self.drop_link_lists
                and not self.inline
                and self.blocks
                and self.blocks[-1].kind is IMAGE
                and _marked_caption(node)
            ):  # a caption span beside its image's block (a photo wrapper)
                text = _caption_text(node.text())
                if text:
                    self.blocks.append(Block(PARA, text, emphasized=True))
                return False
            if is_leaf(node):
                text = node.text()
                self.inline.append(text)
                if tag == "a" and self.drop_link_lists:
                    self.inline_links += len(text.strip())
                return False
            if tag == "a" and self.drop_link_lists:
                self.inline_links += len(node.text().strip())
            return True
        self.flush()
        if tag in ("ul", "ol"):
            self.list_block(node)
        elif tag == "table":
            return self.table(node)
        elif tag == "figure":
            self.figure(node)
        elif tag == "hr":
            return False
        elif is_leaf(node):  # one .text() reads it
            self.paragraph_node(node, HEADING if tag in HEADING_TAGS else PARA)
        else:
            return True
        return False


def walk_blocks(
    container: LexborNode,
    resolve: Callable[[str], str],
    *,
    url: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    drop_link_lists: bool = False,
) -> list[Block]:
    """Blocks of ``container`` in page order (call ``mark_breaks`` on it first)."""
    walker = _Walker(resolve, url=url, max_depth=max_depth, drop_link_lists=drop_link_lists)
    return walker.walk(container)
