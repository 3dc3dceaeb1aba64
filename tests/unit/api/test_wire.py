"""Table-driven checks of the lenient wire parsing (wire contract §1.4)."""

from __future__ import annotations

import pytest

from sightd import errors
from sightd.api.body import parse_json_body
from sightd.api.convert import to_generate_input
from sightd.api.wire import GenerateContentRequest, parse_duration_s, parse_model
from sightd.services.inputs import FileMedia, InlineMedia, MediaIn, TextIn, UrlMedia


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12.5s", 12.5),
        ("1250s", 1250.0),
        ("0s", 0.0),
        (3, 3.0),
        (2.5, 2.5),
        ("7", 7.0),
        ({"seconds": 2, "nanos": 500_000_000}, 2.5),
        (None, None),
    ],
)
def test_durations(value: object, seconds: float | None) -> None:
    assert parse_duration_s(value) == seconds


@pytest.mark.parametrize("value", ["abc", "1m", "s", [1]])
def test_bad_durations(value: object) -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_duration_s(value, "videoMetadata.startOffset")


PY_STYLE = {  # what google-genai 3.4.0 sends: camelCase top level, snake_case inside
    "contents": [
        {
            "parts": [
                {
                    "inlineData": {"data": "__79", "mime_type": "image/png"},
                    "videoMetadata": {"fps": 5.0},
                },
                {
                    "fileData": {
                        "file_uri": "http://127.0.0.1:1/v1beta/files/abc123",
                        "mime_type": "image/png",
                    }
                },
                {"text": "What is this?"},
            ]
        }
    ],
    "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
    "generationConfig": {
        "temperature": 0.2,
        "topK": 40.0,
        "maxOutputTokens": 512,
        "thinkingConfig": {"thinking_budget": 0},
        "stopSequences": ["END"],
    },
}
JS_STYLE = {
    "contents": [
        {
            "role": "user",
            "parts": [
                {
                    "inlineData": {"data": "//79", "mimeType": "image/png"},
                    "videoMetadata": {"fps": 5},
                },
                {"fileData": {"fileUri": "files/abc123", "mimeType": "image/png"}},
                {"text": "What is this?"},
            ],
        }
    ],
    "system_instruction": {"parts": [{"text": "Be brief."}]},
    "generation_config": {
        "temperature": 0.2,
        "top_k": 40,
        "max_output_tokens": "512",
        "thinking_config": {"thinkingBudget": 0},
        "stop_sequences": "END",
    },
}


@pytest.mark.parametrize("payload", [PY_STYLE, JS_STYLE], ids=["python", "js"])
def test_both_spellings_give_the_same_input(payload: dict[str, object]) -> None:
    inp = to_generate_input(parse_model(GenerateContentRequest, payload), "gemini-2.5-flash")
    (turn,) = inp.turns
    assert turn.role == "user"
    media, file_part, text = turn.parts
    assert isinstance(media, MediaIn) and isinstance(media.ref, InlineMedia)
    assert media.ref.data == b"\xff\xfe\xfd"
    assert media.video is not None and media.video.fps == 5.0
    assert isinstance(file_part, MediaIn) and file_part.ref == FileMedia("abc123", "image/png")
    assert text == TextIn("What is this?")
    assert inp.system == "Be brief."
    assert inp.params.top_k == 40 and inp.params.max_output_tokens == 512
    assert inp.params.stop_sequences == ("END",)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"contents": []}, "contents"),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"parts": []}]}, "contents[0].parts"),
        ({"contents": [{"parts": [{}]}]}, "contents[0].parts[0]"),
        (
            {"contents": [{"parts": [{"inlineData": {"data": "%%%", "mimeType": "image/png"}}]}]},
            "contents[0].parts[0].inline_data.data",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": 3}},
            "generation_config.temperature",
        ),
        (
            {
                "contents": [
                    {"parts": [{"fileData": {"fileUri": "files/a"}, "videoMetadata": {"fps": 0}}]}
                ]
            },
            "contents[0].parts[0].video_metadata.fps",
        ),
    ],
)
def test_bad_requests_name_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        to_generate_input(parse_model(GenerateContentRequest, payload), "m")
    assert info.value.field == field


def test_youtube_uri_is_a_url_not_a_file() -> None:
    payload = {
        "contents": [
            {
                "parts": [
                    {"fileData": {"fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}},
                    {"text": "x"},
                ]
            }
        ]
    }
    inp = to_generate_input(parse_model(GenerateContentRequest, payload), "m")
    part = inp.turns[0].parts[0]
    assert isinstance(part, MediaIn) and isinstance(part.ref, UrlMedia)


@pytest.mark.parametrize("raw", [b"{", b"[1,", b"\xff\xfe", b"nul"])
def test_garbage_json(raw: bytes) -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_json_body(raw)


def test_non_object_body() -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_model(GenerateContentRequest, [1, 2])
