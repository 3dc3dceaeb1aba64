"""Box geometry: any frame's x-first corners ↔ Gemini's y-first 0–1000 integers.

Native outputs come in different frames: Qwen3-VL in 0–1000 of the image, Qwen2.5-VL in pixels
of the image as the processor resized it, Florence-2 in 1000 bins, PaliGemma in 1024 bins,
detectors in pixels. Each is turned into fractions of its frame first, then into Gemini's
integers: a resize (even one that changes the aspect slightly, like Qwen's 28-pixel grid)
maps fractions to the same fractions, so this is exact for every frame the model saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sightd.grounding.detections import NORM, Box1000


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))


def box_from_fractions(x0: float, y0: float, x1: float, y1: float) -> Box1000 | None:
    """Corners as fractions of the frame (x first, any order) → a Box1000, or None if empty.

    Values are clipped to the frame; a box that rounds to zero width or height is None.
    """
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    xa, xb = sorted((_clip01(x0), _clip01(x1)))
    ya, yb = sorted((_clip01(y0), _clip01(y1)))
    ymin, xmin, ymax, xmax = (round(v * NORM) for v in (ya, xa, yb, xb))
    if ymin >= ymax or xmin >= xmax:
        return None
    return Box1000(ymin, xmin, ymax, xmax)


def box_from_xyxy(xyxy: Sequence[float], frame: tuple[float, float]) -> Box1000 | None:
    """x-first corners in a frame of (width, height) units → a Box1000, or None if empty."""
    width, height = frame
    if width <= 0 or height <= 0 or len(xyxy) != 4:
        return None
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return box_from_fractions(x0 / width, y0 / height, x1 / width, y1 / height)


def box_from_yxyx(yxyx: Sequence[float], frame: tuple[float, float]) -> Box1000 | None:
    """y-first corners (PaliGemma, Gemini) in a (width, height) frame → a Box1000 or None."""
    if len(yxyx) != 4:
        return None
    y0, x0, y1, x1 = yxyx
    return box_from_xyxy((x0, y0, x1, y1), frame)


def to_pixels(box: Box1000, size_px: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels of `box` in an image of `size_px` (width, height).

    The same arithmetic the page's examples use (`int(v / 1000 * size)`), so a mask cropped with
    these corners lines up with the region a client cuts out.
    """
    width, height = size_px
    return (
        int(box.xmin / NORM * width),
        int(box.ymin / NORM * height),
        int(box.xmax / NORM * width),
        int(box.ymax / NORM * height),
    )


def iou(a: Box1000, b: Box1000) -> float:
    """Intersection over union of two boxes (0..1)."""
    iy = max(0, min(a.ymax, b.ymax) - max(a.ymin, b.ymin))
    ix = max(0, min(a.xmax, b.xmax) - max(a.xmin, b.xmin))
    inter = iy * ix
    area = (a.ymax - a.ymin) * (a.xmax - a.xmin) + (b.ymax - b.ymin) * (b.xmax - b.xmin)
    return inter / (area - inter) if inter else 0.0
