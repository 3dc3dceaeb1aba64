"""Segmentation masks as Gemini returns them: a grayscale PNG probability map (0–255) of the
box region, as a `data:image/png;base64,` URL the client resizes to the box and thresholds.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

DATA_URL_PREFIX = "data:image/png;base64,"
MAX_MASK_SIDE_PX = 1024


def probabilities_to_u8(prob: np.ndarray) -> np.ndarray:
    """Probabilities in 0..1 (any float array) → uint8 0..255, NaN as 0."""
    clean = np.nan_to_num(np.asarray(prob, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    out: np.ndarray = np.clip(np.rint(clean * 255.0), 0, 255).astype(np.uint8)
    return out


def mask_data_url(prob_u8: np.ndarray) -> str:
    """A 2-D uint8 probability map → `data:image/png;base64,...` (an "L" mode PNG).

    Maps larger than 1024 px on a side are downscaled: the client resizes to the box anyway.
    """
    array = np.asarray(prob_u8, dtype=np.uint8)
    if array.ndim != 2 or 0 in array.shape:
        array = np.zeros((1, 1), dtype=np.uint8)
    image = Image.fromarray(array, mode="L")
    if max(image.size) > MAX_MASK_SIDE_PX:
        image.thumbnail((MAX_MASK_SIDE_PX, MAX_MASK_SIDE_PX), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return DATA_URL_PREFIX + base64.b64encode(buf.getvalue()).decode("ascii")


def decode_mask(url: str) -> np.ndarray:
    """The uint8 map inside a mask data URL (for tests and clients written in Python)."""
    if not url.startswith(DATA_URL_PREFIX):
        raise ValueError("not a PNG data URL")
    data = base64.b64decode(url.removeprefix(DATA_URL_PREFIX))
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"))
