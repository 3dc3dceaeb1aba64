"""One pooled async HTTP client to the upstream server, and every upstream failure mapped to the
Gemini envelope at this boundary:

    429                         → RESOURCE_EXHAUSTED (its Retry-After kept)
    400/404/413/422             → INVALID_ARGUMENT saying what the upstream refused
    401/403                     → UNAVAILABLE (sightd is misconfigured, not the client)
    other 4xx, 5xx, refused,
    reset, bad answers          → UNAVAILABLE
    time-outs                   → DEADLINE_EXCEEDED

Streams are read as server-sent events (`data: {...}` lines, `data: [DONE]`); leaving the
`async with` closes the connection, which is how a server learns the client went away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from sightd import errors

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


def _upstream_message(body: str) -> str:
    """The human part of an upstream error body (OpenAI's `{"error": {"message"}}` and kin)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:MAX_ERROR_CHARS]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(err.get(key), str):
                    return str(err[key])[:MAX_ERROR_CHARS]
        elif isinstance(err, str):
            return err[:MAX_ERROR_CHARS]
        detail = data.get("detail")
        if detail is not None:
            return json.dumps(detail)[:MAX_ERROR_CHARS]
    return body.strip()[:MAX_ERROR_CHARS]


def status_error(
    status: int, body: str, headers: httpx.Headers | None = None
) -> errors.SightdError:
    """The sightd error for an upstream HTTP error answer."""
    why = _upstream_message(body) or f"HTTP {status}"
    if status == 429:
        retry = _retry_after(headers)
        return errors.ResourceExhausted(
            f"The model server is overloaded: {why}", retry_after_s=retry or 5.0
        )
    if status in (400, 404, 413, 422):
        return errors.InvalidArgument(f"The model server refused the request: {why}")
    if status in (401, 403):
        return errors.Unavailable(
            f"The model server refused sightd's credentials (HTTP {status}); check "
            "--upstream-api-key.",
            reason="UPSTREAM_AUTH",
        )
    return errors.Unavailable(
        f"The model server failed (HTTP {status}): {why}", retry_after_s=5.0, reason="UPSTREAM"
    )


def _retry_after(headers: httpx.Headers | None) -> float | None:
    if headers is None:
        return None
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None


def transport_error(exc: httpx.HTTPError) -> errors.SightdError:
    """The sightd error for a failure below HTTP (refused, reset, timed out)."""
    if isinstance(exc, httpx.TimeoutException):
        return errors.DeadlineExceeded(
            f"The model server did not answer in time ({type(exc).__name__})."
        )
    return errors.Unavailable(
        f"The model server is unreachable: {type(exc).__name__}: {exc}".rstrip(": "),
        retry_after_s=5.0,
        reason="UPSTREAM_UNREACHABLE",
    )


class UpstreamClient:
    """POSTs JSON and reads answers or event streams; raises only `SightdError`s."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            trust_env=False,  # the upstream is named explicitly; no proxies from the env
        )

    async def get_json(
        self, path: str, timeout_s: float | None = None
    ) -> tuple[Any, httpx.Headers]:
        try:
            response = await self._http.get(path, timeout=timeout_s or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as e:
            raise transport_error(e) from e
        if response.status_code >= 400:
            raise status_error(response.status_code, response.text, response.headers)
        return _json(response.text), response.headers

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = await self._http.post(path, json=body)
        except httpx.HTTPError as e:
            raise transport_error(e) from e
        if response.status_code >= 400:
            raise status_error(response.status_code, response.text, response.headers)
        return _json(response.text)

    @asynccontextmanager
    async def events(self, path: str, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[Any]]:
        """The JSON payloads of a server-sent event stream; the connection closes on exit."""
        try:
            async with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    text = (await response.aread()).decode("utf-8", "replace")
                    raise status_error(response.status_code, text, response.headers)
                yield _payloads(response)
        except httpx.HTTPError as e:
            raise transport_error(e) from e

    async def aclose(self) -> None:
        await self._http.aclose()


async def _payloads(response: httpx.Response) -> AsyncIterator[Any]:
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, keep-alives
            data = line[5:].strip()
            if data == "[DONE]":
                return
            if data:
                payload = _json(data)
                if isinstance(payload, dict) and "error" in payload:
                    err = payload["error"]
                    raise status_error(
                        int(err.get("code") or 500) if isinstance(err, dict) else 500, data
                    )
                yield payload
    except httpx.HTTPError as e:
        raise transport_error(e) from e


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise errors.Unavailable(
            f"The model server sent an answer that is not JSON: {text[:200]!r}", reason="UPSTREAM"
        ) from e
