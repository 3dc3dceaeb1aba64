"""Image bombs against a live `sightd serve` process (issue 9, "Memory"): every image format
sightd accepts, at 10,000 × 10,000 from a tiny file, sent inline and uploaded through the Files
API, two at once. The server process (a subprocess, so its memory is its own) must grow by less
than 400 MB at its peak, and each answer must be a 400 naming what was wrong or a correct result.

Growth is the peak resident size (`VmHWM`, reset before each case through `clear_refs`) over the
resident size after a warm-up request, so the model's first-inference allocations do not count.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from sightd.media.tokens import image_tokens
from tests.image_bombs import SIDE, all_bombs
from tests.media_factory import image_bytes
from tests.serve_process import ServeProcess

MB = 1_000_000
MAX_GROWTH_BYTES = 400 * MB
MODEL = "gemini-2.5-flash"
GENERATE = f"/v1beta/models/{MODEL}:generateContent"


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[ServeProcess]:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to measure the server's memory")
    live = ServeProcess(
        tmp_path,
        ready_path="/readyz",
        timeout_s=120,
        model=str(tiny_model_dir),
        torch_threads="1",
    )
    try:
        yield live
    finally:
        live.stop()


def _body(part: dict[str, Any]) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": "What is this?"}, part]}],
        "generationConfig": {"maxOutputTokens": 2, "temperature": 0},
    }


def _inline(client: httpx.Client, data: bytes, mime: str) -> httpx.Response:
    part = {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}
    return client.post(GENERATE, json=_body(part))


def _uploaded(client: httpx.Client, data: bytes, mime: str) -> httpx.Response:
    """Upload (raw protocol), wait for processing to end, then generate with the file."""
    created = client.post(
        "/upload/v1beta/files",
        headers={"X-Goog-Upload-Protocol": "raw", "Content-Type": mime},
        content=data,
    )
    assert created.status_code == 200, created.text
    file = created.json()["file"]
    deadline = time.monotonic() + 60
    while file["state"] == "PROCESSING" and time.monotonic() < deadline:
        time.sleep(0.1)
        file = client.get(f"/v1beta/{file['name']}").json()
    assert file["state"] in ("ACTIVE", "FAILED"), file
    if file["state"] == "FAILED":  # processing refused it: the reason is the file's error
        assert "too large" in file["error"]["message"], file
    return client.post(
        GENERATE, json=_body({"fileData": {"mimeType": mime, "fileUri": file["uri"]}})
    )


def _check_answer(name: str, how: str, response: httpx.Response) -> None:
    """A 400 that says the image is too large (naming the part when sent inline), or a 200 that
    counted the image at its real size."""
    if response.status_code == 400:
        error = response.json()["error"]
        assert "too large" in error["message"], (name, how, error)
        if how == "inline":
            violations = [v for d in error.get("details", []) for v in d.get("fieldViolations", [])]
            assert any("contents[0].parts[1]" in v.get("field", "") for v in violations), error
        return
    assert response.status_code == 200, (name, how, response.status_code, response.text[:500])
    body = response.json()
    assert body["candidates"], body
    details = {d["modality"]: d["tokenCount"] for d in body["usageMetadata"]["promptTokensDetails"]}
    assert details["IMAGE"] == image_tokens(SIDE, SIDE), (name, how, details)


@pytest.mark.slow
def test_image_bombs_keep_the_server_small(server: ServeProcess) -> None:
    bombs = all_bombs()
    send: dict[str, Callable[[httpx.Client, bytes, str], httpx.Response]] = {
        "inline": _inline,
        "uploaded": _uploaded,
    }
    with httpx.Client(base_url=server.url, timeout=120) as client:
        warm = image_bytes(640, 480, fmt="PNG")
        for how, fn in send.items():  # the model's first-inference allocations are not growth
            response = fn(client, warm, "image/png")
            assert response.status_code == 200, (how, response.text[:500])
        baseline = server.memory_bytes("VmRSS")
        growth: dict[str, int] = {}
        for name, (data, mime) in bombs.items():
            for how, fn in send.items():
                server.reset_peak()
                with ThreadPoolExecutor(2) as pool:
                    pair = [pool.submit(fn, client, data, mime) for _ in range(2)]
                    answers = [future.result(timeout=120) for future in pair]
                growth[f"{name} {how}"] = server.memory_bytes("VmHWM") - baseline
                for answer in answers:
                    _check_answer(name, how, answer)
    report = ", ".join(f"{case}: {n / MB:.0f} MB" for case, n in growth.items())
    print(f"server peak RSS growth over {baseline / MB:.0f} MB: {report}")
    worst = max(growth, key=lambda case: growth[case])
    assert growth[worst] < MAX_GROWTH_BYTES, f"{worst} grew the server too much: {report}"
