"""How many pixels the model sees of an image or a video frame, per `mediaResolution` level.

The request's `mediaResolution` (request-wide, or per part) is LOW, MEDIUM or HIGH (ULTRA_HIGH
is accepted and means "more"); unspecified is MEDIUM. Each family turns a level into a pixel
budget here, in one table, and the same numbers drive three things that must agree:

1. decoding: images are decoded straight to the size the model sees (`image_px`; JPEG DCT
   scaling, then one Lanczos resize) and video frames are resized to `frame_px`;
2. the processor call: `processor_kwargs` bounds the processor's own resize so that it keeps
   those sizes (it never scales them again);
3. boxes: `input_frame_px` is the processor's resize of the decoded size, which for an image
   decoded by this policy is its own size, so Qwen2.5-VL's absolute boxes convert exactly.

**Qwen (Qwen3-VL, Qwen2.5-VL)** resize to a grid of `patch × merge` px squares (32 px for
Qwen3-VL, 28 for Qwen2.5-VL), each one token for the language model and `merge²` = 4 patches
for the vision encoder. The budget is therefore stated in tokens per image (per frame for
video), the same for both families; pixels = tokens × grid².

| level  | image tokens | Qwen3-VL px (square) | Qwen2.5-VL px | frame tokens |
|--------|--------------|----------------------|---------------|--------------|
| LOW    | 144          | 147,456 (384²)       | 112,896       | 64           |
| MEDIUM | 256          | 262,144 (512²)       | 200,704       | 144          |
| HIGH   | 1,024        | 1,048,576 (1024²)    | 802,816       | 256          |
| ULTRA  | 4,096        | 4,194,304 (2048²)    | 3,211,264     | 256          |

Why MEDIUM (the default) is 256 tokens: on a 2-core CPU the vision encoder is compute-bound
(notes/engine-cost.md: Qwen3-VL-2B, float32, ~130 GFLOP/s effective). One patch costs ~0.6 GFLOP
in the 24-layer encoder plus attention (~0.1 MFLOP × patches), one prompt token ~3.4 GFLOP of
prefill. At the processor's native size a 1280×960 photo is 4,800 patches / 1,230 tokens and
took 61–75 s to the first token. 256 tokens = 1,024 patches: ~0.6 + 0.1 TFLOP of vision and
~1.0 TFLOP of prefill (with ~40 text tokens), so ~13 s to the first token for a 12 MP photo
(4000×3000 → 576×416, 234 tokens), under the 15-s goal; 307 k px (640×480, 300 tokens) would
land at ~15–17 s. LOW (144) answers in ~8 s; HIGH (1,024 tokens, ~1 MP) keeps small text legible
at ~50–60 s, and is what a GPU should be asked for. Gemini itself charges 258 tokens an image
(MEDIUM) on its older models, so MEDIUM also matches the token scale clients expect.

Frames are budgeted lower: a clip has many, and Qwen merges two consecutive frames into one
temporal patch, so a frame costs half its grid tokens (MEDIUM: 144 → 72 tokens a frame; a
20-s clip at 1 fps is 1,440 tokens). The frames come decoded no larger than
`video_frame_side_px` (512) / `video_frame_low_side_px` (256), and a budget only ever shrinks
them: HIGH cannot add detail the decoder did not keep.

**SmolVLM2** rescales an image's longest side to `size.longest_edge`, then cuts it into square
tiles of `max_image_size` (384 px for 2.2B, 512 for 256M/500M; 64 tokens each) plus one global
tile. The policy picks the longest edge in tiles: LOW 1 (the global tile only: 64 tokens),
MEDIUM 2 (up to 2×2 + 1 = 320 tokens), HIGH and ULTRA 4 (the model's own default, up to 4×4 + 1
= 1,088 tokens). Video frames (shown as images) are one tile each, as SmolVLM2's own video
processor does. The processor takes one longest edge per call, so it is the largest any image
of the prompt needs, rounded up to whole tiles; when the prompt holds video frames the whole
call is one tile per image (frames would otherwise be cut into tiles too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from sightd.errors import FailedPrecondition, InvalidArgument
from sightd.media.image import fit_longest_side

Level = Literal["low", "medium", "high", "ultra_high"]
LEVELS: tuple[Level, ...] = ("low", "medium", "high", "ultra_high")
DEFAULT_LEVEL: Level = "medium"

QWEN_IMAGE_TOKENS: dict[Level, int] = {"low": 144, "medium": 256, "high": 1024, "ultra_high": 4096}
"""Language-model tokens a still image may take, by level (see the module docstring)."""
QWEN_FRAME_TOKENS: dict[Level, int] = {"low": 64, "medium": 144, "high": 256, "ultra_high": 256}
"""Grid cells a video frame may take (two frames share one temporal patch: half as many
tokens)."""
SMOL_IMAGE_TILES: dict[Level, int] = {"low": 1, "medium": 2, "high": 4, "ultra_high": 4}
"""SmolVLM2: the image's longest side in tiles, by level."""
SMOL_FRAME_TILES = 1


