"""The validated detection types, the Gemini JSON writer and the detector's answer policy."""

from __future__ import annotations

import json

import pytest

from sightd.grounding.detections import Box1000, Detection, clean_label, detection, gemini_json
from sightd.grounding.select import select


@pytest.mark.parametrize(
    "values",
    [
        (0, 0, 0, 10),
        (0, 10, 10, 10),
        (10, 0, 5, 10),
        (-1, 0, 5, 5),
        (0, 0, 5, 1001),
        (0.5, 0, 5, 5),
    ],
)
def test_invalid_boxes_are_refused(values: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        Box1000(*values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("cup", "cup"),
        ("  wooden / glass\nitem ", "wooden - glass item"),
        ("a\\b", "a-b"),
        ("/", "object"),
        ("", "object"),
        (None, "object"),
        (12, "12"),
        ("x" * 300, "x" * 100),
        ("\x00\x1bred", "red"),
    ],
)
def test_clean_label(raw: object, clean: str) -> None:
    assert clean_label(raw) == clean


def test_a_dirty_label_cannot_be_constructed() -> None:
    with pytest.raises(ValueError):
        Detection(Box1000(0, 0, 10, 10), "a/b")
    assert detection(Box1000(0, 0, 10, 10), "a/b").label == "a-b"


def test_gemini_json_is_bare_and_y_first() -> None:
    items = [detection(Box1000(1, 2, 3, 4), "cupcake"), detection(Box1000(5, 6, 7, 8), "ü")]
    text = gemini_json(items)
    assert not text.startswith("`") and json.loads(text) == [
        {"box_2d": [1, 2, 3, 4], "label": "cupcake"},
        {"box_2d": [5, 6, 7, 8], "label": "ü"},
    ]
    masked = json.loads(gemini_json(items, ["data:image/png;base64,AA", "data:x"]))
    assert [m["mask"] for m in masked] == ["data:image/png;base64,AA", "data:x"]
    with pytest.raises(ValueError):
        gemini_json(items, ["one"])
    assert gemini_json([]) == "[]"


def _scored(score: float, x: int = 0, label: str = "cup") -> Detection:
    return detection(Box1000(0, x, 100, x + 100), label, score)


@pytest.mark.parametrize(
    ("scores", "kept"),
    [
        ([0.9, 0.8, 0.5, 0.2], [0.9, 0.8, 0.5, 0.2]),  # all over the threshold
        ([0.05, 0.04, 0.03, 0.025], [0.05, 0.04, 0.03]),  # none over: the 3 best guesses
        ([0.5, 0.05, 0.04, 0.03], [0.5, 0.05, 0.04]),  # topped up to 3
        ([0.01, 0.005], []),  # below the floor: nothing
        ([], []),
    ],
)
def test_select_policy(scores: list[float], kept: list[float]) -> None:
    found = [_scored(s, x=200 * i) for i, s in enumerate(scores)]
    got = select(found, threshold=0.1, max_items=25)
    assert [d.score for d in got] == kept


def test_select_dedupes_same_label_overlaps_and_caps() -> None:
    dup = [_scored(0.9), _scored(0.8), _scored(0.7, label="plate")]  # same box, 2 labels
    assert [(d.label, d.score) for d in select(dup, threshold=0.1, max_items=25)] == [
        ("cup", 0.9),
        ("plate", 0.7),
    ]
    many = [_scored(0.9 - i / 100, x=i * 30) for i in range(30)]
    assert len(select(many, threshold=0.1, max_items=5)) == 5
