"""An `UpstreamClient` whose server is a function (httpx's MockTransport): the openai engine's
unit tests answer its requests in-process."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sightd.engine.openai.client import UpstreamClient

BASE_URL = "http://upstream.test/v1"


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> UpstreamClient:
    return UpstreamClient(
        BASE_URL,
        api_key=None,
        timeout_s=5,
        connect_timeout_s=1,
        max_connections=2,
        transport=httpx.MockTransport(handler),
    )
