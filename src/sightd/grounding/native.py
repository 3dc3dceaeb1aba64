"""Native grounding per model family: how to ask, what grammar to decode with, how to read it.

A VLM trained to ground answers best in the words and format it was trained on, so a Gemini
spatial prompt is re-asked in the family's own terms (the prompts follow the families'
cookbooks) and decoding is constrained to the family's own JSON: the answer always parses,
and the parser then converts it to Gemini's form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sightd.grounding.detections import Detection
from sightd.grounding.intent import SpatialRequest
from sightd.grounding.parse import parse_qwen2_5_vl, parse_qwen3_vl

MAX_LABEL_CHARS = 64


@dataclass(frozen=True)
class NativeGrounding:
    """One family's grounding dialect: its prompt, answer grammar and parser.

    `parse(text, input_px)` takes the (width, height) the processor resized the image to: the
    frame of absolute coordinates (Qwen2.5-VL); 0–1000 families ignore it.
    """

    family: str
    describe: str
    parse: Callable[[str, tuple[int, int]], list[Detection]]
    absolute: bool  # coordinates in pixels of the model input (else 0–1000)

    def prompt(self, request: SpatialRequest) -> str:
        what = request.target or "prominent object"
        text = (
            f"Locate every {what} in the image and output the bbox_2d coordinates and a "
            "label for each one in JSON format."
        )
        if request.instructions:
            text += " " + request.instructions.rstrip(".") + "."
        return text

    def schema(self, input_px: tuple[int, int], max_items: int) -> dict[str, Any]:
        """Schema of the family's answer in Gemini's dialect (bounded, so decoding ends); the
        caller reduces it for its engine."""
        top = max(input_px) if self.absolute else 1000
        coord = {"type": "integer", "minimum": 0, "maximum": top}
        item = {
            "type": "object",
            "properties": {
                "bbox_2d": {"type": "array", "items": coord, "minItems": 4, "maxItems": 4},
                "label": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_CHARS},
            },
            "required": ["bbox_2d", "label"],
            "additionalProperties": False,
        }
        return {"type": "array", "items": item, "maxItems": max_items}


NATIVE: dict[str, NativeGrounding] = {
    "qwen3-vl": NativeGrounding(
        "qwen3-vl",
        "native Qwen3-VL grounding (bbox_2d, 0-1000)",
        lambda text, _frame: parse_qwen3_vl(text),
        absolute=False,
    ),
    "qwen2.5-vl": NativeGrounding(
        "qwen2.5-vl",
        "native Qwen2.5-VL grounding (bbox_2d, input pixels)",
        parse_qwen2_5_vl,
        absolute=True,
    ),
}


def native_for(family: str) -> NativeGrounding | None:
    """The family's native grounding, or None when it has none (a detector is used)."""
    return NATIVE.get(family)
