"""Content hash of an article's clean text, blind to spelling variants that change nothing.

Vietnamese has two accepted places for the tone mark in the open syllables ``oa``, ``oe`` and
``uy``: ``hòa``/``hoà``, ``khỏe``/``khoẻ``, ``thúy``/``thuý``. Editors, CMS filters and copy/paste
flip between them, so the same article can arrive in either spelling (or both). The hash must not
see a new version there, so ``canonical_form`` folds every such pair to the tone-on-the-first-vowel
spelling (capitals included). It also applies NFC and collapses all whitespace, paragraph breaks
included: re-wrapping a text is not an edit either. ``text`` itself keeps the source spelling;
only the hash input is folded.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from vksnd.parsers.blocks import collapse

# OpenSSL 3 looks the digest up again on every ``hashlib.sha256()`` (a provider fetch, the
# dearest part of hashing a short text); copying a ready context skips it.
_SHA256 = hashlib.sha256()

_TONES = ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323")  # huyền sắc hỏi ngã nặng
_PAIRS = (("o", "a"), ("o", "e"), ("u", "y"))


def _build_folds() -> dict[str, str]:
    folds: dict[str, str] = {}
    for first, second in _PAIRS:
        for f in (first, first.upper()):
            for s in (second, second.upper()):
                for tone in _TONES:
                    tone_on_second = f + unicodedata.normalize("NFC", s + tone)
                    tone_on_first = unicodedata.normalize("NFC", f + tone) + s
                    folds[tone_on_second] = tone_on_first
    return folds


_FOLDS = _build_folds()
# Only an open syllable can be spelled both ways (``hoà``/``hòa``; ``hoàn`` has one spelling),
# so only a pair that ends a word is folded (the look-ahead), which keeps the replacements few.
# One pattern per first letter: a literal first character lets the regex engine skip ahead
# with a fast character scan, where a leading character class costs a test per character.
# Each pattern's class holds only the second letters that fold after its first letter (``u``
# takes a toned ``y``, not the common ``uả`` of ``quả``, which would only be matched and put
# back). The pairs cannot overlap (no second letter is a first letter) and a swap keeps
# letters letters, so the four passes give what one ``[oOuU][...]`` pass would.
_FOLD_RES = tuple(
    (
        first,
        re.compile(
            f"{first}[{''.join(sorted({k[1] for k in _FOLDS if k[0] == first}))}]" + r"(?![^\W\d_])"
        ),
    )
    for first in sorted({k[0] for k in _FOLDS})
)


# A paragraph break ("\n\n") or a line break: one regex pass, whose literal first byte is
# found by a fast scan. ``bytes.replace(b"\n\n", ...)`` costs three times as much here: a
# two-byte needle lets its search skip at most a few bytes at a time. Runs of newlines pair
# up from the left, as two chained replaces would pair them.
_BREAK_RE = re.compile(b"\n\n?")


def _fold(match: re.Match[str]) -> str:
    pair = match.group(0)
    return _FOLDS.get(pair, pair)


def fold_tone_placement(text: str) -> str:
    """``hoà`` → ``hòa``, ``thuý`` → ``thúy``, ``KHOẺ`` → ``KHỎE`` (word-final pairs); NFC input."""
    for first, pattern in _FOLD_RES:
        if first in text:
            text = pattern.sub(_fold, text)
    return text


def canonical_form(text: str) -> str:
    """The hash input: NFC, whitespace collapsed to single spaces, tone placement folded."""
    nfc = unicodedata.normalize("NFC", text)
    return fold_tone_placement(collapse(nfc))


def content_hash(text: str, *, lines_collapsed: bool = False) -> str:
    """sha256 hex of ``canonical_form(text)``.

    ``lines_collapsed=True`` is the parser's shortcut for its own output, whose lines are
    already NFC and whitespace-collapsed and only joined by newlines: joining them with spaces
    gives the same canonical form without another whitespace pass (tests pin the equality).
    """
    if lines_collapsed:
        # Paragraphs are joined by "\n\n" and list/table lines by "\n", with no other empty
        # line: folding sees a newline as the non-letter a space is, so the text is folded
        # as it stands and each paragraph or line break becomes one space in the UTF-8 bytes.
        data = fold_tone_placement(text).encode("utf-8")
        if b"\n" in data:
            data = _BREAK_RE.sub(b" ", data)
    else:
        data = canonical_form(text).encode("utf-8")
    digest = _SHA256.copy()
    digest.update(data)
    return digest.hexdigest()
