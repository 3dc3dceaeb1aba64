"""The access middleware: a request id, one structured log line and the metrics of every request,
and the 503 for new generations while the server drains.

- Request id: an incoming `x-request-id` is kept when it is 1–128 characters of
  `[A-Za-z0-9._:-]` (other characters are dropped, the rest cut), else a fresh one is made; it is
  returned in the `x-request-id` response header, put on `request.state.request_id` (the error
  translator logs it) and on every access log line.
- Access log: logger `sightd.access`, one INFO line per request in logfmt (`method=POST
  route=/v1beta/models/{target}:generateContent status=200 duration_ms=12.3 bytes_in=…
  bytes_out=… request_id=… key=…`), the same fields also as the record's `extra`. `key` is a
  short hash of the caller's owner id (itself a one-way hash of the API key): requests by one key
  can be grouped, the key never appears.
- Route labels are templates, never raw paths (bounded metric cardinality).

A pure ASGI middleware (no BaseHTTPMiddleware), so streamed responses pass through untouched.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sightd import errors
from sightd.api.auth import ANONYMOUS, owner_of
from sightd.api.errors import error_response
from sightd.api.metrics import Metrics
from sightd.api.shutdown import Drain
from sightd.settings import Settings

access_log = logging.getLogger("sightd.access")

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_CHARS = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")
# Method suffixes of `/models/{target}:verb` kept in the route label; any other is `:other`.
_VERBS = frozenset(
    {"generateContent", "streamGenerateContent", "countTokens", "embedContent",
     "batchEmbedContents", "batchGenerateContent"}
)  # fmt: skip
_PROBES = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


def sanitize_request_id(raw: str | None) -> str:
    """The client's id with unsafe characters dropped and cut to 128, or a new uuid4 hex."""
    cleaned = _UNSAFE.sub("", raw or "")[:MAX_REQUEST_ID_CHARS]
    return cleaned or uuid.uuid4().hex


def is_generation(method: str, path: str) -> bool:
    """Requests that start a generation: generateContent, streamGenerateContent and
    interactions.create (countTokens and reads are not)."""
    if method != "POST":
        return False
    return path.endswith((":generateContent", ":streamGenerateContent", "/interactions"))


def route_label(scope: Scope) -> str:
    """The matched route's template (plus its `:verb`), or `unmatched`."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return "unmatched"
    path: str = scope.get("path", "")
    # FastAPI hands over the route as declared in its router (`/models/{target}`), without the
    # prefix it was included under (`/v1beta`, `/gemini/v1`): the prefix is what precedes the
    # leftmost part of the path the route's own pattern matches.
    regex = getattr(route, "path_regex", None)
    if regex is not None and not regex.match(path):
        for i, char in enumerate(path):
            if char == "/" and i and regex.match(path[i:]):
                template = path[:i] + template
                break
    last = path.rsplit("/", 1)[-1]
    if ":" in last and "{" in template.rsplit("/", 1)[-1]:  # `{target}` swallowed the `:verb`
        verb = last.rsplit(":", 1)[-1]
        template += ":" + (verb if verb in _VERBS else "other")
    return template


def _key_hash(scope: Scope, settings: Settings) -> str:
    if not settings.auth_enabled:
        return ANONYMOUS
    key: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"x-goog-api-key":
            key = value.decode("latin-1")
            break
    if key is None:
        for part in scope.get("query_string", b"").decode("latin-1").split("&"):
            if part.startswith("key="):
                key = part[4:]
                break
    if not key:
        return "-"
    return hashlib.sha256(owner_of(key.strip()).encode()).hexdigest()[:12]


class AccessMiddleware:
    """Request ids, access log, metrics, and drain refusals for every HTTP request."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, drain: Drain, settings: Settings) -> None:
        self.app = app
        self.metrics = metrics
        self.drain = drain
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = sanitize_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        probe = path in _PROBES  # probes and scrapes: tagged, never counted or logged
        generation = is_generation(method, path)
        started = time.perf_counter()
        status = 500
        bytes_in = 0
        bytes_out = 0

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        if probe:
            await self.app(scope, receive, tagging_send)
            return
        self.metrics.started(generation)
        try:
            if generation and self.drain.draining:
                self.metrics.refused_draining += 1
                refusal = error_response(
                    errors.Unavailable(
                        "The server is shutting down; retry the request (another replica "
                        "will take it).",
                        retry_after_s=1.0,
                        reason="SHUTTING_DOWN",
                    )
                )
                await refusal(scope, counting_receive, tagging_send)
            else:
                await self.app(scope, counting_receive, tagging_send)
        finally:
            duration_s = time.perf_counter() - started
            route = route_label(scope)
            self.metrics.finished(
                method=method,
                route=route,
                status=status,
                duration_s=duration_s,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                generation=generation,
            )
            fields: dict[str, Any] = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(duration_s * 1000, 1),
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
                "request_id": request_id,
                "key": _key_hash(scope, self.settings),
            }
            access_log.info(
                " ".join(f"{k}={v}" for k, v in fields.items()), extra={"access": fields}
            )
