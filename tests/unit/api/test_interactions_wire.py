"""The four shapes of Interactions `input` (wire contract §8) normalise to the same turns; wrong
types are a 400 naming the field where the client put it; the generation config shares
generateContent's ranges; stored timelines read back into turns."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sightd import errors
from sightd.api.interactions_convert import to_interaction_input
from sightd.services.inputs import (
    FileMedia,
    InlineMedia,
    InteractionInput,
    MediaIn,
    TextIn,
    TurnIn,
    UrlMedia,
)
from sightd.services.interaction_steps import steps_from_json, steps_json, steps_to_turns

VIDEO = {
    "type": "video",
    "uri": "http://127.0.0.1:8080/v1beta/files/k3v9q2m7x1ab",
    "mime_type": "video/mp4",
}
TEXT = {"type": "text", "text": "Summarize this video."}


def _parse(raw_input: Any, **extra: Any) -> InteractionInput:
    return to_interaction_input({"model": "gemini-2.5-flash", "input": raw_input, **extra})


def _turns(raw_input: Any) -> tuple[TurnIn, ...]:
    return steps_to_turns([], _parse(raw_input).steps)


@pytest.mark.parametrize(
    "raw",
    [
        [VIDEO, TEXT],  # JS / curl
        [{"type": "user_input", "content": [VIDEO, TEXT]}],  # Python 3.4.0
        [{"role": "user", "content": [VIDEO, TEXT]}],  # older Turn shape
        [[VIDEO, TEXT]],  # a nested list of blocks
    ],
    ids=["blocks", "steps", "turns", "nested"],
)
def test_shapes_agree(raw: object) -> None:
    (turn,) = _turns(raw)
    assert turn.role == "user"
    video, text = turn.parts
    assert isinstance(video, MediaIn) and video.ref == FileMedia("k3v9q2m7x1ab", "video/mp4")
    assert text == TextIn("Summarize this video.")


def test_string_and_single_block() -> None:
    assert _turns("hi")[0].parts == (TextIn("hi"),)
    assert _turns(TEXT)[0].parts == (TextIn("Summarize this video."),)
    assert _turns({"type": "user_input", "content": "hi"})[0].parts == (TextIn("hi"),)


def test_inline_data_is_standard_base64() -> None:
    data = base64.b64encode(b"\xff\xfe\xfd").decode()
    (turn,) = _turns([{"type": "image", "data": data, "mimeType": "image/png"}, TEXT])
    part = turn.parts[0]
    assert isinstance(part, MediaIn) and part.ref == InlineMedia(b"\xff\xfe\xfd", "image/png")


def test_youtube_block_has_no_mime() -> None:
    (turn,) = _turns([TEXT, {"type": "video", "uri": "https://www.youtube.com/watch?v=x"}])
    part = turn.parts[1]
    assert isinstance(part, MediaIn) and part.ref == UrlMedia(
        "https://www.youtube.com/watch?v=x", None
    )


def test_history_and_thoughts() -> None:
    steps = [
        {"type": "user_input", "content": [{"type": "text", "text": "a"}]},
        {"type": "thought", "summary": []},
        {"type": "model_output", "content": [{"type": "text", "text": "b"}]},
        {"type": "user_input", "content": ["c", {"type": "thought_signature"}]},
    ]
    turns = _turns(steps)
    assert [t.role for t in turns] == ["user", "model", "user"]
    assert turns[-1].parts == (TextIn("c"),)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (None, "input"),
        ([], "input"),
        (5, "input"),
        ([True], "input[0]"),
        ([[1]], "input[0][0]"),
        ([{"type": "widget"}], "input[0].type"),
        ([{"type": "video"}], "input[0]"),
        ([{"type": "image", "data": "***"}], "input[0].data"),
        ([{"type": []}], "input[0].type"),
        ([{"type": {}}, TEXT], "input[0].type"),
        ([TEXT, {"type": "image", "data": 5}], "input[1].data"),
        ([{"type": "image", "data": "AAAA", "mime_type": 5}], "input[0].mime_type"),
        ([{"type": "text", "text": ["x"]}], "input[0].text"),
        ([{"type": "user_input", "content": [TEXT, {"type": "video", "uri": 7}]}], None),
        ([{"type": "user_input", "content": 5}], "input[0].content"),
        ([{"role": 5, "content": "x"}], "input[0].role"),
    ],
)
def test_bad_inputs_name_the_field(raw: object, field: str | None) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        _turns(raw)
    if field is None:
        field = "input[0].content[1].uri"
    assert info.value.field == field


def test_input_must_end_with_user_content() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        _turns([{"type": "model_output", "content": [TEXT]}])
    assert info.value.field == "input"


def test_generation_config_is_lenient_like_protobuf() -> None:
    params = _parse(
        "x",
        generation_config={
            "temperature": "0.5",
            "top_k": 40.0,
            "max_output_tokens": "64",
            "stop_sequences": "X",
            "seed": 2**40,
            "thinking_level": "low",
        },
    ).params
    assert (params.temperature, params.top_k, params.max_output_tokens) == (0.5, 40, 64)
    assert params.stop_sequences == ("X",) and params.seed == 2**40


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ([1], "generation_config"),
        ({"top_p": "x"}, "generation_config.top_p"),
        ({"top_p": 1.5}, "generation_config.top_p"),
        ({"temperature": float("nan")}, "generation_config.temperature"),
        ({"top_k": float("inf")}, "generation_config.top_k"),
        ({"top_k": -5}, "generation_config.top_k"),
        ({"seed": 2**64}, "generation_config.seed"),
        ({"seed": True}, "generation_config.seed"),
        ({"max_output_tokens": 0}, "generation_config.max_output_tokens"),
        ({"max_output_tokens": 2.5}, "generation_config.max_output_tokens"),
        ({"stop_sequences": [1]}, "generation_config.stop_sequences[0]"),
        ({"stop_sequences": list("abcdef")}, "generation_config.stop_sequences"),
    ],
)
def test_generation_config_errors(config: object, field: str) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        _parse("x", generation_config=config)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"system_instruction": 5}, "system_instruction"),
        ({"previous_interaction_id": []}, "previous_interaction_id"),
        ({"response_format": 5}, "response_format"),
        ({"response_format": [{"type": "image"}]}, "response_format[0].type"),
        ({"response_format": []}, "response_format"),
        ({"stream": {}}, "stream"),
        ({"model": 5}, "model"),
        ({"model": None}, "model"),
        ({"model": None, "agent": "deep-research"}, "agent"),
    ],
)
def test_other_fields(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        _parse("x", **extra)
    assert info.value.field == field


def test_options_and_echo() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    inp = to_interaction_input(
        {
            "model": "models/gemini-2.5-flash",
            "input": "x",
            "system_instruction": "Be brief.",
            "stream": True,
            "store": False,
            "previousInteractionId": "v1_abc",
            "response_format": {"type": "text", "mime_type": "application/json", "schema": schema},
            "generation_config": {"max_output_tokens": 3},
        }
    )
    assert inp.model == "gemini-2.5-flash" and inp.system == "Be brief."
    assert inp.stream and not inp.store and not inp.background
    assert inp.previous_interaction_id == "v1_abc"
    assert inp.params.constraint is not None and inp.params.max_output_tokens == 3
    assert inp.echo["generation_config"] == {"max_output_tokens": 3}
    assert inp.echo["previous_interaction_id"] == "v1_abc"


def test_storage_drops_only_big_inline_data_and_reads_back() -> None:
    steps = _parse(
        [
            {"type": "image", "data": "A" * 100, "mime_type": "image/png"},
            {"type": "image", "data": "AAAA", "mime_type": "image/png"},
            TEXT,
        ]
    ).steps
    kept = steps_json(steps, keep_chars=10)
    big, small, _ = kept[0]["content"]
    assert "data" not in big and big["data_omitted"] is True
    assert small["data"] == "AAAA"
    # stored history with omitted media still converts (the media are skipped)
    again = steps_from_json([*kept, {"type": "thought"}, "garbage"])
    (turn,) = steps_to_turns(again, [])
    assert len(turn.parts) == 2 and turn.parts[-1] == TextIn("Summarize this video.")


def test_old_records_with_wire_spellings_read_back() -> None:
    stored = [
        {"type": "user_input", "content": [{"type": "image", "data": "__79", "mimeType": "x/y"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "b"}, {"type": 5}]},
    ]
    history = steps_from_json(stored)
    turns = steps_to_turns(history, _parse("c").steps)
    first = turns[0].parts[0]
    assert isinstance(first, MediaIn) and first.ref == InlineMedia(b"\xff\xfe\xfd", "x/y")
    assert first.field == "previous_interaction_id"
    assert [t.role for t in turns] == ["user", "model", "user"]
