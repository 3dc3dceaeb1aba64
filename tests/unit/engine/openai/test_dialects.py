"""Request shapes per upstream server kind, written from each server's documentation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sightd.engine.base import ChoiceOutput, JsonOutput, SamplingParams
from sightd.engine.openai.dialects import DIALECTS, detect_kind, response_format

PARAMS = SamplingParams(
    max_output_tokens=64, temperature=0.5, top_p=0.9, top_k=20, seed=7, stop_sequences=("END",)
)
COMMON = {"max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "seed": 7, "stop": ["END"]}


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("vllm", {"top_k": 20}),
        ("sglang", {"top_k": 20}),
        ("llamacpp", {"top_k": 20}),
        ("ollama", {}),  # Ollama's OpenAI API has no top_k
        ("transformers", "no-stop"),  # refuses top_k; its `stop` breaks VLMs: sightd cuts
        ("openai", {}),
    ],
)
def test_sampling_fields(kind: str, extra: Any) -> None:
    expected = (
        {k: v for k, v in COMMON.items() if k != "stop"}
        if extra == "no-stop"
        else {
            **COMMON,
            **extra,
        }
    )
    assert DIALECTS[kind].sampling_fields(PARAMS, 64) == expected


def test_defaults_are_left_to_the_server() -> None:
    assert DIALECTS["vllm"].sampling_fields(SamplingParams(), 100) == {"max_tokens": 100}


def test_json_schema_and_enum_become_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    fmt = response_format(JsonOutput(json.dumps(schema)))
    assert fmt == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert response_format(JsonOutput(None)) == {"type": "json_object"}
    enum = response_format(ChoiceOutput(("cat", "dog")))
    assert enum["json_schema"]["schema"] == {"type": "string", "enum": ["cat", "dog"]}
    # a server that enforces nothing gets nothing (the answer is validated afterwards)
    assert DIALECTS["transformers"].constraint_fields(ChoiceOutput(("a",))) == {}
    assert DIALECTS["llamacpp"].constraint_fields(None) == {}


def test_vllm_is_told_the_clip_was_already_sampled() -> None:
    assert DIALECTS["vllm"].video_fields(2.0, 40) == {
        "mm_processor_kwargs": {"fps": 2.0},
        "media_io_kwargs": {"video": {"num_frames": 40}},
    }
    assert DIALECTS["sglang"].video_fields(2.0, 40) == {}


@pytest.mark.parametrize(
    ("body", "server", "kind"),
    [
        ({"data": [{"id": "m", "owned_by": "vllm", "max_model_len": 32768}]}, None, "vllm"),
        ({"data": [{"id": "m", "owned_by": "sglang"}]}, None, "sglang"),
        (
            {"models": [{"model": "m.gguf"}], "data": [{"id": "m", "owned_by": "llamacpp"}]},
            None,
            "llamacpp",
        ),
        ({"data": [{"id": "qwen2.5vl:7b", "owned_by": "library"}]}, None, "ollama"),
        ({"data": [{"id": "m", "owned_by": "me"}]}, "llama.cpp", "llamacpp"),
        ({"data": [{"id": "gpt", "owned_by": "openai"}]}, None, "openai"),
        (
            {"data": [{"id": "/m", "owned_by": "local", "status": {"value": "loaded"}}]},
            None,
            "transformers",
        ),
        ("garbage", None, "openai"),
    ],
)
def test_detect_kind(body: Any, server: str | None, kind: str) -> None:
    assert detect_kind(body, server) == kind


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("vllm", {"structured_outputs": {"choice": ["a b", 'say "hi"']}}),
        ("sglang", {"regex": 'a\\ b|say\\ "hi"'}),
        ("llamacpp", {"grammar": 'root ::= "a b" | "say \\"hi\\""'}),
    ],
)
def test_enums_use_each_servers_bare_choice(kind: str, fields: dict[str, Any]) -> None:
    assert DIALECTS[kind].constraint_fields(ChoiceOutput(("a b", 'say "hi"'))) == fields


def test_other_servers_get_a_string_enum_schema() -> None:
    (fields,) = DIALECTS["ollama"].constraint_fields(ChoiceOutput(("x",))).values()
    assert fields["json_schema"]["schema"] == {"type": "string", "enum": ["x"]}
