"""Slow media URLs (issue 9): a drip-feeding server is cut at the fetch deadline with a clear
DEADLINE_EXCEEDED naming the part, while a dozen such fetches leave the rest of the server
(`files.list`) responsive; fetches past the per-key or server-wide cap are refused at once."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.drip_server import drip_server
from tests.live import LiveServer

DEADLINE_S = 2.0
SLOW_FETCHES = 12


def _body(uri: str) -> dict[str, Any]:
    return {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"fileData": {"fileUri": uri, "mimeType": "video/mp4"}},
                    {"text": "Describe."},
                ],
            }
        ]
    }


def _generate(server: LiveServer, uri: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/v1beta/models/gemini-2.5-flash:generateContent",
        json=_body(uri),
        timeout=30,
    )
    return response, time.monotonic() - started


def test_slow_urls_fail_at_deadline_and_do_not_starve_the_server(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(
        url_allowlist="127.0.0.1/32",
        url_timeout_s=DEADLINE_S,
        url_fetch_concurrency=SLOW_FETCHES,
        url_fetch_per_key=SLOW_FETCHES,
    )
    latencies_s: list[float] = []
    done, ready = threading.Event(), threading.Event()

    def list_files() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.get("/v1beta/files")  # warm-up (connection, first query): not timed
            ready.set()
            while not done.is_set():
                started = time.monotonic()
                assert client.get("/v1beta/files").status_code == 200
                latencies_s.append(time.monotonic() - started)
                time.sleep(0.05)

    with drip_server(interval_s=0.1, for_s=3 * DEADLINE_S + 2) as drip:
        uris = [drip.url("/headers" if i % 2 else "/body") for i in range(SLOW_FETCHES)]
        lister = threading.Thread(target=list_files)
        lister.start()
        assert ready.wait(30), "files.list never answered"
        try:
            with ThreadPoolExecutor(SLOW_FETCHES) as pool:
                results = list(pool.map(lambda uri: _generate(server, uri), uris))
        finally:
            done.set()
            lister.join()

    for response, took_s in results:
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert error["status"] == "DEADLINE_EXCEEDED"
        assert f"took longer than {DEADLINE_S:g} s" in error["message"]
        assert "fileData" in response.text or "file_data" in response.text  # names the part
        assert took_s < DEADLINE_S + 1.5, f"a slow fetch held its request {took_s:.1f} s"
    assert latencies_s, "files.list never answered"
    # Starved, files.list waited for the fetches to end (4.4 s before the fix); what remains
    # is two cores shared with 12 fetch threads and the drip server: bounded well below that.
    assert max(latencies_s) < DEADLINE_S, f"files.list took up to {max(latencies_s):.2f} s"
    assert statistics.median(latencies_s) < 0.25, latencies_s


@pytest.mark.parametrize(
    ("caps", "status", "code"),
    [
        ({"url_fetch_per_key": 2, "url_fetch_concurrency": 8}, "RESOURCE_EXHAUSTED", 429),
        ({"url_fetch_per_key": 8, "url_fetch_concurrency": 2}, "UNAVAILABLE", 503),
    ],
    ids=["per-key", "server-wide"],
)
def test_fetches_past_the_cap_are_refused(
    make_server: Callable[..., LiveServer], caps: dict[str, int], status: str, code: int
) -> None:
    server = make_server(url_allowlist="127.0.0.1/32", url_timeout_s=DEADLINE_S, **caps)
    with drip_server(interval_s=0.1, for_s=3 * DEADLINE_S) as drip, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _generate(server, drip.url("/headers")), range(4)))
    codes = sorted(response.status_code for response, _ in results)
    assert codes == sorted([504, 504, code, code]), [r.text for r, _ in results]
    refused = [r for r, took_s in results if r.status_code == code and took_s < 1.0]
    assert len(refused) == 2 and all(r.json()["error"]["status"] == status for r in refused)
    assert all(r.headers.get("retry-after") for r in refused)
