"""Every family's real grounding text through the parsers, checked to the exact `box_2d`.

The samples follow the shapes the families' cookbooks and processors document: fenced and
bare JSON, prose around it, one object per line, truncated output, loc tokens."""

from __future__ import annotations

import logging

import pytest

from sightd.grounding.boxes import to_pixels
from sightd.grounding.parse import (
    json_values,
    parse_florence2,
    parse_gemini,
    parse_paligemma,
    parse_qwen2_5_vl,
    parse_qwen3_vl,
)

Boxes = list[tuple[list[int], str]]


def _boxes(found: list) -> Boxes:  # type: ignore[type-arg]
    return [(d.box.as_list(), d.label) for d in found]


QWEN3 = [
    (  # the cookbook's fenced answer
        '```json\n[\n\t{"bbox_2d": [100, 250, 400, 750], "label": "bird"},\n'
        '\t{"bbox_2d": [500, 0, 1000, 500], "label": "cat"}\n]\n```',
        [([250, 100, 750, 400], "bird"), ([0, 500, 500, 1000], "cat")],
    ),
    (  # bare, compact
        '[{"bbox_2d":[0,0,1000,1000],"label":"table"}]',
        [([0, 0, 1000, 1000], "table")],
    ),
    (  # prose around it
        'Sure! Here are the objects:\n[{"bbox_2d": [10, 20, 30, 40], "label": "cup"}]\n'
        "Let me know if you need more.",
        [([20, 10, 40, 30], "cup")],
    ),
    (  # one object per line, no list
        '{"bbox_2d": [1, 2, 3, 4], "label": "a"}\n{"bbox_2d": [5, 6, 7, 8], "label": "b"}',
        [([2, 1, 4, 3], "a"), ([6, 5, 8, 7], "b")],
    ),
    (  # truncated inside the second object: the first survives
        '```json\n[{"bbox_2d": [100, 200, 300, 400], "label": "dog"}, {"bbox_2d": [5, 6',
        [([200, 100, 400, 300], "dog")],
    ),
    (  # thinking first, corners out of order, numbers as strings, coordinates past the edge
        '<think>boxes?</think>[{"bbox_2d": ["900", "800", "100", "1200"], "label": "x/y"}]',
        [([800, 100, 1000, 900], "x-y")],
    ),
    (  # wrapped in an object, extra keys, missing label
        '{"objects": [{"bbox_2d": [0, 0, 500, 500], "score": 0.9}]}',
        [([0, 0, 500, 500], "object")],
    ),
    ("No objects found.", []),
    ('[{"bbox_2d": [1, 2, 3], "label": "three numbers"}]', []),
    ('[{"bbox_2d": [5, 5, 5, 9], "label": "zero width"}]', []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), QWEN3)
def test_qwen3_vl(text: str, expected: Boxes) -> None:
    assert _boxes(parse_qwen3_vl(text)) == expected


def test_qwen2_5_vl_is_in_pixels_of_the_resized_input() -> None:
    # 640x480 through smart_resize (28 px grid) is 644x476: the frame of the answer.
    text = (
        '```json\n[\n\t{"bbox_2d": [161, 119, 483, 357], "label": "bird"},\n'
        '\t{"bbox_2d": [0, 0, 644, 476], "label": "all"}\n]\n```'
    )
    assert _boxes(parse_qwen2_5_vl(text, (644, 476))) == [
        ([250, 250, 750, 750], "bird"),
        ([0, 0, 1000, 1000], "all"),
    ]


def test_florence2_loc_bins_match_its_own_post_processing() -> None:
    # Florence2Processor.post_process_generation("car<loc_100><loc_200><loc_300><loc_400>",
    # task="<OD>", image_size=(640, 480)) gives bboxes [[64, 96, 192, 192]].
    found = parse_florence2("car<loc_100><loc_200><loc_300><loc_400>")
    assert _boxes(found) == [([200, 100, 400, 300], "car")]
    assert to_pixels(found[0].box, (640, 480)) == (64, 96, 192, 192)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # one label with two boxes, then another label
            "</s><s>car<loc_0><loc_0><loc_500><loc_500><loc_500><loc_500><loc_999><loc_999>"
            "person<loc_10><loc_20><loc_30><loc_40></s>",
            [
                ([0, 0, 500, 500], "car"),
                ([500, 500, 999, 999], "car"),
                ([20, 10, 40, 30], "person"),
            ],
        ),
        ("car<loc_0><loc_0><loc_1200><loc_500>", []),  # out of range bin
        ("car<loc_1><loc_2>", []),  # truncated group
        ("a photo of a car", []),
    ],
)
def test_florence2(text: str, expected: Boxes) -> None:
    assert _boxes(parse_florence2(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # y first, 1024 bins, "; " between detections
            "<loc0256><loc0512><loc0768><loc1023> cat ; <loc0000><loc0000><loc0512><loc0256> dog",
            [([250, 500, 750, 999], "cat"), ([0, 0, 500, 250], "dog")],
        ),
        ("<loc0256><loc0512><loc0768> cat", []),  # three tokens
        ("<loc2000><loc0000><loc0512><loc0256> big", []),  # past 1023
        ("cat", []),
    ],
)
def test_paligemma(text: str, expected: Boxes) -> None:
    assert _boxes(parse_paligemma(text)) == expected


def test_gemini_form_round_trips() -> None:
    text = '[{"box_2d": [100, 200, 300, 400], "label": "cupcake"}]'
    assert _boxes(parse_gemini(text)) == [([100, 200, 300, 400], "cupcake")]


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        42,
        "{" * 5000,
        "[" * 3000 + "]" * 3000,
        '{"bbox_2d": {"x": 1}}',
        '{"bbox_2d": [NaN, 1, 2, 3]}',
        '[{"bbox_2d": [1e400, 0, 5, 5]}]',
        "```json\n```",
        "\x00\xff garbage \ud800",
    ],
)
def test_parsers_are_total(garbage: object) -> None:
    for parse in (parse_qwen3_vl, parse_florence2, parse_paligemma, parse_gemini):
        assert parse(garbage) == []  # type: ignore[operator]
    assert parse_qwen2_5_vl(garbage, (100, 100)) == []


def test_garbage_leaves_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sightd.grounding.parse"):
        assert parse_qwen3_vl("I cannot see any boxes") == []
    assert "no boxes in qwen3-vl output" in caplog.text


def test_json_values_resumes_after_a_truncated_value() -> None:
    values = list(json_values('[{"a": 1}, {"b": 2}, {"c"'))
    assert values == [{"a": 1}, {"b": 2}]
