"""Gemini's token rules for media, as its pages state them (countTokens and usageMetadata must
report what Gemini would, whatever the served model really consumes).

Images: 258 tokens when both sides are at most 384 px; otherwise the image is cut into crop
units of floor(min(w, h) / 1.5) px and each unit (a "tile") costs 258 tokens, so 960×540 gives a
unit of 360 px, 3 × 2 tiles, 1548 tokens.

Video: 258 tokens a sampled frame (66 at low media resolution) plus 32 tokens a second of audio.
"""

from __future__ import annotations

import math

IMAGE_TOKENS = 258
"""Tokens for a small image, and for each tile of a larger one."""
SMALL_IMAGE_MAX_SIDE_PX = 384
MIN_CROP_UNIT_PX = 256
"""Floor of the crop unit. The formula divides by floor(min(w, h) / 1.5), which reaches 0 for a
1-px-high strip (10000×1) and explodes the tile count for thin banners; the pages give 256 px as
the minimum tile (Gemini 1.5 wording), so units never go below it. It only changes results for
images with one side above 384 px and the other below 384 px."""

VIDEO_FRAME_TOKENS = 258
VIDEO_FRAME_TOKENS_LOW = 66
AUDIO_TOKENS_PER_S = 32


def image_tokens(width: int, height: int) -> int:
    """Tokens Gemini charges for one image of `width`×`height` px (after EXIF orientation)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    if width <= SMALL_IMAGE_MAX_SIDE_PX and height <= SMALL_IMAGE_MAX_SIDE_PX:
        return IMAGE_TOKENS
    unit = max(MIN_CROP_UNIT_PX, math.floor(min(width, height) / 1.5))
    tiles = math.ceil(width / unit) * math.ceil(height / unit)
    return tiles * IMAGE_TOKENS


def audio_tokens(audio_s: float) -> int:
    """Tokens for `audio_s` seconds of audio (32 a second; a started second-fraction counts)."""
    if audio_s <= 0:
        return 0
    # The epsilon keeps float noise (10.000000001 s) from adding a token.
    return math.ceil(audio_s * AUDIO_TOKENS_PER_S - 1e-6)


def video_tokens(n_frames: int, audio_s: float, low_res: bool) -> int:
    """Tokens for a video: `n_frames` sampled frames plus its audio track of `audio_s` seconds.

    Pass `audio_s=0` for a video without audio. Gemini also adds a few metadata/timestamp
    tokens it does not specify; they are not counted here.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    per_frame = VIDEO_FRAME_TOKENS_LOW if low_res else VIDEO_FRAME_TOKENS
    return n_frames * per_frame + audio_tokens(audio_s)
