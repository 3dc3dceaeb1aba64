"""A streaming reader for `multipart/related` and `multipart/form-data` upload bodies.

Parts arrive in order as (headers, body stream); a part's body streams through in bounded memory
(never the whole upload in RAM), which is why this is not `python-multipart`'s buffered form API
nor `request.form()`. Header blocks are bounded too (`MAX_PART_HEADER_BYTES` per part,
`MAX_HEADER_BYTES` over all parts): a longer block is refused as soon as it is seen, never
buffered whole.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from sightd import errors

MAX_PART_HEADER_BYTES = 8 * 1024
"""Longest header block of one part (the bytes between its boundary line and the blank line)."""
MAX_HEADER_BYTES = 16 * 1024
"""Longest total of all parts' header blocks in one body."""
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_PARAM = re.compile(r';\s*([a-zA-Z*-]+)=(?:"([^"]*)"|([^;\s]*))')


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type."""
    found = _BOUNDARY.search(content_type)
    if not found:
        raise errors.InvalidArgument(
            "Multipart Content-Type has no boundary.", field="content-type"
        )
    return (found.group(1) or found.group(2)).encode("latin-1")


def disposition_params(value: str) -> dict[str, str]:
    """`form-data; name="file"; filename="a.png"` → {"name": "file", "filename": "a.png"}."""
    return {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(value)}


class MultipartReader:
    """Iterate `parts()`; read (or skip) each part's body before asking for the next."""

    def __init__(self, stream: AsyncIterable[bytes], boundary: bytes) -> None:
        self._it = stream.__aiter__()
        self._delim = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")  # so the first boundary looks like every other one
        self._eof = False
        self._header_bytes = 0  # header bytes of the parts read so far

    async def _fill(self) -> None:
        if self._eof:
            raise errors.InvalidArgument(
                "Multipart body ends before its closing boundary.", field="body"
            )
        try:
            self._buf += await anext(self._it)
        except StopAsyncIteration:
            self._eof = True

    async def _body(self) -> AsyncIterator[bytes]:
        """Bytes up to the next delimiter, which is consumed."""
        keep = len(self._delim) - 1
        while True:
            at = self._buf.find(self._delim)
            if at >= 0:
                if at:
                    yield bytes(self._buf[:at])
                del self._buf[: at + len(self._delim)]
                return
            if len(self._buf) > keep:
                out = bytes(self._buf[:-keep])
                del self._buf[:-keep]
                yield out
            await self._fill()

    async def _headers(self) -> dict[str, str] | None:
        """Headers of the next part, or None after the closing delimiter."""
        while len(self._buf) < 2:
            await self._fill()
        if self._buf[:2] == b"--":
            return None
        limit = min(MAX_PART_HEADER_BYTES, MAX_HEADER_BYTES - self._header_bytes)
        while (end := self._buf.find(b"\r\n\r\n", 0, limit + 4)) < 0:
            if len(self._buf) >= limit + 4:
                raise _headers_too_long()
            await self._fill()
        self._header_bytes += end
        block = bytes(self._buf[:end]).decode("utf-8", "replace")
        del self._buf[: end + 4]
        headers: dict[str, str] = {}
        for line in block.split("\r\n")[1:]:  # the first line ends the boundary line
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return headers

    async def parts(self) -> AsyncIterator[tuple[dict[str, str], AsyncIterator[bytes]]]:
        """(headers with lowercase names, body stream) per part, in order."""
        async for _ in self._body():  # preamble
            pass
        while (headers := await self._headers()) is not None:
            body = self._body()
            yield headers, body
            async for _ in body:  # whatever the consumer left unread
                pass


def _headers_too_long() -> errors.InvalidArgument:
    return errors.InvalidArgument(
        f"Multipart part headers are too long: at most {MAX_PART_HEADER_BYTES} bytes per part "
        f"and {MAX_HEADER_BYTES} bytes in all."
    )


async def read_limited(body: AsyncIterable[bytes], limit: int, what: str) -> bytes:
    """A small part read whole, refusing more than `limit` bytes."""
    out = bytearray()
    async for piece in body:
        out += piece
        if len(out) > limit:
            raise errors.InvalidArgument(f"{what} is larger than {limit} bytes.")
    return bytes(out)
