"""The raw page archive's encoding: compressed bodies and JSON headers.

Bodies are kept so a better parser can re-extract every page without refetching (``vksnd
reparse``). The format is zlib (any zlib reads it back); pages are compressed on the write path
of every fetch, so the fastest compressor wins: ISA-L's zlib-compatible ``isal_zlib`` at level 1
compresses a 30 KB portal page about 4x in ~60 us, five times faster than stdlib ``zlib`` at its
fastest level for the same size. Without ``isal`` installed, stdlib ``zlib`` writes the same
format. The codec is stored per row, so the choice can change later without rewriting rows.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from vksnd.storage.records import RawPage

DEFAULT_COMPRESSION_LEVEL = 1


def _fastest_deflate() -> Callable[[bytes, int], bytes]:
    try:
        from isal import isal_zlib
    except ImportError:  # stdlib zlib: same format, ~5x slower
        return zlib.compress

    def compress(data: bytes, level: int) -> bytes:
        # ISA-L levels are 0-3; 1 is its fast default. Higher zlib levels map to its best.
        return isal_zlib.compress(data, min(level, isal_zlib.ISAL_BEST_COMPRESSION))

    return compress


_deflate = _fastest_deflate()

CODEC_ZLIB = "zlib"
CODEC_IDENTITY = "identity"


@dataclass(frozen=True, slots=True)
class EncodedPage:
    """A ``RawPage`` ready for its ``pages`` row."""

    codec: str
    body: bytes
    body_size: int
    body_sha256: str
    headers_json: str


def encode_headers(headers: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([[name, value] for name, value in headers], ensure_ascii=False)


def decode_headers(value: str) -> tuple[tuple[str, str], ...]:
    loaded = json.loads(value)
    if not isinstance(loaded, list):
        raise ValueError("headers: expected a JSON list of [name, value] pairs")
    pairs: list[tuple[str, str]] = []
    for item in loaded:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)
        ):
            raise ValueError(f"headers: bad pair {item!r}")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def encode_page(raw: RawPage, level: int = DEFAULT_COMPRESSION_LEVEL) -> EncodedPage:
    """Compress the body (``level`` 0 stores it as is) and hash the original bytes."""
    body = raw.body
    if level > 0:
        codec, stored = CODEC_ZLIB, _deflate(body, level)
    else:
        codec, stored = CODEC_IDENTITY, body
    return EncodedPage(
        codec=codec,
        body=stored,
        body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        headers_json=encode_headers(raw.headers),
    )


def decode_body(codec: str, stored: bytes) -> bytes:
    if codec == CODEC_ZLIB:
        return zlib.decompress(stored)
    if codec == CODEC_IDENTITY:
        return stored
    raise ValueError(f"unknown archive codec {codec!r}")
