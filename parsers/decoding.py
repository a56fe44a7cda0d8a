"""Page bytes → NFC text, whatever the charset story.

Vietnamese pages arrive as UTF-8, as UTF-8 in NFD (base letter + combining tone mark), or as
windows-1258, whose precomposed repertoire is so small that tone marks travel as combining
characters. The charset is taken from, in order: the HTTP ``Content-Type`` charset, a byte-order
mark, a ``<meta charset>`` / ``http-equiv`` declaration in the first bytes (unless it names a
legacy charset while the bytes are valid, non-ASCII UTF-8: a migrated CMS that kept its old meta,
where the bytes are the better witness); undeclared bytes that are valid UTF-8 are UTF-8,
anything else is read as windows-1258 (the legacy Vietnamese code page, which also covers the
Latin-1 letters of Western text). Decoding never raises:
undecodable bytes become U+FFFD. The result is NFC so every later rule sees one spelling.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata

FALLBACK_ENCODING = "cp1258"
META_SCAN_BYTES = 4096

_CT_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"<meta[^>]{0,400}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels browsers treat as another encoding (WHATWG): Latin-1 declarations mean windows-1252.
_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "x-user-defined": "cp1252",
}
_TEXT_CODECS_BLOCKLIST = {
    "base64",
    "rot13",
    "hex",
    "zlib",
    "bz2",
    "quopri",
    "uu",
    "idna",
    "punycode",
    "undefined",
    "rot-13",
    "base64_codec",
    "hex_codec",
}


def _codec(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when the label is unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _TEXT_CODECS_BLOCKLIST or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


@functools.lru_cache(maxsize=64)  # a server sends a handful of distinct Content-Types
def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CT_CHARSET_RE.search(content_type)
    return _codec(match.group(1)) if match else None


def sniff_encoding(body: bytes, content_type: str | None = None) -> str:
    """The codec to read ``body`` with (see the module docstring for the order)."""
    declared = charset_from_content_type(content_type)
    if declared:
        return declared
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    match = _META_CHARSET_RE.search(body, 0, META_SCAN_BYTES)
    if match:
        meta = _codec(match.group(1).decode("ascii", "replace"))
        # A page cannot declare itself UTF-16 in ASCII-compatible bytes (WHATWG rule).
        if meta and not meta.startswith("utf-16"):
            if meta != "utf-8" and not body.isascii() and _is_utf8(body):
                return "utf-8"  # a CMS migrated to UTF-8 but kept the old meta: bytes win
            return meta
    return "utf-8" if _is_utf8(body) else FALLBACK_ENCODING


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_body(body: bytes, content_type: str | None = None) -> str:
    """Decoded, BOM-less, NFC text of ``body``; never raises on bad bytes."""
    encoding = sniff_encoding(body, content_type)
    try:
        text = body.decode(encoding, errors="replace")
    except (LookupError, ValueError):  # a codec refusing its own input: fall back
        text = body.decode(FALLBACK_ENCODING, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\x00", "\ufffd")
    # normalize() returns its input at once when the quick check says NFC; is_normalized()
    # first would only repeat the full pass on the texts the quick check cannot clear.
    return unicodedata.normalize("NFC", text)


def html_for_parser(body: bytes, content_type: str | None = None) -> str | bytes:
    """What to hand lexbor: the body bytes themselves when they already are clean UTF-8 in NFC
    (lexbor reads bytes as UTF-8, and skipping a str round trip is the cheapest parse), else
    the decoded NFC text."""
    encoding = sniff_encoding(body, content_type)
    if encoding == "utf-8":
        raw = body[len(codecs.BOM_UTF8) :] if body.startswith(codecs.BOM_UTF8) else body
        # No combining marks (U+0300–U+036F start with \xcc or \xcd): precomposed text is NFC
        # but for rare singletons, which the parser's final NFC pass still catches. lexbor
        # decodes the bytes itself, invalid sequences included.
        if raw.isascii():
            return raw.replace(b"\x00", b"\xef\xbf\xbd")
        if b"\xcc" not in raw and b"\xcd" not in raw and b"\x00" not in raw:
            return raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return decode_body(body, content_type)
        if "\x00" not in text:
            # Decoded once and normalized once (decode_body would do both again): the bytes
            # when they were NFC already, else the NFC text.
            normalized = unicodedata.normalize("NFC", text)
            return raw if normalized == text else normalized
    return decode_body(body, content_type)
