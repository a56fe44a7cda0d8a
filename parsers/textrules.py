"""Text-level cleaning rules: the last step of every path, and all of ``vksnd clean``.

The rules see a page as blocks (``vksnd.parsers.blocks``); a text dump is one block per line, with a
flag for "a blank line came before". They run in this order:

1. **Toolbar**: a block that is the image-editor toolbar (``left center right del`` glued into
   ``leftcenterrightdel``) is dropped, and the caption after it goes to ``captions``: the next
   paragraph, plus (in dumps) the lines wrapped under it while each line ends without a sentence
   end. A toolbar glued in front of caption text is split off the same way. Any toolbar token
   left inside a paragraph is scrubbed at the end, so it never survives.
2. **Header zone**: among the leading blocks up to the body's first prose (a block over 200
   chars, or a sentence of 8+ words with its final punctuation), the last *masthead marker*
   (a portal header line, a tools line such as ``Cỡ chữ: Tương phản``, a date-only line, a
   breadcrumb, the known title) and everything before it are chrome. This catches the title
   line without knowing it: the title sits above the date.
3. **Chrome lines** anywhere: tools lines, ``Tìm kiếm``, breadcrumbs, related-news headings.
   Footer lines (``Bản quyền…``, ``Địa chỉ: …``, visit counters) only in the trailing zone,
   where they cannot be a sentence of the article.
4. **Trailing byline**: after the trailing chrome, a last short block that reads like a name
   (≤ 6 words, ≤ 40 chars, every word capitalised or initials: ``Đắc Thái``, ``V.T``, ``TL``)
   becomes ``byline``.
5. **Captions without a toolbar**:
   - after an image (HTML paths): a paragraph right after an image that is wholly italic, or is
     short (≤ 250 chars), ends without a sentence end and is not wholly bold (a bold line
     there is a subheading); on markup no profile describes (``marked_captions``), only a
     paragraph its markup ties to the image: italic, named as a caption, or centred;
   - in dumps (images invisible): a stand-alone group of at most 6 lines (blank lines around,
     single newlines inside), each ≤ 200 chars, none ending a sentence, not numbered and not
     all capitals: a wrapped photo caption. Its lines are joined into one caption.
6. Paragraphs are joined by one blank line; the result is NFC.

Risks (said plainly): a short subheading without final punctuation that stands alone in a dump, or
that directly follows an image in HTML without being bold, is taken for a caption. A last paragraph
of one to six capitalised words is taken for the byline. The header zone drops a short unpunctuated
lead that stands above a date line. A migrated article's repeated title stays in the text (the
ground truth keeps it): only a title above the first prose is header. Chrome words are Vietnamese
portal vocabulary, matched as whole lines only, never inside a sentence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vksnd.parsers.blocks import CAPTION, HEADING, IMAGE, PARA, TOOLBAR_TOKEN, Block, collapse
from vksnd.parsers.dates import parse_date_line
from vksnd.parsers.profiles.model import TextRules

NO_SITE_RULES = TextRules()  # no profile: only the wording every site uses

HEADER_BLOCK_MAX = 200
HEADER_SCAN_BLOCKS = 14
CAPTION_LINE_MAX = 200
CAPTION_AFTER_IMAGE_MAX = 250
CAPTION_GROUP_MAX_LINES = 6
BYLINE_MAX_CHARS = 40
BYLINE_MAX_WORDS = 6


@dataclass(frozen=True, slots=True)
class CleanResult:
    text: str
    captions: tuple[str, ...]
    byline: str | None
    images: tuple[str, ...] = ()
    chrome_dropped: int = 0  # header/chrome/footer blocks removed: a profile body should have none


_TOOLBAR_RE = re.compile(
    r"l\s*e\s*f\s*t\s*c\s*e\s*n\s*t\s*e\s*r\s*r\s*i\s*g\s*h\s*t\s*d\s*e\s*l", re.IGNORECASE
)
_TOOLBAR_PREFIX_RE = re.compile(r"^\s*left\s*center\s*right\s*del\s*", re.IGNORECASE)

_TOOL_WORDS = (
    r"cỡ chữ|tương phản|in bài|bản in|in trang|chia sẻ|gửi email|gửi bài|gửi cho bạn bè|lưu bài|"
    r"quay lại|trở về|về đầu trang|lên đầu trang|facebook|zalo|twitter|email|print|share|"
    r"font size|a\s*-|a\s*\+|a"
)
_TOOLS_RE = re.compile(r"^(?:(?:" + _TOOL_WORDS + r")[\s:|/,.·•]*)+$", re.IGNORECASE)
_NAV_RE = re.compile(
    r"^(?:tìm kiếm|(?:các )?(?:tin|bài|bài viết) (?:khác|liên quan|cùng chuyên mục)|"
    r"xem thêm|trang chủ|bình luận|ý kiến bạn đọc|tags?|từ khóa|từ khoá)\s*:?\s*(?:\.\.\.|…)?$",
    re.IGNORECASE,
)
_BREADCRUMB_RE = re.compile(r"^trang chủ\s*[»>/|›].{0,200}$", re.IGNORECASE)
_TAGS_RE = re.compile(r"^(?:tags?|từ kho[áa])\s*:.{0,300}$", re.IGNORECASE)
_FOOTER_RE = re.compile(
    r"^(?:bản quyền|copyright|©|địa chỉ\s*:|điện thoại\s*:|đt\s*:|email\s*:|fax\s*:|"
    r"(?:số\s*)?lượt truy cập|đang truy cập|lượt xem|ghi rõ nguồn|giấy phép|"
    r"cơ quan chủ quản|chịu trách nhiệm)",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"[.!?…:;。！？][\"'”’»)\]」』]*$")
_NUMBERED_RE = re.compile(r"^(?:[0-9]+|[IVXLC]+|[a-zđ])[.)/-]\s", re.IGNORECASE)
_INITIALS_RE = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]?\.?$")
_TRAILING_PAREN_RE = re.compile(r"\s*\([^()]{0,40}\)$")


def ends_sentence(line: str) -> bool:
    return _SENTENCE_END_RE.search(line) is not None


def is_toolbar(text: str) -> bool:
    return "".join(text.split()).lower() == TOOLBAR_TOKEN


CHROME_LINE_MAX = 160


def is_chrome_line(line: str) -> bool:
    """A line of page furniture wherever it stands (tools, search box, nav headings)."""
    return len(line) <= CHROME_LINE_MAX and bool(
        _TOOLS_RE.match(line)
        or _NAV_RE.match(line)
        or _BREADCRUMB_RE.match(line)
        or _TAGS_RE.match(line)
    )


def is_footer_line(line: str, site: TextRules = NO_SITE_RULES) -> bool:
    """Footer wording any site uses, or the site's own masthead (its profile's ``text``)."""
    return bool(_FOOTER_RE.match(line)) or site.is_masthead(line) or site.is_chrome_phrase(line)


def is_byline(line: str) -> bool:
    """Reads like a signature: a short run of capitalised words or initials."""
    if not line or len(line) > BYLINE_MAX_CHARS:
        return False
    core = _TRAILING_PAREN_RE.sub("", line).strip()
    words = [w for w in core.replace(",", " ").split() if w not in ("-", "–", "&")]
    if not 1 <= len(words) <= BYLINE_MAX_WORDS:
        return False
    if core.endswith((".", "!", "?", ":", ";", "…")) and not _INITIALS_RE.match(words[-1]):
        return False
    for word in words:
        letters = [c for c in word if c.isalpha()]
        if not letters or not letters[0].isupper():
            return False
    return True


def _is_heading_like(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    all_caps = len(letters) > 3 and all(c.isupper() for c in letters)
    return bool(_NUMBERED_RE.match(line)) or all_caps


def _is_prose(line: str) -> bool:
    """Body text, which ends the header zone: long, or a full sentence of some length."""
    return len(line) > HEADER_BLOCK_MAX or (ends_sentence(line) and len(line.split()) >= 8)


# A tuple, not a set: ``in`` then tests identity, where a set would call Enum.__hash__ (Python).
_TEXTUAL = (PARA, HEADING)


def _is_textual(block: Block) -> bool:
    return block.kind in _TEXTUAL


def _is_masthead_marker(block: Block, title: str | None, site: TextRules) -> bool:
    """``title``: the known title, collapsed (None: unknown)."""
    line = block.text
    if site.is_masthead(line) or _TOOLS_RE.match(line) or _BREADCRUMB_RE.match(line):
        return True
    # The keys (_key: collapsed, casefolded) are compared only when their first characters
    # agree: a line's key starts with its casefolded first non-space character. Casefolding
    # maps each character on its own, to one to three characters, so the title's key starts
    # with that exactly when the key of the title's first three characters does.
    if (
        title is not None
        and title[:3].casefold().startswith(line.lstrip()[:1].casefold())
        and _key(line) == title.casefold()
    ):
        return True
    return parse_date_line(line) is not None


def _key(text: str) -> str:
    return collapse(text).casefold()


def _drop_header(blocks: list[Block], title: str | None, site: TextRules) -> list[Block]:
    last_marker = -1
    for i, block in enumerate(blocks[:HEADER_SCAN_BLOCKS]):
        if block.kind is IMAGE:
            continue
        if not _is_textual(block):
            break
        if _is_masthead_marker(block, title, site):
            last_marker = i
        elif _is_prose(block.text):
            break
    return blocks[last_marker + 1 :]


def _may_start_toolbar(text: str) -> bool:
    """The first character the toolbar-prefix regex can match: an l, or a space."""
    first = text[:1]
    return bool(first) and (first in "lL" or first.isspace())


def _take_toolbar_captions(blocks: list[Block]) -> list[Block]:
    for b in blocks:  # a loop that stops at the first candidate: no list, no call per block
        if b.kind in _TEXTUAL and (first := b.text[:1]) and (first in "lL" or first.isspace()):
            break  # _may_start_toolbar(b.text), inlined
    else:
        return blocks  # the usual page: no block can be the toolbar
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        text = block.text
        if block.kind in _TEXTUAL and _may_start_toolbar(text) and _TOOLBAR_PREFIX_RE.match(text):
            rest = _TOOLBAR_PREFIX_RE.sub("", block.text, count=1).strip()
            i += 1
            if rest:  # the caption glued to the toolbar
                lines = [rest]
            else:
                while i < len(blocks) and blocks[i].kind is IMAGE:
                    out.append(blocks[i])
                    i += 1
                if i >= len(blocks) or not _is_textual(blocks[i]) or is_toolbar(blocks[i].text):
                    continue
                lines = [blocks[i].text]
                i += 1
            while (
                i < len(blocks)
                and _is_textual(blocks[i])
                and not blocks[i].gap_before
                and not ends_sentence(lines[-1])
                and len(blocks[i].text) <= CAPTION_LINE_MAX
                and not is_toolbar(blocks[i].text)
            ):
                lines.append(blocks[i].text)
                i += 1
            out.append(Block(CAPTION, " ".join(lines)))
            continue
        out.append(block)
        i += 1
    return out


def _drop_chrome(blocks: list[Block], site: TextRules) -> list[Block]:
    return [
        b
        for b in blocks
        if len(b.text) > CHROME_LINE_MAX
        or b.kind not in _TEXTUAL
        or not (is_chrome_line(b.text) or site.is_chrome_phrase(b.text))
    ]


def _split_tail(blocks: list[Block], site: TextRules) -> tuple[list[Block], str | None]:
    end = len(blocks)
    byline: str | None = None
    while end > 0:
        block = blocks[end - 1]
        if block.kind in (IMAGE, CAPTION):
            end -= 1
            continue
        if not _is_textual(block):
            break
        if is_chrome_line(block.text) or is_footer_line(block.text, site):
            end -= 1
            continue
        if block.kind is PARA and is_byline(block.text):
            byline = block.text
            end -= 1
        break
    if end == len(blocks):  # the usual page: nothing in the tail to drop
        return blocks, byline
    return blocks[:end] + [b for b in blocks[end:] if b.kind in (IMAGE, CAPTION)], byline


def _captions_after_images(blocks: list[Block], *, marked_only: bool = False) -> list[Block]:
    """A paragraph right after an image that is italic, or short and unpunctuated, is its
    caption. Only the blocks after images are looked at (most of a page is not).

    ``marked_only`` (markup no profile describes): only a paragraph the markup marks as a
    caption (``Block.emphasized``) is one; a short plain paragraph after an image is as often
    the next step of the text (tutorials, product lists) as its caption."""
    after = [i for i, b in enumerate(blocks[:-1], 1) if b.kind is IMAGE]
    if not after:
        return blocks
    out = list(blocks)
    for i in after:
        block = out[i]
        if block.kind is PARA and (
            block.emphasized
            or (
                not marked_only
                and not block.strong
                and len(block.text) <= CAPTION_AFTER_IMAGE_MAX
                and not ends_sentence(block.text)
            )
        ):
            out[i] = Block(CAPTION, block.text)
    return out


def _loose_caption_groups(blocks: list[Block]) -> list[Block]:
    """Dumps only: stand-alone groups of short unpunctuated lines are wrapped captions."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        j = i + 1
        while j < len(blocks) and blocks[j].kind is PARA and not blocks[j].gap_before:
            j += 1
        group = blocks[i:j]
        next_gap = j >= len(blocks) or blocks[j].gap_before
        if (
            blocks[i].kind is PARA
            and blocks[i].gap_before
            and next_gap
            and len(group) <= CAPTION_GROUP_MAX_LINES
            and all(
                b.kind is PARA
                and len(b.text) <= CAPTION_LINE_MAX
                and not ends_sentence(b.text)
                and not _is_heading_like(b.text)
                for b in group
            )
        ):
            out.append(Block(CAPTION, " ".join(b.text for b in group)))
        else:
            out.extend(group)
        i = j
    return out


