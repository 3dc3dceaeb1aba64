"""The Interactions API through the official SDK and as the page's curl sends it."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.media_factory import image_bytes


def test_sdk_create_with_inline_image(client: Any) -> None:
    data = base64.b64encode(image_bytes()).decode()
    interaction = client.interactions.create(
        model="gemini-3-flash-preview",
        input=[
            {"type": "text", "text": "Describe this picture."},
            {"type": "image", "data": data, "mime_type": "image/jpeg"},
        ],
        generation_config={"max_output_tokens": 6},
    )
    assert interaction.status in ("completed", "incomplete")  # cut by max_output_tokens
    assert isinstance(interaction.steps[-1].content[0].text, str)
    assert interaction.usage.total_input_tokens > 258
    again = client.interactions.get(id=interaction.id)
    assert again.steps[0].type == "user_input" and again.steps[-1].type == "model_output"


def test_curl_shape_on_v1beta_with_api_revision(server: Any) -> None:
    body = {
        "model": "gemini-3-flash-preview",
        "input": [
            {"type": "text", "text": "Please summarize the image in 3 sentences."},
            {
                "type": "image",
                "data": base64.b64encode(image_bytes()).decode(),
                "mime_type": "image/jpeg",
            },
        ],
        "generation_config": {"max_output_tokens": 4},
    }
    r = httpx.post(
        f"{server.url}/v1beta/interactions",
        json=body,
        timeout=60,
        headers={"x-goog-api-key": "k", "Api-Revision": "2026-05-20"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    out = r.json()
    assert out["status"] in ("completed", "incomplete")  # cut by max_output_tokens
    assert out["steps"][-1]["type"] == "model_output"
    assert out["steps"][-1]["content"][0]["type"] == "text"


def test_continuation_and_delete(client: Any) -> None:
    first = client.interactions.create(
        model="gemini-2.5-flash", input="Hello", generation_config={"max_output_tokens": 3}
    )
    second = client.interactions.create(
        model="gemini-2.5-flash",
        input="And again?",
        previous_interaction_id=first.id,
        generation_config={"max_output_tokens": 3},
    )
    assert second.status in ("completed", "incomplete")
    assert second.usage.total_input_tokens > first.usage.total_input_tokens
    client.interactions.delete(id=first.id)


def test_streaming_events(server: Any) -> None:
    body = {
        "model": "gemini-2.5-flash",
        "input": "Tell me something.",
        "stream": True,
        "generation_config": {"max_output_tokens": 5},
    }
    with httpx.stream(
        "POST",
        f"{server.url}/v1/interactions",
        json=body,
        timeout=60,
        headers={"x-goog-api-key": "k"},
    ) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    datas = [line[len("data: ") :] for line in raw.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    events = [json.loads(d) for d in datas[:-1]]
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    assert "step.delta" in kinds
    text = "".join(e["delta"]["text"] for e in events if e["event_type"] == "step.delta")
    assert events[-1]["interaction"]["steps"][-1]["content"][0]["text"] == text


def test_unknown_model_and_bad_input(server: Any) -> None:
    r = httpx.post(f"{server.url}/v1/interactions", json={"model": "nope", "input": "x"})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = httpx.post(f"{server.url}/v1/interactions", json={"model": "gemini-2.5-flash"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 400
    r = httpx.get(f"{server.url}/v1/interactions/v1_missing")
    assert r.status_code == 404
