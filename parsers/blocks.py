"""The unit the text rules work on: one block of an article body, in page order.

Both the HTML paths (``parsers.dom``) and the text-dump path (``parsers.textrules.clean_text``)
reduce a page to a sequence of blocks, so one set of rules cleans both.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Kind(enum.Enum):
    PARA = "para"  # one paragraph (or, in a dump, one line)
    LIST = "list"  # "- item" lines joined by "\n"
    TABLE = "table"  # "a | b" rows joined by "\n"
    IMAGE = "image"  # an image; no text, ``src`` set
    CAPTION = "caption"  # a caption known from the markup (figcaption, image-table cell)
    HEADING = "heading"  # h1–h6 inside the body: kept as a paragraph, never taken for a caption


# Python 3.11 reads ``Kind.IMAGE`` through the enum's metaclass (~100 ns, a plain global is
# ~6 ns); the loops that test every block's kind, several times a page, use these instead.
# Measured (issue 13: bench/parse.py's 300 pages, paired processes, a quiet machine): ``Kind.X``
# everywhere costs ~1.5% per page, inside the ±2% two runs of the same code differ by. By the
# house rule they should go; kept until the extractor work (#16) rewriting their ~45 users lands.
PARA, LIST, TABLE, IMAGE, CAPTION, HEADING = (
    Kind.PARA, Kind.LIST, Kind.TABLE, Kind.IMAGE, Kind.CAPTION, Kind.HEADING
)  # fmt: skip


class Block(NamedTuple):
    """Immutable like the records, but a tuple: blocks are made per paragraph, so they must be
    cheap to build (a frozen dataclass pays a ``__setattr__`` detour per field)."""

    kind: Kind
    text: str = ""
    src: str | None = None
    gap_before: bool = True  # dumps: a blank line precedes it (False: only a single newline)
    # The whole paragraph is italic/emphasized, or (generic path) its markup marks it as the
    # caption of the image before it: a caption paragraph.
    emphasized: bool = False
    strong: bool = False  # the whole paragraph is bold (a subheading, when not also italic)


TOOLBAR_TOKEN = "leftcenterrightdel"


def collapse(text: str) -> str:
    """Whitespace (NBSP included) collapsed to single spaces, ends stripped."""
    # Fast path: isprintable() is False for every space but U+0020 (NBSP, tabs, newlines...),
    # so a printable text without double or edge spaces is already collapsed.
    # The common impurity is NBSP alone (entities, editors): swap it in C before the check.
    if "\xa0" in text:
        text = text.replace("\xa0", " ")
    if not text.isprintable() or "  " in text:
        return " ".join(text.split())  # str.split() splits on every Unicode space
    if text[:1] == " " or text[-1:] == " ":
        return text.strip(" ")  # printable, no double space: only single edge spaces left
    return text