def level_of(value: str | None) -> Level:
    """A request's level (`low`, `MEDIUM`, `media_resolution_high`…); None/unknown → MEDIUM."""
    if not value:
        return DEFAULT_LEVEL
    name = value.lower().removeprefix("media_resolution_")
    for level in LEVELS:
        if name == level:
            return level
    return DEFAULT_LEVEL


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(height, width) Qwen's processors resize to: multiples of `factor`, the pixel count in
    [min_pixels, max_pixels], aspect ratio kept (transformers' `smart_resize`, same rounding)."""
    if max(height, width) / max(1, min(height, width)) > 200:
        raise InvalidArgument(
            f"an image of {width}x{height} px has an aspect ratio over 200:1, which this model "
            "cannot take"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def video_smart_resize(
    num_frames: int,
    height: int,
    width: int,
    temporal_factor: int,
    factor: int,
    min_pixels: int,
    max_pixels: int,
) -> tuple[int, int]:
    """Qwen3-VL's video `smart_resize`: like `smart_resize`, but the bounds are on frames ×
    height × width (frames rounded to pairs). Needs at least `temporal_factor` frames."""
    if num_frames < temporal_factor:
        raise ValueError(f"t:{num_frames} must be larger than temporal_factor:{temporal_factor}")
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    if max(height, width) / min(height, width) > 200:
        raise InvalidArgument(
            f"a video of {width}x{height} px has an aspect ratio over 200:1, which this model "
            "cannot take"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt((num_frames * height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class QwenPolicy:
    """Qwen3-VL / Qwen2.5-VL: budgets in grid cells of `factor` px; the processor's own limits
    (`min_pixels`, `max_pixels`) still bound every size."""

    factor: int  # patch_size × merge_size
    min_pixels: int
    max_pixels: int
    total_pixels_video: bool  # Qwen3-VL's video `size` bounds frames × height × width

    def image_budget(self, level: str | None) -> int:
        """Most pixels a still image is shown at."""
        return min(self.max_pixels, QWEN_IMAGE_TOKENS[level_of(level)] * self.factor**2)

    def frame_budget(self, level: str | None) -> int:
        """Most pixels a video frame is shown at."""
        return min(self.max_pixels, QWEN_FRAME_TOKENS[level_of(level)] * self.factor**2)

    def image_px(self, size_px: tuple[int, int], level: str | None) -> tuple[int, int]:
        """(width, height) the model sees an image of `size_px` at, at `level`."""
        height, width = smart_resize(
            size_px[1], size_px[0], self.factor, self.min_pixels, self.image_budget(level)
        )
        return width, height

    def frame_px(self, size_px: tuple[int, int], level: str | None) -> tuple[int, int]:
        """(width, height) the model sees a video frame of `size_px` at, at `level`."""
        height, width = smart_resize(
            size_px[1], size_px[0], self.factor, self.factor**2, self.frame_budget(level)
        )
        return width, height

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """The processor's resize of an image of `size_px` (its own limits): the identity for
        images decoded by `image_px`, and what the backend resizes any other image to."""
        height, width = smart_resize(
            size_px[1], size_px[0], self.factor, self.min_pixels, self.max_pixels
        )
        return width, height

    def video_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """The grid size frames of `size_px` go to the video processor at (rounding only)."""
        height, width = smart_resize(
            size_px[1], size_px[0], self.factor, self.factor**2, self.max_pixels
        )
        return width, height

    def processor_kwargs(
        self, images: list[tuple[int, int]], videos: list[tuple[int, tuple[int, int]]]
    ) -> dict[str, Any]:
        """Per-call processor settings that keep every image and video at its size.

        `images` are the (already grid-sized) image sizes, `videos` (frame count, frame size).
        Each `size` is the span of pixel counts actually present, so the processor's
        `smart_resize` is the identity: the budget was applied when decoding.
        """
        out: dict[str, Any] = {}
        if images:
            areas = [w * h for w, h in images]
            out["images_kwargs"] = {
                "size": {"shortest_edge": min(areas), "longest_edge": max(areas)}
            }
        if videos:
            if self.total_pixels_video:  # bounds frames × h × w (frames padded to pairs)
                totals = [(n + 1) * w * h for n, (w, h) in videos]
                size = {"shortest_edge": self.factor**2, "longest_edge": max(totals)}
            else:
                areas = [w * h for _, (w, h) in videos]
                size = {"shortest_edge": min(areas), "longest_edge": max(areas)}
            out["videos_kwargs"] = {
                "size": size,
                "do_sample_frames": False,  # the frames are the sampled ones already
                "cap_pixels_per_frame": False,  # no further per-frame cap: sizes are final
            }
        return out


@dataclass(frozen=True)
class SmolPolicy:
    """SmolVLM2: the longest side in whole tiles of `tile` px, at most `max_edge`."""

    tile: int  # max_image_size["longest_edge"]
    max_edge: int  # size["longest_edge"], the model's own default

    def image_edge(self, level: str | None) -> int:
        """Longest side a still image is shown at."""
        return min(self.max_edge, SMOL_IMAGE_TILES[level_of(level)] * self.tile)

    def image_px(self, size_px: tuple[int, int], level: str | None) -> tuple[int, int]:
        """Decode size: the longest side at most `image_edge(level)` (never upscaled here; the
        processor scales every image's longest side to the call's edge)."""
        return fit_longest_side(size_px, self.image_edge(level))

    def frame_px(self, size_px: tuple[int, int], level: str | None) -> tuple[int, int]:
        return fit_longest_side(size_px, min(self.max_edge, SMOL_FRAME_TILES * self.tile))

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        return size_px

    def call_edge(self, images: list[tuple[int, int]], has_frames: bool) -> int:
        """The processor's longest edge for one call: whole tiles of the largest image."""
        if has_frames or not images:
            return self.tile
        longest = max(max(size) for size in images)
        tiles = max(1, math.ceil(longest / self.tile))
        return min(self.max_edge, tiles * self.tile)

    def processor_kwargs(self, images: list[tuple[int, int]], has_frames: bool) -> dict[str, Any]:
        if not images:
            return {}
        edge = self.call_edge(images, has_frames)
        return {
            "images_kwargs": {
                "size": {"longest_edge": edge},
                "do_image_splitting": edge > self.tile,
            }
        }


ResolutionPolicy = QwenPolicy | SmolPolicy


def policy_for(family: str, image_processor: Any) -> ResolutionPolicy:
    """The policy of `family` over its loaded image processor's geometry."""
    size = dict(getattr(image_processor, "size", None) or {})
    if family.startswith("qwen"):
        patch = int(image_processor.patch_size)
        merge = int(image_processor.merge_size)
        min_pixels = size.get("shortest_edge") or getattr(image_processor, "min_pixels", None)
        max_pixels = size.get("longest_edge") or getattr(image_processor, "max_pixels", None)
        if not min_pixels or not max_pixels:
            raise FailedPrecondition("the Qwen image processor has no min/max pixels")
        return QwenPolicy(
            factor=patch * merge,
            min_pixels=int(min_pixels),
            max_pixels=int(max_pixels),
            total_pixels_video=family == "qwen3-vl",
        )
    tile = dict(getattr(image_processor, "max_image_size", None) or {}).get("longest_edge")
    edge = size.get("longest_edge")
    if not tile or not edge:
        raise FailedPrecondition(f"the {family} image processor has no tile or longest edge")
    return SmolPolicy(tile=int(tile), max_edge=int(edge))
