"""The capped inflater's one call per chunk (issue 17, target 1) gives what ``zlib`` gives for
the whole body, split anywhere, and says "over" exactly when the body passes the cap.

Pure: no HTTP here (``tests/integration/test_fetch.py`` reads gzip bombs over a real socket).
"""

from __future__ import annotations

import itertools
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from vksnd.crawler.fetch.capped_body import BoundedInflater


def _pack(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    elif encoding == "deflate":  # zlib-wrapped, as RFC 9110 means it
        packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS)
    else:  # raw deflate, as old IIS sends under "deflate"
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(body) + packer.flush()


def _read(wire: bytes, encoding: str, cuts: list[int], limit: int) -> bytes | None:
    """What ``read_capped`` does with the chunks: the body, or None for "too large"."""
    inflater = BoundedInflater("deflate" if encoding == "raw" else encoding)
    body = bytearray()
    # The first chunk holds at least 2 bytes: "deflate" is told zlib-wrapped from raw by its
    # first two (as before this fast path; a network read is never that short).
    bounds = sorted({0, len(wire), *(max(2, c % (len(wire) + 1)) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        piece = inflater.inflate(wire[start:end], limit - len(body))
        if len(body) + len(piece) > limit:
            return None
        body.extend(piece)
    assert inflater.finished()
    return bytes(body)


bodies = st.one_of(
    st.binary(max_size=3000),
    st.integers(0, 400_000).map(lambda n: b"<p>xin ch\xc3\xa0o</p>\n" * (n // 20)),
)


@settings(max_examples=300, deadline=None)
@given(
    body=bodies,
    encoding=st.sampled_from(["gzip", "deflate", "raw"]),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=6),
    slack=st.integers(-50, 50),
)
def test_inflates_like_zlib_and_stops_past_the_cap(
    body: bytes, encoding: str, cuts: list[int], slack: int
) -> None:
    wire = _pack(body, encoding)
    limit = max(0, len(body) + slack)
    got = _read(wire, encoding, cuts, limit)
    if len(body) > limit:
        assert got is None
    else:
        assert got == body


def test_a_bomb_never_inflates_past_the_room_plus_one() -> None:
    wire = _pack(b"\0" * (64 << 20), "gzip")
    inflater = BoundedInflater("gzip")
    piece = inflater.inflate(wire, 1000)
    assert len(piece) == 1001


def test_bytes_after_the_end_of_the_stream_are_ignored() -> None:
    inflater = BoundedInflater("gzip")
    assert inflater.inflate(_pack(b"abc", "gzip"), 100) == b"abc"
    assert inflater.inflate(b"trailing junk", 100) == b""
