"""Reading request bodies: a size cap, so an oversized request is refused while it streams in
rather than after it has filled memory, and a nesting cap checked on the raw bytes, so a deeply
nested document is refused before any recursive parser (json, pydantic, json.dumps) sees it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from fastapi import Request

from sightd import errors

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have (a response schema 30
properties deep still fits)."""

# A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


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


async def idle_bounded(stream: AsyncIterable[bytes], idle_s: float) -> AsyncIterator[bytes]:
    """`stream`'s pieces, or DeadlineExceeded once no piece arrives for `idle_s` seconds (a
    client that sends part of a body and stalls no longer holds what the body was feeding)."""
    it = stream.__aiter__()
    while True:
        try:
            piece = await asyncio.wait_for(anext(it), idle_s)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            raise errors.DeadlineExceeded(
                f"No request body bytes arrived for {idle_s:g} s; the upload was dropped. "
                "Query the upload's offset and resume from there."
            ) from exc
        yield piece


def _too_large(size: int, limit: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"Request payload size exceeds the limit: {limit} bytes (got at least {size}). "
        "Upload large media with the Files API and refer to it by URI.",
        field="body",
    )


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw` nests arrays/objects deeper than `limit`, read without recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case, at C speed
    depth = 0
    for match in _TOKENS.finditer(raw):
        first = match.group()[0]
        if first in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif first in b"]}":
            depth -= 1
    return False


def check_json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """InvalidArgument (about the whole body) when `raw` nests deeper than `limit`."""
    if json_depth_exceeds(raw, limit):
        raise errors.InvalidArgument(
            f"Invalid JSON payload received. Arrays and objects nest deeper than {limit} levels.",
            field="",
        )


def parse_json_body(raw: bytes) -> Any:
    """Strict JSON, with the error a Gemini client expects on garbage; `{}` for no body."""
    if not raw.strip():
        return {}
    check_json_depth(raw)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise errors.InvalidArgument(f"Invalid JSON payload received. {exc}", field="") from exc
