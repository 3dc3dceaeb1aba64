"""Detections as validated values, and the Gemini JSON they are answered with.

A `Box1000` is Gemini's box: `(ymin, xmin, ymax, xmax)`, integers in 0..1000 relative to the
oriented original image, y first. Construction validates it, so every box that reaches a
client is ordered, in range and has a non-zero area.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

NORM = 1000
MAX_LABEL_CHARS = 100
DEFAULT_LABEL = "object"
# Labels become file names in the page's segmentation example: no path separators, no controls.
_UNSAFE_LABEL = re.compile(r"[/\\\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Box1000:
    """Gemini `box_2d`: ymin, xmin, ymax, xmax in 0..1000 (y first), with a non-zero area."""

    ymin: int
    xmin: int
    ymax: int
    xmax: int

    def __post_init__(self) -> None:
        values = (self.ymin, self.xmin, self.ymax, self.xmax)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"box_2d values must be integers, got {values}")
        if not all(0 <= v <= NORM for v in values):
            raise ValueError(f"box_2d values must be in 0..{NORM}, got {values}")
        if self.ymin >= self.ymax or self.xmin >= self.xmax:
            raise ValueError(f"box_2d must have ymin < ymax and xmin < xmax, got {values}")

    def as_list(self) -> list[int]:
        return [self.ymin, self.xmin, self.ymax, self.xmax]


def clean_label(label: object) -> str:
    """A label safe for JSON and file names: one line, no `/` or `\\`, at most 100 chars."""
    text = label if isinstance(label, str) else "" if label is None else str(label)
    text = " ".join(_UNSAFE_LABEL.sub("-", " ".join(text.split())).split()).strip(" -")
    return text[:MAX_LABEL_CHARS].strip() or DEFAULT_LABEL


@dataclass(frozen=True)
class Detection:
    """One found object: its box, a clean label, and the model's score when it gives one."""

    box: Box1000
    label: str
    score: float | None = None

    def __post_init__(self) -> None:
        if self.label != clean_label(self.label):
            raise ValueError(f"label {self.label!r} is not clean; pass it through clean_label")


def detection(box: Box1000, label: object, score: float | None = None) -> Detection:
    """A `Detection` with its label cleaned."""
    return Detection(box, clean_label(label), score)


def gemini_json(items: Sequence[Detection], masks: Sequence[str] | None = None) -> str:
    """The bare JSON list Gemini answers with: `box_2d`, `label` and, with masks, `mask`."""
    if masks is not None and len(masks) != len(items):
        raise ValueError("one mask per detection is needed")
    out: list[dict[str, object]] = []
    for i, item in enumerate(items):
        entry: dict[str, object] = {"box_2d": item.box.as_list(), "label": item.label}
        if masks is not None:
            entry["mask"] = masks[i]
        out.append(entry)
    return json.dumps(out, ensure_ascii=False)
