"""Reading request bodies with a size cap, so an oversized request is refused while it
streams in rather than after it has filled memory."""

from __future__ import annotations

from fastapi import Request

from sightd import errors


async def read_capped(request: Request, limit_bytes: int) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it passes `limit_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes:
        raise _too_large(int(declared), limit_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise _too_large(size, limit_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"Request payload size exceeds the limit: {limit} bytes (got at least {size}). "
        "Upload large media with the Files API and refer to it by URI."
    )
