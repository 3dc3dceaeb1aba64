"""generateContent, streamGenerateContent, countTokens and models through the official SDK
against a live sightd serving the tiny Qwen3-VL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from tests.media_factory import image_bytes

GREEDY = types.GenerateContentConfig(temperature=0, max_output_tokens=12)


def test_inline_image_caption(client: Any) -> None:
    jpeg = image_bytes(960, 540)
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[types.Part.from_bytes(data=jpeg, mime_type="image/jpeg"), "Caption this image."],
        config=GREEDY,
    )
    assert isinstance(response.text, str)
    cand = response.candidates[0]
    assert cand.finish_reason in (types.FinishReason.STOP, types.FinishReason.MAX_TOKENS)
    usage = response.usage_metadata
    details = {d.modality.name: d.token_count for d in usage.prompt_tokens_details}
    assert details["IMAGE"] == 1548  # 960x540 → crop unit 360 → 3x2 tiles × 258
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert response.model_version == "gemini-2.5-flash"
    assert response.response_id


def test_count_tokens_matches_usage(client: Any) -> None:
    contents = [
        types.Part.from_bytes(data=image_bytes(300, 200, "PNG"), mime_type="image/png"),
        "What colour is the square?",
    ]
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents=contents)
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=GREEDY
    )
    assert counted.total_tokens == response.usage_metadata.prompt_token_count
    assert counted.total_tokens > 258


def test_streaming_joins_to_the_unary_answer(client: Any) -> None:
    contents = [types.Part.from_bytes(data=image_bytes(), mime_type="image/jpeg"), "Describe."]
    config = types.GenerateContentConfig(temperature=0, max_output_tokens=10)
    whole = client.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=config
    )
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=contents, config=config
        )
    )
    assert len(chunks) >= 2
    assert "".join(c.text or "" for c in chunks) == whole.text
    assert chunks[-1].candidates[0].finish_reason is not None
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])


def test_sse_framing_is_strict(server: Any) -> None:
    body = {
        "contents": [{"parts": [{"text": "hello"}]}],
        "generationConfig": {"maxOutputTokens": 4, "temperature": 0},
    }
    with httpx.stream(
        "POST",
        f"{server.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        params={"alt": "sse", "key": "k"},
        json=body,
        timeout=60,
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = [e for e in raw.split("\r\n\r\n") if e]
    assert events and all(e.startswith("data: {") and "\n" not in e for e in events)


def test_sampling_options(client: Any) -> None:
    short = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Count to one hundred.",
        config=types.GenerateContentConfig(max_output_tokens=2, temperature=0),
    )
    assert short.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert short.usage_metadata.candidates_token_count <= 2
    seeded = [
        client.models.generate_content(
            model="gemini-2.5-flash",
            contents="Tell me a story.",
            config=types.GenerateContentConfig(
                temperature=1.0, top_p=0.9, top_k=40, seed=7, max_output_tokens=8
            ),
        ).text
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
    two = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hi",
        config=types.GenerateContentConfig(
            candidate_count=2,
            max_output_tokens=4,
            seed=1,
            temperature=1.0,
            thinking_config=types.ThinkingConfig(thinking_budget=0),
        ),
    )
    assert len(two.candidates) == 2


def test_system_instruction_and_multi_turn(client: Any) -> None:
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="Hello")]),
        types.Content(role="model", parts=[types.Part.from_text(text="Hi there")]),
        types.Content(
            parts=[
                types.Part.from_bytes(data=image_bytes(200, 200, "PNG"), mime_type="image/png"),
                types.Part.from_text(text="And this?"),
            ]
        ),
    ]
    response = client.models.generate_content(
        model="models/gemini-3-flash-preview",
        contents=contents,
        config=types.GenerateContentConfig(
            system_instruction="Be brief.", max_output_tokens=5, stop_sequences=["\n\n"]
        ),
    )
    assert response.text is not None


def test_models_list_and_get(client: Any) -> None:
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/tiny-qwen3-vl" in names
    model = client.models.get(model="gemini-2.5-flash")
    assert model.input_token_limit and "generateContent" in model.supported_actions
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.get(model="gpt-4o")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


def test_unknown_model_is_404_not_a_fallback(client: Any) -> None:
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="llama-3", contents="hi")
    assert info.value.code == 404


def test_path_prefix_and_rest_versions(make_server: Any) -> None:
    srv = make_server(path_prefix="/gemini")
    from google import genai

    prefixed = genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=srv.url + "/gemini/")
    )
    assert (
        prefixed.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=types.GenerateContentConfig(max_output_tokens=2),
        ).text
        is not None
    )
    for version in ("v1", "v1beta", "v1alpha"):
        r = httpx.post(
            f"{srv.url}/{version}/models/gemini-2.5-flash%3AcountTokens",
            params={"key": "k"},
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["totalTokens"] > 0
    r = httpx.post(
        f"{srv.url}/v1beta/models/gemini-2.5-flash:countTokens",
        json={
            "generateContentRequest": {
                "model": "models/gemini-2.5-flash",
                "contents": [{"parts": [{"text": "hi"}]}],
            }
        },
    )
    assert r.status_code == 200 and r.json()["promptTokensDetails"][0]["modality"] == "TEXT"