def _may_hold_toolbar(text: str) -> bool:
    """Cheap pre-check: every toolbar spelling holds "ght" or "g h t" (from "right")."""
    # Every spelling needs an f (from "left"; IGNORECASE matches no other letter for f), which
    # Vietnamese never writes: two C scans rule most texts out before any encoding.
    if "f" not in text and "F" not in text:
        return False
    # The token is ASCII: lowering the UTF-8 bytes is ASCII-only and much cheaper than str.lower.
    lowered = text.encode("utf-8", "surrogatepass").lower()
    return b"ght" in lowered or b"g h t" in lowered


def scrub_toolbar(text: str) -> str:
    """Remove every toolbar token, however it was glued, until none is left (NFC kept)."""
    if not _may_hold_toolbar(text):
        return text
    while True:
        cleaned = _TOOLBAR_RE.sub(" ", text)
        cleaned = unicodedata.normalize("NFC", cleaned)
        if cleaned == text:
            return text
        text = cleaned


def apply_rules(
    blocks: Iterable[Block],
    *,
    title: str | None = None,
    dump: bool = False,
    marked_captions: bool = False,
    site: TextRules = NO_SITE_RULES,
) -> CleanResult:
    """Run the rules of the module docstring over ``blocks`` (page order); ``site``: the
    profile's masthead and chrome phrases (``SiteProfile.text``)."""
    items = [b for b in blocks if b.text or b.kind is IMAGE]
    title = collapse(title) if title else None
    items = _take_toolbar_captions(items)
    before = len(items)
    items = _drop_header(items, title, site)
    items = _drop_chrome(items, site)
    items, byline = _split_tail(items, site)
    chrome_dropped = before - len(items) - (1 if byline else 0)
    if dump:
        items = _loose_caption_groups(items)
    else:
        items = _captions_after_images(items, marked_only=marked_captions)
    return _assemble(items, byline, chrome_dropped=chrome_dropped)


