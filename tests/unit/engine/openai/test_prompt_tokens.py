"""The upstream's own prompt count (`usage.prompt_tokens`) becomes
`Completion.model_prompt_tokens`: from a unary answer, and from the usage chunk a stream ends
with (`stream_options.include_usage`, which the backend asks for); None when the server gives
no usage."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from sightd.engine.base import Completion, SamplingParams
from sightd.engine.openai.backend import OpenAIBackend, UpstreamConfig
from sightd.engine.openai.processor import ModelFacts
from sightd.prompt import Prompt, TextPart, Turn
from tests.upstream_mock import mock_client

PROMPT = Prompt((Turn("user", (TextPart("Hi"),)),))


def _backend(handler: Any) -> OpenAIBackend:
    client = mock_client(handler)
    config = UpstreamConfig("http://upstream.test/v1", "m", "m", "vllm", "frames")
    return OpenAIBackend(config, ModelFacts(family=None), client=client)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 1234, "completion_tokens": 2, "total_tokens": 1236}, 1234),
        ({"completion_tokens": 2}, None),
        (None, None),
        ({"prompt_tokens": "many"}, None),
    ],
)
def test_unary_answer(usage: Any, expected: int | None) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        answer: dict[str, Any] = {
            "choices": [{"message": {"content": "Hi!"}, "finish_reason": "stop"}]
        }
        if usage is not None:
            answer["usage"] = usage
        return httpx.Response(200, json=answer)

    done = asyncio.run(_backend(handler).generate(PROMPT, SamplingParams()))
    assert done.model_prompt_tokens == expected


@pytest.mark.parametrize("usage_chunk", [True, False])
def test_stream_reads_the_usage_chunk(usage_chunk: bool) -> None:
    sent: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = [
        {"choices": [{"delta": {"content": "Hi"}}], "usage": None},
        {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": None},
    ]
    if usage_chunk:  # vLLM/OpenAI: a last chunk with no choices and the totals
        chunks.append({"choices": [], "usage": {"prompt_tokens": 87, "completion_tokens": 1}})
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    body += b"data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async def collect() -> list[Any]:
        backend = _backend(handler)
        return [item async for item in backend.stream(PROMPT, SamplingParams())]

    items = asyncio.run(collect())
    done = items[-1]
    assert isinstance(done, Completion) and done.text == "Hi"
    assert sent[0]["stream_options"] == {"include_usage": True}
    assert done.model_prompt_tokens == (87 if usage_chunk else None)
    assert done.output_tokens == 1
