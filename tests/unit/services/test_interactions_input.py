"""The four shapes of Interactions `input` (wire contract §8) normalise to the same turns."""

from __future__ import annotations

import base64

import pytest

from sightd import errors
from sightd.services.inputs import FileMedia, InlineMedia, MediaIn, TextIn, UrlMedia
from sightd.services.interactions_input import (
    compact_for_storage,
    normalize_input,
    sampling_from_config,
    steps_to_turns,
)

VIDEO = {
    "type": "video",
    "uri": "http://127.0.0.1:8080/v1beta/files/k3v9q2m7x1ab",
    "mime_type": "video/mp4",
}
TEXT = {"type": "text", "text": "Summarize this video."}


@pytest.mark.parametrize(
    "raw",
    [
        [VIDEO, TEXT],  # JS / curl
        [{"type": "user_input", "content": [VIDEO, TEXT]}],  # Python 3.4.0
        [{"role": "user", "content": [VIDEO, TEXT]}],  # older Turn shape
    ],
    ids=["blocks", "steps", "turns"],
)
def test_shapes_agree(raw: object) -> None:
    (turn,) = steps_to_turns(normalize_input(raw))
    assert turn.role == "user"
    video, text = turn.parts
    assert isinstance(video, MediaIn) and video.ref == FileMedia("k3v9q2m7x1ab", "video/mp4")
    assert text == TextIn("Summarize this video.")


def test_string_and_single_block() -> None:
    assert steps_to_turns(normalize_input("hi"))[0].parts == (TextIn("hi"),)
    assert steps_to_turns(normalize_input(TEXT))[0].parts == (TextIn("Summarize this video."),)


def test_inline_data_is_standard_base64() -> None:
    data = base64.b64encode(b"\xff\xfe\xfd").decode()
    (turn,) = steps_to_turns(
        normalize_input([{"type": "image", "data": data, "mime_type": "image/png"}, TEXT])
    )
    part = turn.parts[0]
    assert isinstance(part, MediaIn) and part.ref == InlineMedia(b"\xff\xfe\xfd", "image/png")


def test_youtube_block_has_no_mime() -> None:
    (turn,) = steps_to_turns(
        normalize_input([TEXT, {"type": "video", "uri": "https://www.youtube.com/watch?v=x"}])
    )
    part = turn.parts[1]
    assert isinstance(part, MediaIn) and part.ref == UrlMedia(
        "https://www.youtube.com/watch?v=x", None
    )


def test_history_and_thoughts() -> None:
    steps = [
        {"type": "user_input", "content": [{"type": "text", "text": "a"}]},
        {"type": "thought", "summary": []},
        {"type": "model_output", "content": [{"type": "text", "text": "b"}]},
        {"type": "user_input", "content": "c"},
    ]
    turns = steps_to_turns(normalize_input(steps))
    assert [t.role for t in turns] == ["user", "model", "user"]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        [{"type": "model_output", "content": [TEXT]}],
        [{"type": "widget"}],
        [{"type": "video"}],
        [{"type": "image", "data": "***"}],
    ],
)
def test_bad_inputs(raw: object) -> None:
    with pytest.raises(errors.InvalidArgument):
        steps_to_turns(normalize_input(raw))


def test_generation_config() -> None:
    params = sampling_from_config(
        {
            "temperature": 0.5,
            "top_k": 40.0,
            "max_output_tokens": "64",
            "stop_sequences": "X",
            "thinking_level": "low",
        }
    )
    assert (params.temperature, params.top_k, params.max_output_tokens) == (0.5, 40, 64)
    assert params.stop_sequences == ("X",)


def test_compaction_drops_only_big_inline_data() -> None:
    steps = normalize_input(
        [
            {"type": "image", "data": "A" * 100, "mime_type": "image/png"},
            {"type": "image", "data": "AAAA", "mime_type": "image/png"},
            TEXT,
        ]
    )
    kept = compact_for_storage(steps, keep_bytes=10)
    big, small, _ = kept[0]["content"]
    assert "data" not in big and big["data_omitted"] is True
    assert small["data"] == "AAAA"
    # history with omitted media still converts (the media are skipped)
    assert steps_to_turns(kept)[0].parts[-1] == TextIn("Summarize this video.")