def _assemble(
    items: Sequence[Block], byline: str | None, *, chrome_dropped: int = 0, scrub: bool = False
) -> CleanResult:
    paragraphs: list[str] = []
    captions: list[str] = []
    images: list[str] = []
    for block in items:
        kind = block.kind
        if kind in _TEXTUAL:  # the commonest block first
            text = block.text
            if scrub and (scrubbed := scrub_toolbar(text)) is not text:
                text = collapse(scrubbed)
            if text:
                paragraphs.append(text)
        elif kind is IMAGE:
            if block.src:
                images.append(block.src)
        elif kind is CAPTION:
            caption = unicodedata.normalize("NFC", collapse(scrub_toolbar(block.text)))
            if caption:
                captions.append(caption)
        else:
            text = scrub_toolbar(block.text) if scrub else block.text
            text = "\n".join(line for line in (collapse(x) for x in text.split("\n")) if line)
            if text:
                paragraphs.append(text)
    text = unicodedata.normalize("NFC", "\n\n".join(paragraphs))
    if not scrub and _may_hold_toolbar(text):  # rare: redo with the per-block scrub
        return _assemble(items, byline, chrome_dropped=chrome_dropped, scrub=True)
    return CleanResult(text, tuple(captions), byline, tuple(images), chrome_dropped)


def dump_blocks(text: str) -> list[Block]:
    """One block per non-blank line of a text dump, remembering blank lines before it."""
    blocks: list[Block] = []
    gap = True
    for raw in unicodedata.normalize("NFC", text.removeprefix("\ufeff")).splitlines():
        line = collapse(raw)
        if not line:
            gap = True
            continue
        blocks.append(Block(PARA, line, gap_before=gap))
        gap = False
    return blocks


def clean_text(text: str, site: TextRules = NO_SITE_RULES) -> CleanResult:
    """Clean a text dump (one paragraph or caption line per line, as the seeds are)."""
    return apply_rules(dump_blocks(text), dump=True, site=site)
