"""JSON responses with the content type the interactions client insists on."""

from __future__ import annotations

import json as _json
from typing import Any

from fastapi.responses import Response

JSON_MEDIA_TYPE = "application/json; charset=UTF-8"


def json_response(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=200,
        media_type=JSON_MEDIA_TYPE,
        headers=headers,
    )


def sse_event(body: Any) -> bytes:
    """One SSE event: a single `data: ` line of compact JSON and a blank line (wire §5)."""
    return (
        b"data: "
        + _json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\r\n\r\n"
    )
