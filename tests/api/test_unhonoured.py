"""Fields sightd cannot honour are a clear error naming the field, never silently dropped; and
an Interaction cut by `max_output_tokens` is `incomplete`, however it was run."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from google.genai import errors as genai_errors
from google.genai import types

URL = "/v1beta/models/gemini-2.5-flash:generateContent"
CUT = {"max_output_tokens": 1, "temperature": 0}


def _post(server: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=120)


def _field(r: httpx.Response) -> str:
    details = r.json()["error"]["details"]
    return str(details[0]["fieldViolations"][0]["field"])


def _generate(server: Any, config: dict[str, Any], **top: Any) -> httpx.Response:
    body = {"contents": [{"parts": [{"text": "Hi"}]}], "generationConfig": config, **top}
    return _post(server, URL, body)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"logprobs": 2}, "generation_config.logprobs"),  # without responseLogprobs
        ({"responseLogprobs": True, "logprobs": 21}, "generation_config.logprobs"),
        ({"responseLogprobs": True, "logprobs": -1}, "generation_config.logprobs"),
        ({"presencePenalty": 2.0}, "generation_config.presence_penalty"),
        ({"presencePenalty": -2.5}, "generation_config.presence_penalty"),
        ({"frequency_penalty": 7}, "generation_config.frequency_penalty"),
        ({"responseModalities": ["TEXT", "IMAGE"]}, "generation_config.response_modalities[1]"),
        ({"responseModalities": ["AUDIO"]}, "generation_config.response_modalities[0]"),
    ],
)
def test_out_of_range_or_unhonourable_is_a_400(
    server: Any, config: dict[str, Any], field: str
) -> None:
    r = _generate(server, {"maxOutputTokens": 1, **config})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert _field(r) == field


@pytest.mark.parametrize(
    "config",
    [
        {"responseModalities": ["TEXT"]},
        {"responseModalities": ["text"]},
        {"presencePenalty": -2.0, "frequencyPenalty": 1.99},
        {"responseLogprobs": True, "logprobs": 20},
        {"responseLogprobs": True, "logprobs": 0},
        {"responseLogprobs": False},
    ],
)
def test_accepted_edges(server: Any, config: dict[str, Any]) -> None:
    r = _generate(server, {"maxOutputTokens": 1, **config})
    assert r.status_code == 200, r.text


def test_cached_content_names_no_cache(server: Any) -> None:
    r = _generate(server, {"maxOutputTokens": 1}, cachedContent="cachedContents/abc123")
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    assert _field(r) == "cached_content"
    assert "cachedContents/abc123" in r.json()["error"]["message"]


def test_sdk_sees_client_errors(client: Any) -> None:
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(
            model="gemini-2.5-flash",
            contents="Hi",
            config=types.GenerateContentConfig(cached_content="cachedContents/nope"),
        )
    assert caught.value.code == 404
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(
            model="gemini-2.5-flash",
            contents="Hi",
            config=types.GenerateContentConfig(response_modalities=["IMAGE"]),
        )
    assert caught.value.code == 400 and "response_modalities" in str(caught.value.details)
    ok = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hi",
        config=types.GenerateContentConfig(response_modalities=["TEXT"], max_output_tokens=1),
    )
    assert ok.candidates[0].finish_reason is not None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"response_modalities": ["image"]}, "response_modalities[0]"),
        ({"generation_config": {"presence_penalty": 2.0}}, "generation_config.presence_penalty"),
    ],
)
def test_interactions_refuse_what_they_cannot_honour(
    server: Any, extra: dict[str, Any], field: str
) -> None:
    r = _post(server, "/v1beta/interactions", {"model": "gemini-2.5-flash", "input": "Hi", **extra})
    assert r.status_code == 400, r.text
    assert _field(r) == field


def _interaction(server: Any, **extra: Any) -> httpx.Response:
    body = {"model": "gemini-2.5-flash", "input": "Hi", "generation_config": CUT, **extra}
    return _post(server, "/v1beta/interactions", body)


def test_interaction_cut_by_max_output_tokens_is_incomplete(server: Any) -> None:
    r = _interaction(server, response_modalities=["text"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "incomplete"
    assert out["steps"][-1]["type"] == "model_output"
    assert out["usage"]["total_output_tokens"] == 1
    stored = httpx.get(f"{server.url}/v1beta/interactions/{out['id']}", timeout=30).json()
    assert stored["status"] == "incomplete"
    roomy = _interaction(server, generation_config={"max_output_tokens": 200, "temperature": 0})
    assert roomy.json()["status"] in ("completed", "incomplete")
    assert (roomy.json()["status"] == "incomplete") == (
        roomy.json()["usage"]["total_output_tokens"] >= 200
    )


def test_streamed_interaction_is_incomplete(server: Any) -> None:
    body = {"model": "gemini-2.5-flash", "input": "Hi", "generation_config": CUT, "stream": True}
    events = []
    with httpx.stream("POST", f"{server.url}/v1beta/interactions", json=body, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    assert events[0]["interaction"]["status"] == "in_progress"
    assert events[-1]["event_type"] == "interaction.completed"
    assert events[-1]["interaction"]["status"] == "incomplete"


def test_background_interaction_is_incomplete(server: Any) -> None:
    r = _interaction(server, background=True)
    assert r.status_code == 200, r.text
    iid = r.json()["id"]
    for _ in range(600):
        status = httpx.get(f"{server.url}/v1beta/interactions/{iid}", timeout=30).json()["status"]
        if status != "in_progress":
            break
        time.sleep(0.05)
    assert status == "incomplete"


def test_sdk_interaction_incomplete(client: Any) -> None:
    interaction = client.interactions.create(
        model="gemini-3-flash-preview", input="Hi", generation_config=CUT
    )
    assert interaction.status == "incomplete"
    assert isinstance(interaction.steps[-1].content[0].text, str)
    stream = client.interactions.create(
        model="gemini-3-flash-preview",
        input="Hi",
        generation_config=CUT,
        stream=True,
    )
    last = list(stream)[-1]
    assert last.event_type == "interaction.completed" and last.interaction.status == "incomplete"
