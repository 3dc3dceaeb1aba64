"""Table-driven checks of the protobuf-JSON scalars, the field paths of wire errors, and the
nesting guard that runs before any recursive parser."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from sightd import errors
from sightd.api.body import MAX_JSON_DEPTH, json_depth_exceeds, parse_json_body
from sightd.api.convert import to_generate_input
from sightd.api.scalars import duration_seconds, to_float, to_int
from sightd.api.wire import CountTokensRequest, GenerateContentRequest, parse_model


@pytest.mark.parametrize(
    ("value", "want"),
    [(40, 40), (40.0, 40), ("40", 40), (" 40 ", 40), ("40.0", 40), ("1e3", 1000), (-3, -3)],
)
def test_ints(value: object, want: int) -> None:
    assert to_int(value) == want


@pytest.mark.parametrize(
    "value",
    [True, None, [], {}, 1.5, "1.5", "x", "", float("nan"), float("inf"), "NaN", "1e400"],
)
def test_bad_ints(value: object) -> None:
    with pytest.raises(ValueError):
        to_int(value)


@pytest.mark.parametrize(
    "value", [False, None, [1], "x", float("nan"), float("-inf"), "Infinity", 10**400]
)
def test_bad_floats(value: object) -> None:
    with pytest.raises(ValueError):
        to_float(value)


@pytest.mark.parametrize(
    "value", [{"seconds": "x"}, {"seconds": [1]}, {"nanos": 1e10}, "1e400s", True, [1], "12.5m"]
)
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        duration_seconds(value)


def _gen(config: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": config}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_gen({"topK": float("nan")}), "generation_config.top_k"),
        (_gen({"topK": float("inf")}), "generation_config.top_k"),
        (_gen({"topK": -5}), "generation_config.top_k"),
        (_gen({"topK": 0.5}), "generation_config.top_k"),
        (_gen({"seed": 2**63}), "generation_config.seed"),
        (_gen({"seed": "x"}), "generation_config.seed"),
        (_gen({"topP": 1.01}), "generation_config.top_p"),
        (_gen({"temperature": -0.1}), "generation_config.temperature"),
        (_gen({"candidateCount": 2**31}), "generation_config.candidate_count"),
        (_gen({"maxOutputTokens": 0}), "generation_config.max_output_tokens"),
        (_gen({"stopSequences": [None]}), "generation_config.stop_sequences[0]"),
        (_gen({"stopSequences": ["a"] * 6}), "generation_config.stop_sequences"),
        (_gen({"presencePenalty": float("nan")}), "generation_config.presence_penalty"),
        (_gen({"thinkingConfig": {"thinkingBudget": "lots"}}), None),
        ({"contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
        ({"contents": [{"parts": "x"}]}, "contents[0].parts"),
        (
            {
                "contents": [
                    {
                        "parts": [
                            {
                                "fileData": {"fileUri": "files/a"},
                                "videoMetadata": {"startOffset": {"seconds": "x"}},
                            }
                        ]
                    }
                ]
            },
            "contents[0].parts[0].video_metadata.start_offset",
        ),
    ],
)
def test_wire_errors_name_the_field(payload: dict[str, Any], field: str | None) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        to_generate_input(parse_model(GenerateContentRequest, payload), "m")
    assert info.value.field == (field or "generation_config.thinking_config.thinking_budget")
    assert info.value.message.startswith(f"Invalid value at '{info.value.field}'")


def test_top_k_zero_means_unset_and_seed_takes_int64() -> None:
    inp = to_generate_input(
        parse_model(GenerateContentRequest, _gen({"topK": 0, "seed": -(2**63)})), "m"
    )
    assert inp.params.top_k is None and inp.params.seed == -(2**63)


def test_count_tokens_names_the_nested_field() -> None:
    payload = {"generateContentRequest": _gen({"topK": "x"})}
    with pytest.raises(errors.InvalidArgument) as info:
        parse_model(CountTokensRequest, payload)
    assert info.value.field == "generate_content_request.generation_config.top_k"


def _nest(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


@pytest.mark.parametrize(
    ("raw", "deep"),
    [
        (_nest(MAX_JSON_DEPTH), False),
        (_nest(MAX_JSON_DEPTH + 1), True),
        (b'{"a": "' + b"[" * 500 + b'"}', False),  # brackets inside a string do not count
        (b'{"a": "\\"' + b"[" * 500 + b'"}', False),  # nor after an escaped quote
        (b'{"a": ' + b'{"b": ' * 70 + b"1" + b"}" * 71, True),
        (json.dumps([[0] * 10] * 1000).encode(), False),  # wide is fine
    ],
)
def test_depth(raw: bytes, deep: bool) -> None:
    assert json_depth_exceeds(raw) is deep


def test_deep_body_is_invalid_argument_about_the_whole_body() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        parse_json_body(b'{"contents": ' + _nest(200_000) + b"}")
    assert info.value.field == ""
    (detail,) = info.value.details()
    assert detail["fieldViolations"] == [{"description": info.value.message}]


def test_depth_scan_is_fast_on_big_bodies() -> None:
    blob = b'{"a": "' + b"A" * 30_000_000 + b'", "b": ' + json.dumps([[1]] * 1000).encode() + b"}"
    start = time.perf_counter()
    assert not json_depth_exceeds(blob)
    assert time.perf_counter() - start < 2.0
