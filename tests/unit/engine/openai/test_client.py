"""Every upstream failure becomes a Gemini error at the client boundary (a transport stub
stands in for the network here; tests/engines runs the real servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sightd import errors
from sightd.engine.openai.client import UpstreamClient, status_error


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (429, '{"error": {"message": "queue full"}}', errors.ResourceExhausted, "queue full"),
        (400, '{"error": {"message": "bad image"}}', errors.InvalidArgument, "bad image"),
        (422, '{"detail": [{"msg": "field required"}]}', errors.InvalidArgument, "field required"),
        (404, '{"error": "model x not found"}', errors.InvalidArgument, "model x not found"),
        (401, "no", errors.Unavailable, "--upstream-api-key"),
        (500, "<html>boom</html>", errors.Unavailable, "boom"),
        (503, '{"error": {"message": "loading"}}', errors.Unavailable, "loading"),
    ],
)
def test_status_mapping(status: int, body: str, kind: type[errors.SightdError], words: str) -> None:
    err = status_error(status, body, httpx.Headers({"retry-after": "7"}))
    assert type(err) is kind and words in err.message
    if status == 429:
        assert err.retry_after_s == 7.0


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> UpstreamClient:
    return UpstreamClient(
        "http://upstream.test/v1",
        api_key="k",
        timeout_s=5,
        connect_timeout_s=1,
        max_connections=4,
        transport=httpx.MockTransport(handler),
    )


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("refused"), errors.Unavailable),
        (httpx.ReadTimeout("slow"), errors.DeadlineExceeded),
        (httpx.RemoteProtocolError("reset"), errors.Unavailable),
    ],
)
def test_transport_mapping(exc: Exception, kind: type[errors.SightdError]) -> None:
    client = _client(_raise(exc))
    with pytest.raises(kind):
        asyncio.run(client.post_json("/chat/completions", {}))


def test_sse_payloads_and_in_band_errors() -> None:
    events = (
        b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'
        b": keep-alive\n\n"
        b'data: {"error": {"code": 503, "message": "engine died"}}\n\n'
    )
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(200, content=events, headers={"content-type": "text/event-stream"})

    async def read() -> None:
        async with _client(handler).events("/chat/completions", {}) as payloads:
            async for payload in payloads:
                seen.append(payload)

    with pytest.raises(errors.Unavailable, match="engine died"):
        asyncio.run(read())
    assert seen == [{"choices": [{"delta": {"content": "Hi"}}]}]


def test_not_json_is_unavailable() -> None:
    client = _client(lambda r: httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(errors.Unavailable, match="not JSON"):
        asyncio.run(client.post_json("/chat/completions", {}))
