"""Box geometry: frames ↔ Gemini 0–1000 (y first), round trips on non-square, resized and
EXIF-rotated images, the way a client converts the answer back to pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sightd.grounding.boxes import (
    box_from_fractions,
    box_from_xyxy,
    box_from_yxyx,
    iou,
    to_pixels,
)
from sightd.grounding.detections import Box1000
from sightd.media.image import decode_image


def _client_pixels(box: list[int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """What the page's detection example computes from an answer (x0, y0, x1, y1)."""
    width, height = size
    return (
        int(box[1] / 1000 * width),
        int(box[0] / 1000 * height),
        int(box[3] / 1000 * width),
        int(box[2] / 1000 * height),
    )


@pytest.mark.parametrize(
    ("xyxy", "frame", "expected"),
    [
        ((64, 48, 320, 240), (640, 480), [100, 100, 500, 500]),  # landscape
        ((0, 0, 480, 640), (480, 640), [0, 0, 1000, 1000]),  # portrait, whole image
        ((320, 240, 64, 48), (640, 480), [100, 100, 500, 500]),  # corners swapped
        ((-10, -10, 700, 500), (640, 480), [0, 0, 1000, 1000]),  # clipped to the frame
        ((1, 1, 1.4, 1.4), (3000, 3000), None),  # rounds to nothing
        ((10, 10, 10, 50), (100, 100), None),  # zero width
        ((0, 0, 1, 1), (0, 100), None),  # empty frame
    ],
)
def test_box_from_xyxy(
    xyxy: tuple[float, ...], frame: tuple[int, int], expected: list[int] | None
) -> None:
    box = box_from_xyxy(xyxy, frame)
    assert (box.as_list() if box else None) == expected


def test_y_first_input() -> None:
    box = box_from_yxyx((48, 64, 240, 320), (640, 480))
    assert box is not None and box.as_list() == [100, 100, 500, 500]


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (1000, 1000), (333, 77), (4032, 3024)])
def test_pixel_round_trip_within_a_pixel(size: tuple[int, int]) -> None:
    width, height = size
    rng = np.random.default_rng(0)
    for _ in range(50):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        box = box_from_xyxy((x0, y0, x1 + 1, y1 + 1), size)
        if box is None:
            continue
        back = _client_pixels(box.as_list(), size)
        assert back == to_pixels(box, size)
        # 0–1000 keeps a thousandth of the side: the round trip is within that, plus one pixel
        # for the client's int() truncation.
        tol_x, tol_y = width / 1000 + 1, height / 1000 + 1
        assert abs(back[0] - x0) <= tol_x and abs(back[2] - (x1 + 1)) <= tol_x
        assert abs(back[1] - y0) <= tol_y and abs(back[3] - (y1 + 1)) <= tol_y


def test_a_resized_input_maps_to_the_original() -> None:
    """Boxes found on the downscaled image the model saw land on the original's pixels."""
    original = Image.new("RGB", (1600, 1200), "white")
    original.paste((200, 0, 0), (400, 300, 1200, 900))
    buf = io.BytesIO()
    original.save(buf, format="PNG")
    part = decode_image(buf.getvalue(), max_side_px=800, max_pixels=10**8)
    assert part.image.size == (800, 600) and part.source_size_px == (1600, 1200)
    red = np.argwhere(np.asarray(part.image)[:, :, 1] < 128)
    (y0, x0), (y1, x1) = red.min(0), red.max(0) + 1
    box = box_from_xyxy((x0, y0, x1, y1), part.image.size)
    assert box is not None and box.as_list() == [250, 250, 750, 750]
    assert _client_pixels(box.as_list(), part.source_size_px) == (400, 300, 1200, 900)


def test_qwen_grid_frame_is_exact() -> None:
    """Qwen2.5-VL's 28-px grid changes the aspect a little; fractions of it are still exact."""
    frame = (644, 476)  # smart_resize of 640x480
    box = box_from_xyxy((161, 119, 483, 357), frame)
    assert box is not None and box.as_list() == [250, 250, 750, 750]
    assert _client_pixels(box.as_list(), (640, 480)) == (160, 120, 480, 360)


def test_exif_rotated_photo_boxes_refer_to_the_upright_image() -> None:
    """A phone JPEG stored 400x200 with orientation 6 shows upright as 200x400; the box of a
    mark in the upright image is what the client gets back (the page's advice: verify images
    are correctly rotated)."""
    stored = Image.new("RGB", (400, 200), "white")
    stored.paste((0, 0, 200), (0, 0, 100, 50))  # top-left corner of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", exif=exif, quality=95)
    part = decode_image(buf.getvalue(), max_side_px=4096, max_pixels=10**8)
    assert part.source_size_px == (200, 400)
    pixels = np.asarray(part.image).astype(int)
    blue = np.argwhere(pixels[:, :, 2] - pixels[:, :, 0] > 100)
    (y0, x0), (y1, x1) = blue.min(0), blue.max(0) + 1
    box = box_from_xyxy((x0, y0, x1, y1), part.image.size)
    assert box is not None
    # Rotating 90° clockwise moves the stored top-left 100x50 block to the top-right 50x100.
    x0c, y0c, x1c, y1c = _client_pixels(box.as_list(), part.source_size_px)
    assert abs(x0c - 150) <= 2 and abs(x1c - 200) <= 2
    assert abs(y0c - 0) <= 2 and abs(y1c - 100) <= 2


def test_fractions_and_iou() -> None:
    a = box_from_fractions(0.0, 0.0, 0.5, 0.5)
    b = box_from_fractions(0.25, 0.25, 0.75, 0.75)
    assert a is not None and b is not None
    assert iou(a, a) == 1.0
    assert iou(a, b) == pytest.approx(250 * 250 / (2 * 500 * 500 - 250 * 250))
    assert iou(a, Box1000(600, 600, 700, 700)) == 0.0
    assert box_from_fractions(float("nan"), 0, 1, 1) is None
