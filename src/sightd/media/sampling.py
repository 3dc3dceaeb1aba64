"""Which instants of a video to show the model: pure arithmetic, no decoding.

Times are seconds on the file's own clock, measured from its start (`VideoInfo.start_time_s`):
the clock players show, and the one clip offsets (`videoMetadata.startOffset`) refer to.

The rule for "the frame at t" (applied by `sightd.media.video.iter_frames`): the frame **on
screen** at t, i.e. the last frame whose presentation time is ≤ t; a t before the first frame
gets the first frame. This is what ffmpeg's `fps=R:round=up` filter returns, and it never shows
the model a frame from after the moment it is told about. A frame answers at most one target:
targets that fall on the same frame (a gap in a variable-rate stream, or sampling faster than
the video's own rate) yield it once.

Targets are `start + k / fps` for k = 0, 1, … while below the clip's end, as Gemini samples
(1 fps by default, `videoMetadata.fps` in (0, 24]). When the clip needs more frames than the
context allows, `max_frames` targets are spread uniformly over the clip instead; the frames then
still carry their true timestamps, so the model is never told a wrong time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sightd.errors import InvalidArgument

DEFAULT_FPS = 1.0
MAX_FPS = 24.0
_EPS_S = 1e-6  # float noise in offsets such as 0.1 + 0.2


@dataclass(frozen=True)
class SamplingPlan:
    """The target times of one video part and how they were chosen.

    `fps` is the rate actually used: the requested one, or lower when `budget_limited` (then the
    targets are uniform, `(clip_end_s - clip_start_s) / len(targets_s)` apart).
    """

    targets_s: tuple[float, ...]
    clip_start_s: float
    clip_end_s: float
    fps: float
    budget_limited: bool

    @property
    def clip_s(self) -> float:
        return self.clip_end_s - self.clip_start_s


def plan_targets(
    duration_s: float,
    *,
    fps: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    max_frames: int | None = None,
    video_fps: float | None = None,
    field: str = "video_metadata",
) -> SamplingPlan:
    """Target times for a video of `duration_s` seconds, clipped to [start_s, end_s).

    `fps` defaults to 1; it is capped at `video_fps` (the stream's own rate, when known) so that
    the frame count, and so the token count, matches the frames that exist. An `end_s` past the
    end is clamped to the duration. `max_frames` (≥ 1) is the context budget. Bad offsets raise
    `InvalidArgument` naming `{field}.start_offset`, `{field}.end_offset` or `{field}.fps`.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if not duration_s > 0 or not math.isfinite(duration_s):
        raise InvalidArgument(f"the video has no duration ({duration_s}s)", field=field)
    rate = validate_fps(fps, field=f"{field}.fps")
    if video_fps is not None and video_fps > 0:
        rate = min(rate, video_fps)
    start, end = clip_bounds(duration_s, start_s, end_s, field=field)
    count = max(1, math.ceil((end - start) * rate - _EPS_S))
    if max_frames is not None and count > max_frames:
        step = (end - start) / max_frames
        targets = tuple(start + i * step for i in range(max_frames))
        return SamplingPlan(targets, start, end, max_frames / (end - start), True)
    return SamplingPlan(tuple(start + k / rate for k in range(count)), start, end, rate, False)


def validate_fps(fps: float | None, *, field: str = "video_metadata.fps") -> float:
    """`fps`, or the default 1.0 when None; outside (0, 24] it is an `InvalidArgument`."""
    if fps is None:
        return DEFAULT_FPS
    if not (0 < fps <= MAX_FPS) or not math.isfinite(fps):
        raise InvalidArgument(f"fps must be in (0, {MAX_FPS:g}], got {fps}.", field=field)
    return float(fps)


def clip_bounds(
    duration_s: float,
    start_s: float | None,
    end_s: float | None,
    *,
    field: str = "video_metadata",
) -> tuple[float, float]:
    """The clip [start, end) in seconds: defaults 0 and the duration, end clamped to it."""
    start = 0.0 if start_s is None else float(start_s)
    end = duration_s if end_s is None else float(end_s)
    for name, value in (("start_offset", start), ("end_offset", end)):
        if value < 0 or not math.isfinite(value):
            raise InvalidArgument(
                f"{name} must be a non-negative duration, got {value:g}s.",
                field=f"{field}.{name}",
            )
    if end_s is not None and start >= end:
        raise InvalidArgument(
            f"start_offset ({start:g}s) must be before end_offset ({end:g}s).",
            field=f"{field}.end_offset",
        )
    if start >= duration_s:
        raise InvalidArgument(
            f"start_offset ({start:g}s) is not before the end of the video ({duration_s:g}s).",
            field=f"{field}.start_offset",
        )
    return start, min(end, duration_s)


def timestamp_mmss(t_s: float) -> str:
    """A time as Gemini writes it in prompts and answers: MM:SS (minutes may exceed 59)."""
    whole = max(0, int(t_s + _EPS_S))
    return f"{whole // 60:02d}:{whole % 60:02d}"
