"""Cancelling a call to the upstream (its client hung up) closes the upstream connection at once,
so the upstream server can stop generating (issue 9, "Abandoned requests")."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

from sightd.engine.openai.client import UpstreamClient


def test_cancelled_request_closes_the_upstream_connection() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    closed_after_s: list[float] = []
    received = threading.Event()

    def upstream() -> None:  # reads the request, never answers, times how long until EOF
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            received.set()
            started = time.monotonic()
            while conn.recv(65536):
                pass
            closed_after_s.append(time.monotonic() - started)

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()

    async def scenario() -> None:
        client = UpstreamClient(
            f"http://127.0.0.1:{port}/v1",
            api_key="k",
            timeout_s=30,
            connect_timeout_s=1,
            max_connections=4,
        )
        call = asyncio.create_task(client.post_json("/chat/completions", {"stream": False}))
        await asyncio.to_thread(received.wait, 5)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.to_thread(thread.join, 5)
        await client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        listener.close()
    assert closed_after_s and closed_after_s[0] < 1.0
