"""Total parsers of model grounding text: whatever the text, a list of detections comes back.

Each family writes boxes its own way:

| family     | shape                                             | frame                         |
|------------|---------------------------------------------------|-------------------------------|
| Qwen3-VL   | `[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}]` | 0–1000 of the image           |
| Qwen2.5-VL | the same JSON                                     | pixels of the processor input |
| Florence-2 | `cat<loc_52><loc_333><loc_932><loc_774>`          | 1000 bins (per mille)         |
| PaliGemma  | `<loc0256><loc0128><loc0768><loc0896> cat ; ...`  | 1024 bins, y first            |

Model text is untrusted: fenced or bare, with prose around it, several JSON values in a row,
truncated mid-object, with numbers as strings. Parsers keep every well-formed box, skip the
rest, never raise, and log a line when text came in but no box came out.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from typing import Any

from sightd.grounding.boxes import box_from_fractions, box_from_xyxy, box_from_yxyx
from sightd.grounding.detections import Detection, detection

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000
MAX_BOXES = 1000
MAX_ATTEMPTS = 2000
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.DOTALL)
_BOX_KEYS = ("bbox_2d", "bbox", "box_2d", "box")
_LABEL_KEYS = ("label", "name", "category", "class")
_FLORENCE = re.compile(r"([^<]*)((?:<loc_\d+>){4})")
_FLORENCE_LOC = re.compile(r"<loc_(\d+)>")
_SPECIAL = re.compile(r"</?s>|<pad>|<unk>")
_PALIGEMMA = re.compile(r"((?:<loc\d{4}>){4})\s*([^;<]*)")
_PALIGEMMA_LOC = re.compile(r"<loc(\d{4})>")


def _decoder_input(text: object) -> str:
    """The part of `text` worth scanning: thoughts dropped, fenced blocks preferred."""
    if not isinstance(text, str):
        return ""
    text = _THINK.sub("", text[:MAX_TEXT_CHARS])
    fenced = [m.group(1) for m in _FENCE.finditer(text) if m.group(1).strip()]
    return "\n".join(fenced) if fenced else text


def json_values(text: object) -> Iterator[Any]:
    """Every JSON object or array that can be decoded from `text`, in order.

    Decoding is tried at each `{`/`[`; after a success the scan resumes past that value, after
    a failure (e.g. a truncated array) at the next bracket, so complete inner objects of a
    truncated list are still found.
    """
    source = _decoder_input(text)
    decoder = json.JSONDecoder()
    i = 0
    for _ in range(MAX_ATTEMPTS):  # bounds the work on adversarial text
        starts = [p for p in (source.find("{", i), source.find("[", i)) if p >= 0]
        if not starts:
            return
        i = min(starts)
        try:
            value, end = decoder.raw_decode(source, i)
        except json.JSONDecodeError:
            i += 1
            continue
        except RecursionError:  # absurd nesting: skip the whole run of brackets
            while i < len(source) and source[i] in "[{":
                i += 1
            continue
        yield value
        i = max(end, i + 1)


def _box_dicts(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Dicts carrying a box key, found anywhere inside a decoded JSON value."""
    if depth > 20:
        return
    if isinstance(value, dict):
        if any(k in value for k in _BOX_KEYS):
            yield value
            return
        for inner in value.values():
            yield from _box_dicts(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _box_dicts(inner, depth + 1)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _four(value: Any) -> list[float] | None:
    """Four finite numbers (a list of them, or a "x1, y1, x2, y2" string), else None."""
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,]+", value.strip("[]() ")) if v]
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    numbers = [_number(v) for v in value]
    return None if any(n is None for n in numbers) else [n for n in numbers if n is not None]


def _label(item: dict[str, Any]) -> object:
    for key in _LABEL_KEYS:
        if key in item:
            return item[key]
    return None


def _json_boxes(
    text: object, frame: tuple[float, float], family: str, y_first: bool = False
) -> list[Detection]:
    out: list[Detection] = []
    for value in json_values(text):
        for item in _box_dicts(value):
            coords = next((_four(item[k]) for k in _BOX_KEYS if k in item), None)
            if coords is None:
                continue
            box = box_from_yxyx(coords, frame) if y_first else box_from_xyxy(coords, frame)
            if box is not None:
                out.append(detection(box, _label(item)))
            if len(out) >= MAX_BOXES:
                return out
    return _report(out, text, family)


def _report(found: list[Detection], text: object, family: str) -> list[Detection]:
    if not found and isinstance(text, str) and text.strip():
        log.info("no boxes in %s output: %r", family, text[:200])
    return found


def parse_qwen3_vl(text: object) -> list[Detection]:
    """Qwen3-VL: `bbox_2d` [x1, y1, x2, y2] relative to the image on a 0–1000 scale."""
    return _json_boxes(text, (1000.0, 1000.0), "qwen3-vl")


def parse_qwen2_5_vl(text: object, frame_px: tuple[int, int]) -> list[Detection]:
    """Qwen2.5-VL: `bbox_2d` [x1, y1, x2, y2] in pixels of the resized input (width, height)."""
    return _json_boxes(text, (float(frame_px[0]), float(frame_px[1])), "qwen2.5-vl")


def parse_gemini(text: object) -> list[Detection]:
    """Gemini's own form: `box_2d` [ymin, xmin, ymax, xmax] on a 0–1000 scale."""
    return _json_boxes(text, (1000.0, 1000.0), "gemini", y_first=True)


def parse_florence2(text: object) -> list[Detection]:
    """Florence-2 `<OD>`-style text: a label, then one or more groups of four `<loc_N>` bins
    (x1, y1, x2, y2; N in 0..999). Florence quantises a coordinate c of a side s to
    floor(c / s * 1000), the same per-mille number as Gemini's 0–1000 scale, so N is kept."""
    source = _SPECIAL.sub("", _decoder_input(text))
    out: list[Detection] = []
    label = ""
    for match in _FLORENCE.finditer(source):
        if match.group(1).strip():
            label = match.group(1).strip()
        bins = [int(n) for n in _FLORENCE_LOC.findall(match.group(2))]
        if any(b > 999 for b in bins):
            continue
        x0, y0, x1, y1 = (b / 1000 for b in bins)
        box = box_from_fractions(x0, y0, x1, y1)
        if box is not None:
            out.append(detection(box, label))
        if len(out) >= MAX_BOXES:
            break
    return _report(out, text, "florence-2")


def parse_paligemma(text: object) -> list[Detection]:
    """PaliGemma `detect` text: four `<locNNNN>` (y1, x1, y2, x2; 0..1023 of 1024 bins), then
    the label; detections separated by `;`."""
    source = _decoder_input(text)
    out: list[Detection] = []
    for match in _PALIGEMMA.finditer(source):
        bins = [int(n) for n in _PALIGEMMA_LOC.findall(match.group(1))]
        if any(b > 1023 for b in bins):
            continue
        box = box_from_yxyx([float(b) for b in bins], (1024.0, 1024.0))
        if box is not None:
            out.append(detection(box, match.group(2).strip()))
        if len(out) >= MAX_BOXES:
            break
    return _report(out, text, "paligemma")
