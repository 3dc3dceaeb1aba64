"""sightd --engine openai in front of `transformers serve` (a real OpenAI-compatible server
with the tiny Qwen3-VL, in its own venv): both pages' e2e suites — Python SDK, JS SDK, curl —
run through it unchanged, and the upstream's failures reach clients as Gemini errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_page_examples import (  # noqa: F401  (collected again, through the upstream)
    test_js_sdk_upload_and_generate,
    test_python_example,
    workdir,
)
from tests.e2e.test_video_examples import (  # noqa: F401
    test_js_video_example,
    test_video_example,
)
from tests.engines.conftest import openai_handle
from tests.engines.transformers_serve import TransformersServe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine_handle(
    transformers_serve: TransformersServe,
    serve_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    return openai_handle(
        transformers_serve.url,
        transformers_serve.model,
        serve_model_dir,
        tmp_path_factory.mktemp("openai-engine"),
    )


def _sse_events(response: Any) -> list[dict[str, Any]]:
    import json

    return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def test_requests_go_upstream_and_stop_sequences_are_applied(server: Any) -> None:
    import httpx

    url = f"{server.url}/v1beta/models/gemini-2.5-flash:generateContent"
    body = {
        "contents": [{"parts": [{"text": "Count."}]}],
        "generationConfig": {"maxOutputTokens": 40, "temperature": 1.0, "seed": 3},
    }
    plain = httpx.post(url, json=body, timeout=60).json()
    text = plain["candidates"][0]["content"]["parts"][0]["text"]
    assert plain["usageMetadata"]["candidatesTokenCount"] == 40  # the upstream's own usage
    health = httpx.get(f"{server.url}/healthz", timeout=10).json()
    assert health["engine"] == "openai" and health["upstream"] == "ok"
    assert health["upstream_kind"] == "transformers"
    assert str(server.settings.data_dir) not in json_text(health)
    # transformers serve cannot apply `stop` to a VLM: sightd cuts at the sequence itself.
    stop = next((text[i : i + 2] for i in range(5, len(text) - 2) if text[i : i + 2].strip()), None)
    if stop is None:
        pytest.skip("the random answer has no usable stop sequence")
    body["generationConfig"]["stopSequences"] = [stop]
    cut = httpx.post(url, json=body, timeout=60).json()["candidates"][0]
    assert cut["content"]["parts"][0]["text"] == text[: text.index(stop)]
    assert cut["finishReason"] == "STOP"


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


def test_upstream_killed_mid_stream_then_restarted(
    server: Any, transformers_serve: TransformersServe
) -> None:
    """A Gemini error event reaches the client, sightd keeps serving (503 while the upstream is
    down) and recovers once it is back, without a restart of sightd."""
    import httpx

    base = f"{server.url}/v1beta/models/gemini-2.5-flash"
    long = {
        "contents": [{"parts": [{"text": "Write a long story."}]}],
        "generationConfig": {"maxOutputTokens": 4000, "temperature": 1.0},
    }
    try:
        with httpx.stream(
            "POST", f"{base}:streamGenerateContent?alt=sse", json=long, timeout=60
        ) as response:
            assert response.status_code == 200
            events: list[dict[str, Any]] = []
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                events.append(__import__("json").loads(line[5:]))
                if len(events) == 2:
                    transformers_serve.kill()
        assert "candidates" in events[0]
        assert events[-1]["error"]["status"] == "UNAVAILABLE", events[-1]
        down = httpx.post(f"{base}:generateContent", json=long, timeout=30)
        assert down.status_code == 503 and down.json()["error"]["status"] == "UNAVAILABLE"
        assert httpx.get(f"{server.url}/healthz", timeout=10).json()["upstream"] == "unavailable"
        counted = httpx.post(f"{base}:countTokens", json={"contents": long["contents"]}, timeout=30)
        assert counted.status_code == 200  # countTokens needs no upstream
    finally:
        if not transformers_serve.running():
            transformers_serve.restart()
    short = {**long, "generationConfig": {"maxOutputTokens": 3}}
    again = httpx.post(f"{base}:generateContent", json=short, timeout=60)
    assert again.status_code == 200, again.text
    assert again.json()["usageMetadata"]["candidatesTokenCount"] == 3
