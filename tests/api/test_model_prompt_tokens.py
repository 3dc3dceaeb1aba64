"""The model's own prompt token count reaches users: the `x-sightd-model-prompt-tokens` header
of generateContent, `usageMetadata.sightdModelPromptTokenCount` (unary and on a stream's last
event) and Interactions' `usage.sightd_model_input_tokens`. The value is the number of
input_ids the model was prefilled with (recorded by a hook on the tiny model), the official
Python SDK still parses every answer, and Gemini's `promptTokenCount` keeps its own rule."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.genai import types

from tests.media_factory import image_bytes

HEADER = "x-sightd-model-prompt-tokens"
FIELD = "sightdModelPromptTokenCount"
SHORT = types.GenerateContentConfig(temperature=0, max_output_tokens=4)


def _torch_model(obj: Any, depth: int = 4) -> Any:
    """The torch module under the engine's wrappers (whatever they are named)."""
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj
    if depth == 0:
        return None
    for name in ("_model", "model", "_local", "local"):
        found = _torch_model(getattr(obj, name, None), depth - 1)
        if found is not None:
            return found
    return None


@pytest.fixture
def prefills(engine_handle: Any) -> Iterator[list[int]]:
    """Lengths of the input_ids each forward pass of the tiny model received; a request's
    prompt is its longest (decoding steps feed one token)."""
    model = _torch_model(engine_handle.require())
    assert model is not None, "no torch model behind the engine"
    seen: list[int] = []

    def hook(_module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            seen.append(int(ids.shape[-1]))

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def _contents() -> list[Any]:
    jpeg = image_bytes(640, 480)
    return [types.Part.from_bytes(data=jpeg, mime_type="image/jpeg"), "What is in the picture?"]


def test_sdk_unary_header_and_usage(client: Any, prefills: list[int]) -> None:
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=_contents(), config=SHORT
    )
    assert isinstance(response.text, str)  # the SDK parsed the answer, extension and all
    seen = max(prefills)
    assert int(response.sdk_http_response.headers[HEADER]) == seen
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents=_contents())
    assert response.usage_metadata.prompt_token_count == counted.total_tokens  # Gemini's rule


def test_rest_unary_and_stream_carry_the_field(server: Any, prefills: list[int]) -> None:
    data = base64.b64encode(image_bytes(640, 480)).decode()
    body = {
        "contents": [
            {
                "parts": [
                    {"inlineData": {"mimeType": "image/jpeg", "data": data}},
                    {"text": "What is in the picture?"},
                ]
            }
        ],
        "generationConfig": {"temperature": 0, "maxOutputTokens": 4},
    }
    base = f"{server.url}/v1beta/models/gemini-2.5-flash"
    headers = {"x-goog-api-key": "k"}
    unary = httpx.post(f"{base}:generateContent", json=body, headers=headers, timeout=60)
    assert unary.status_code == 200
    seen = max(prefills)
    assert int(unary.headers[HEADER]) == seen
    assert unary.json()["usageMetadata"][FIELD] == seen

    prefills.clear()
    streamed = httpx.post(
        f"{base}:streamGenerateContent?alt=sse", json=body, headers=headers, timeout=60
    )
    assert streamed.status_code == 200 and HEADER not in streamed.headers  # not known yet
    events = [
        json.loads(line.removeprefix("data: "))
        for line in streamed.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[-1]["candidates"][0].get("finishReason")
    assert events[-1]["usageMetadata"][FIELD] == max(prefills)
    assert all(FIELD not in e["usageMetadata"] for e in events[:-1])


def test_sdk_stream_still_parses(client: Any, prefills: list[int]) -> None:
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=_contents(), config=SHORT
        )
    )
    assert chunks and chunks[-1].usage_metadata.prompt_token_count > 0
    assert prefills


def test_interactions_usage_field(client: Any, server: Any, prefills: list[int]) -> None:
    data = base64.b64encode(image_bytes(640, 480)).decode()
    blocks = [
        {"type": "text", "text": "Describe this picture."},
        {"type": "image", "data": data, "mime_type": "image/jpeg"},
    ]
    interaction = client.interactions.create(
        model="gemini-3-flash-preview", input=blocks, generation_config={"max_output_tokens": 4}
    )
    seen = max(prefills)
    assert interaction.usage.total_input_tokens > 258  # Gemini's rule, as before
    assert interaction.usage.model_dump()["sightd_model_input_tokens"] == seen

    prefills.clear()
    raw = httpx.post(
        f"{server.url}/v1beta/interactions",
        json={
            "model": "gemini-3-flash-preview",
            "input": blocks,
            "stream": True,
            "generation_config": {"max_output_tokens": 4},
        },
        headers={"x-goog-api-key": "k"},
        timeout=60,
    )
    assert raw.status_code == 200
    events = [
        json.loads(line.removeprefix("data: "))
        for line in raw.text.splitlines()
        if line.startswith("data: {")
    ]
    usages = [e["interaction"]["usage"] for e in events if "usage" in e.get("interaction", {})]
    assert usages and usages[-1]["sightd_model_input_tokens"] == max(prefills)
