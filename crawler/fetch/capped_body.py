"""Reading a response body under a size cap that holds on the decompressed bytes.

httpx's own decoders inflate each network chunk in one call, so 64 KiB of a gzip bomb can
become 64 MB in memory before anyone counts it. We read the raw stream and inflate it with
``zlib``'s ``max_length`` in small steps instead, counting as we go: memory stays within the cap
plus one step, whatever the compression ratio. Encodings we do not inflate ourselves (we only
ask for gzip and deflate) fall back to httpx's decoded stream, still counted against the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

from vksnd.crawler.fetch.errors import RetryableFetchError, TooLarge

STEP_BYTES = 64 * 1024  # largest piece inflated at once
_GZIP = frozenset({"gzip", "x-gzip"})
_DEFLATE = frozenset({"deflate"})
_IDENTITY = frozenset({"", "identity"})


class BoundedInflater:
    """Inflates gzip or deflate (zlib-wrapped or raw) in pieces of at most ``STEP_BYTES``."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # 16 + MAX_WBITS: gzip only; deflate starts as zlib-wrapped and falls back to raw.
        self._wbits = 16 + zlib.MAX_WBITS if encoding in _GZIP else zlib.MAX_WBITS
        self._inflater = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflater.eof:
            return  # trailing bytes after the stream end are ignored, like browsers do
        if not self._started and self.encoding in _DEFLATE and data:
            self._started = True
            probe = zlib.decompressobj(zlib.MAX_WBITS)
            try:
                probe.decompress(data[:2])
            except zlib.error:
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        pending = data
        while True:
            piece = self._inflater.decompress(pending, STEP_BYTES)
            pending = self._inflater.unconsumed_tail
            if piece:
                yield piece
            if self._inflater.eof or (not pending and len(piece) < STEP_BYTES):
                return

    def finished(self) -> bool:
        return self._inflater.eof


async def read_capped(response: httpx.Response, url: str, limit: int) -> bytes:
    """The decoded body, or ``TooLarge`` as soon as it would pass ``limit`` bytes."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    body = bytearray()

    def add(piece: bytes) -> None:
        if len(body) + len(piece) > limit:
            raise TooLarge(url, limit, status=response.status_code)
        body.extend(piece)

    if encoding in _IDENTITY:
        async for chunk in response.aiter_raw():
            add(chunk)
    elif encoding in _GZIP or encoding in _DEFLATE:
        inflater = BoundedInflater(encoding)
        received = 0
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                for piece in inflater.feed(chunk):
                    add(piece)
        except zlib.error as error:
            raise RetryableFetchError(
                url, f"undecodable {encoding} body ({error})", status=response.status_code
            ) from error
        if received and not inflater.finished():
            raise RetryableFetchError(
                url, f"truncated {encoding} body", status=response.status_code
            )
    else:
        async for chunk in response.aiter_bytes():
            add(chunk)
    return bytes(body)
