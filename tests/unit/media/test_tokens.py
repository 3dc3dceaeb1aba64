"""Gemini's media token rules, table-driven."""

from __future__ import annotations

import math

import pytest

from sightd.media import tokens


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1, 1, 258),
        (384, 384, 258),
        (384, 100, 258),
        (385, 384, 4 * 258),  # unit 256: 2 × 2 tiles
        (384, 385, 4 * 258),
        (960, 540, 6 * 258),  # the pages' example: unit 360, 3 × 2 tiles = 1548
        (540, 960, 6 * 258),  # portrait: 2 × 3
        (1024, 1024, 4 * 258),  # unit 682: 2 × 2
        (768, 768, 4 * 258),  # unit 512: 2 × 2
        (1920, 1080, 6 * 258),  # unit 720: 3 × 2
        (1080, 1920, 6 * 258),
        (4032, 3024, 4 * 258),  # 12 MP photo, unit 2016: 2 × 2
        (3024, 4032, 4 * 258),
        (1000, 1000, 4 * 258),  # unit 666: 2 × 2
        (1000, 200, 4 * 258),  # unit floor(133) < 256 → 256: 4 × 1
        (10000, 1, 40 * 258),  # unit 0 without the floor; 256 → 40 × 1
        (1, 10000, 40 * 258),
        (100000, 384, 391 * 2 * 258),  # unit 256: 391 × 2
    ],
)
def test_image_tokens(width: int, height: int, expected: int) -> None:
    assert tokens.image_tokens(width, height) == expected
    assert tokens.image_tokens(width, height) % tokens.IMAGE_TOKENS == 0


def test_image_tokens_crop_unit_never_below_minimum() -> None:
    for width in (385, 1000, 5000, 10**6):
        for height in (1, 2, 3, 100, 383):
            unit = tokens.MIN_CROP_UNIT_PX
            tiles = tokens.image_tokens(width, height) // tokens.IMAGE_TOKENS
            assert tiles == math.ceil(width / unit) * math.ceil(height / unit)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (-1, 5)])
def test_image_tokens_rejects_empty_sizes(width: int, height: int) -> None:
    with pytest.raises(ValueError):
        tokens.image_tokens(width, height)


@pytest.mark.parametrize(
    ("n_frames", "audio_s", "low_res", "expected"),
    [
        (0, 0.0, False, 0),
        (1, 0.0, False, 258),
        (1, 0.0, True, 66),
        (10, 10.0, False, 10 * 258 + 320),  # ≈ 300 tokens a second, as the pages say
        (10, 10.0, True, 10 * 66 + 320),  # ≈ 100 tokens a second at low resolution
        (60, 60.0, False, 60 * 258 + 60 * 32),
        (3, 0.5, False, 3 * 258 + 16),
        (0, 1 / 3, False, 11),  # 10.67 tokens: a started token counts
        (0, 0.1 * 3 * 10, False, 96),  # 3.0000000000000004 s: float noise adds nothing
        (5, -1.0, False, 5 * 258),
    ],
)
def test_video_tokens(n_frames: int, audio_s: float, low_res: bool, expected: int) -> None:
    assert tokens.video_tokens(n_frames, audio_s, low_res) == expected


def test_video_token_constants() -> None:
    assert (tokens.VIDEO_FRAME_TOKENS, tokens.VIDEO_FRAME_TOKENS_LOW) == (258, 66)
    assert tokens.AUDIO_TOKENS_PER_S == 32
    with pytest.raises(ValueError):
        tokens.video_tokens(-1, 0, False)
