"""Penalties and log probabilities through the remote engine: passed upstream where the server
takes them, a 400 naming the field where it cannot, and OpenAI's `logprobs.content[]` read back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sightd.engine.base import SamplingParams, StepLogprobs, TokenLogprob
from sightd.engine.openai.dialects import DIALECTS, logprobs_of
from sightd.errors import InvalidArgument
from sightd.prompt import Prompt, TextPart, Turn
from tests.upstream_mock import mock_client

PROMPT = Prompt((Turn("user", (TextPart("Hi"),)),))


@pytest.mark.parametrize("kind", ["vllm", "sglang", "llamacpp", "ollama", "openai"])
def test_penalties_pass_through(kind: str) -> None:
    params = SamplingParams(presence_penalty=0.5, frequency_penalty=-1.25)
    body = DIALECTS[kind].sampling_fields(params, 8)
    assert body["presence_penalty"] == 0.5 and body["frequency_penalty"] == -1.25


@pytest.mark.parametrize("kind", ["vllm", "sglang", "llamacpp", "openai"])
def test_logprobs_pass_through(kind: str) -> None:
    body = DIALECTS[kind].sampling_fields(SamplingParams(logprobs=3), 8)
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    body = DIALECTS[kind].sampling_fields(SamplingParams(logprobs=0), 8)
    assert body["logprobs"] is True and "top_logprobs" not in body
    assert "logprobs" not in DIALECTS[kind].sampling_fields(SamplingParams(), 8)


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("transformers", SamplingParams(presence_penalty=0.5), "presence_penalty"),
        ("transformers", SamplingParams(frequency_penalty=0.5), "frequency_penalty"),
        ("transformers", SamplingParams(logprobs=2), "response_logprobs"),
        ("ollama", SamplingParams(logprobs=0), "response_logprobs"),
    ],
)
def test_what_the_upstream_cannot_do_is_a_400(
    kind: str, params: SamplingParams, field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        DIALECTS[kind].sampling_fields(params, 8)
    assert caught.value.field == f"generation_config.{field}"
    assert kind in caught.value.message


def test_zero_penalties_need_no_support() -> None:
    params = SamplingParams(presence_penalty=0.0, frequency_penalty=0.0)
    body = DIALECTS["transformers"].sampling_fields(params, 8)
    assert "presence_penalty" not in body and "frequency_penalty" not in body


def test_logprobs_content_is_read_back() -> None:
    choice = {
        "logprobs": {
            "content": [
                {
                    "token": "Hi",
                    "logprob": -0.1,
                    "bytes": [72, 105],
                    "top_logprobs": [
                        {"token": "Hello", "logprob": -2.5},
                        {"token": "Hi", "logprob": -0.1},
                        {"token": "Hey", "logprob": -3.0},
                    ],
                },
                {"token": "!", "logprob": -9999.0, "id": 0, "top_logprobs": []},
                {"token": 5, "logprob": "x"},  # not well-formed: skipped
            ]
        }
    }
    steps = logprobs_of(choice, 2)
    assert steps == [
        StepLogprobs(
            TokenLogprob("Hi", None, -0.1),
            (TokenLogprob("Hi", None, -0.1), TokenLogprob("Hello", None, -2.5)),
        ),
        StepLogprobs(TokenLogprob("!", 0, -9999.0), ()),
    ]
    assert logprobs_of({}, 2) == [] and logprobs_of({"logprobs": None}, 2) == []


def _backend(kind: str, handler: Any) -> Any:

    from sightd.engine.openai.backend import OpenAIBackend, UpstreamConfig
    from sightd.engine.openai.processor import ModelFacts

    client = mock_client(handler)
    config = UpstreamConfig("http://upstream.test/v1", "m", "m", kind, "frames")
    return OpenAIBackend(config, ModelFacts(family=None), client=client)


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": logprob,
        "top_logprobs": [{"token": token, "logprob": logprob}],
    }


def test_backend_sends_the_knobs_and_maps_the_answer() -> None:
    import httpx

    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        choice = {
            "message": {"content": "Hi!"},
            "finish_reason": "stop",
            "logprobs": {"content": [_entry("Hi", -0.5), _entry("!", -1.5)]},
        }
        return httpx.Response(200, json={"choices": [choice], "usage": {"completion_tokens": 2}})

    backend = _backend("vllm", handler)
    params = SamplingParams(logprobs=1, presence_penalty=0.25, frequency_penalty=0.5)
    done = asyncio.run(backend.generate(PROMPT, params))
    assert seen[0]["logprobs"] is True and seen[0]["top_logprobs"] == 1
    assert seen[0]["presence_penalty"] == 0.25 and seen[0]["frequency_penalty"] == 0.5
    assert done.logprobs is not None
    assert [s.chosen.log_probability for s in done.logprobs] == [-0.5, -1.5]
    assert done.logprobs[0].top == (TokenLogprob("Hi", None, -0.5),)
    plain = asyncio.run(backend.generate(PROMPT, SamplingParams()))
    assert plain.logprobs is None and "logprobs" not in seen[1]


def test_backend_stream_hands_each_delta_its_tokens() -> None:
    import httpx

    chunks = [
        {"choices": [{"delta": {"content": "Hi"}, "logprobs": {"content": [_entry("Hi", -0.5)]}}]},
        {"choices": [{"delta": {"content": "!"}, "logprobs": {"content": [_entry("!", -1.0)]}}]},
        {"choices": [{"delta": {}, "finish_reason": "length"}]},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async def collect() -> list[Any]:
        backend = _backend("llamacpp", handler)
        return [item async for item in backend.stream(PROMPT, SamplingParams(logprobs=0))]

    items = asyncio.run(collect())
    deltas, done = items[:-1], items[-1]
    assert [d.text for d in deltas] == ["Hi", "!"]
    assert [[s.chosen.token for s in d.logprobs] for d in deltas] == [["Hi"], ["!"]]
    assert done.finish_reason == "MAX_TOKENS"
    assert [s.chosen.log_probability for s in done.logprobs] == [-0.5, -1.0]
