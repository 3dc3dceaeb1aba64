"""The one place errors become the Gemini envelope `{"error": {code, message, status, details}}`.

Routes never hand-write error JSON: they raise `SightdError`s (or let FastAPI's own validation
and routing errors happen) and the handlers installed here translate them, with the matching
HTTP status, a `Retry-After` header for 429/503 that carry a delay, and a JSON content type.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sightd import errors

log = logging.getLogger("sightd.api")

JSON_MEDIA_TYPE = "application/json; charset=UTF-8"

_STATUS_BY_HTTP = {
    400: errors.InvalidArgument,
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    405: errors.NotFound,
    409: errors.Aborted,
    413: errors.PayloadTooLarge,
    429: errors.ResourceExhausted,
    499: errors.Cancelled,
    501: errors.Unimplemented,
    503: errors.Unavailable,
    504: errors.DeadlineExceeded,
}


def error_body(exc: errors.SightdError) -> dict[str, Any]:
    """The envelope for `exc`: integer `code` (the SDKs crash on a missing one), status, details."""
    body: dict[str, Any] = {
        "code": exc.http_code,
        "message": exc.message,
        "status": exc.status,
    }
    details = exc.details()
    if details:
        body["details"] = details
    return {"error": body}


def error_response(exc: errors.SightdError, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSONResponse carrying `exc`'s envelope and HTTP status."""
    all_headers = dict(headers or {})
    if exc.retry_after_s is not None:
        all_headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    return JSONResponse(
        error_body(exc), status_code=exc.http_code, headers=all_headers, media_type=JSON_MEDIA_TYPE
    )


def from_http_status(code: int, message: str) -> errors.SightdError:
    """Map a bare HTTP status (FastAPI routing, Starlette) to the matching error class."""
    cls = _STATUS_BY_HTTP.get(code, errors.Internal)
    return cls(message)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    msg = first.get("msg", "invalid request")
    return (f"Invalid value at '{loc}': {msg}" if loc else msg), (loc or None)


def request_id_of(request: Request) -> str:
    """The id the access middleware gave this request ("-" without it)."""
    return str(request.scope.get("state", {}).get("request_id", "-"))


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through `error_response`."""

    @app.exception_handler(errors.SightdError)
    async def _sightd(req: Request, exc: errors.SightdError) -> JSONResponse:
        if exc.http_code >= 500:
            log.warning("%s: %s (request_id=%s)", exc.status, exc.message, request_id_of(req))
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = _validation_message(exc)
        return error_response(errors.InvalidArgument(message, field=field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "Not found: no such route"
        return error_response(from_http_status(exc.status_code, detail))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error (request_id=%s)", request_id_of(req))
        return error_response(errors.Internal(f"Internal error: {type(exc).__name__}"))
