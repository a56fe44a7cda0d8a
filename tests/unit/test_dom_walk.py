"""parsers.dom's walk skips blank text nodes in C: the spaces they stood for inside an inline run
must still be there (outputs pinned from the walk that visited every blank node)."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from vksnd.parsers.blocks import PARA, Block
from vksnd.parsers.dom import mark_breaks, walk_blocks

CASES = [
    ("<div>A\n<b>\n<img src='/x.png'>\n</b>\nB</div>", [("image", "/x.png"), ("para", "A B")]),
    (
        "<div>A <a><img src='/i.png'></a>\n<b>c</b> d</div>",
        [("image", "/i.png"), ("para", "A c d")],
    ),
    (
        "<div><span>x</span>\n<span>y</span>\n<p>para</p>\n<em>z</em> \n<i>w</i></div>",
        [("para", "x y"), ("para", "para"), ("para", "z w")],
    ),
    (
        "<div>one<br>\n<br>two\n<b><i>x</i>\n<img src='/a.png'>\n</b>\ntail</div>",
        [("image", "/a.png"), ("para", "one"), ("para", "two x tail")],
    ),
    ("<div><b>\n<img src='/a.png'></b>\n<b>t</b></div>", [("image", "/a.png"), ("para", "t")]),
    ("<div>lead\n<script>x</script>\n<em>after</em></div>", [("para", "lead after")]),
    ("<div>A<span>\n<img src='/q.png'>\n</span>B</div>", [("image", "/q.png"), ("para", "A B")]),
]


@pytest.mark.parametrize(("html", "expected"), CASES)
@pytest.mark.parametrize("drop_link_lists", [False, True])
def test_blank_nodes_are_spaces_inside_inline_runs(
    html: str, expected: list[tuple[str, str]], drop_link_lists: bool
) -> None:
    node = LexborHTMLParser(html).css_first("div")
    assert node is not None
    mark_breaks(node)
    blocks = walk_blocks(node, lambda src: src, url="u", drop_link_lists=drop_link_lists)
    assert [(b.kind.value, b.src or b.text) for b in blocks] == expected


def test_leaf_paragraphs_are_whole_blocks() -> None:
    """Every block has all of Block's fields (a paragraph built by ``tuple.__new__`` once lacked
    ``strong``: its repr and that field raised)."""
    html = "<div><p>Một đoạn văn</p><p>Ảnh: V.T</p><p>x<br><br>y</p></div>"
    node = LexborHTMLParser(html).css_first("div")
    assert node is not None
    mark_breaks(node)
    blocks = walk_blocks(node, lambda src: src, url="u")
    assert blocks == [Block(PARA, "Một đoạn văn"), Block(PARA, "Ảnh: V.T"), Block(PARA, "x"),
                      Block(PARA, "y")]  # fmt: skip
    assert all(len(b) == len(Block._fields) and not b.strong for b in blocks)
