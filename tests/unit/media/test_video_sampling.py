"""`plan_targets`: which instants of a video are shown, table-driven."""

from __future__ import annotations

import pytest

from sightd.errors import InvalidArgument
from sightd.media.sampling import clip_bounds, plan_targets, timestamp_mmss, validate_fps


@pytest.mark.parametrize(
    ("duration_s", "kwargs", "targets"),
    [
        # default: 1 fps from 0 while below the end
        (5.0, {}, [0, 1, 2, 3, 4]),
        (5.5, {}, [0, 1, 2, 3, 4, 5]),
        (4.999, {}, [0, 1, 2, 3, 4]),
        (0.4, {}, [0]),  # a short video still gives its first frame
        (4.0, {"fps": 0.5}, [0, 2]),
        (5.0, {"fps": 0.5}, [0, 2, 4]),
        (1.0, {"fps": 5}, [0, 0.2, 0.4, 0.6, 0.8]),
        (0.3, {"fps": 24}, [k / 24 for k in range(8)]),
        (100.0, {"fps": 0.05}, [0, 20, 40, 60, 80]),
        # clips: targets start at the clip start, end clamped to the duration
        (10.0, {"start_s": 2.5, "end_s": 5}, [2.5, 3.5, 4.5]),
        (10.0, {"start_s": 8}, [8, 9]),
        (10.0, {"end_s": 3}, [0, 1, 2]),
        (10.0, {"start_s": 8, "end_s": 50}, [8, 9]),
        (10.0, {"start_s": 9.9}, [9.9]),
        (10.0, {"start_s": 1, "end_s": 2, "fps": 4}, [1, 1.25, 1.5, 1.75]),
        # fps above the video's own rate is capped at it
        (2.0, {"fps": 24, "video_fps": 2}, [0, 0.5, 1, 1.5]),
        (2.0, {"fps": 1, "video_fps": 30}, [0, 1]),
        # budget: uniform over the clip, from its start
        (100.0, {"max_frames": 4}, [0, 25, 50, 75]),
        (10.0, {"start_s": 2, "end_s": 6, "fps": 10, "max_frames": 2}, [2, 4]),
        (5.0, {"max_frames": 5}, [0, 1, 2, 3, 4]),  # exactly at budget: rate unchanged
        (5.0, {"max_frames": 1}, [0]),
    ],
)
def test_targets(duration_s: float, kwargs: dict[str, float], targets: list[float]) -> None:
    plan = plan_targets(duration_s, **kwargs)  # type: ignore[arg-type]
    assert plan.targets_s == pytest.approx(targets)


def test_plan_reports_rate_and_budget() -> None:
    plan = plan_targets(100.0, max_frames=4)
    assert plan.budget_limited and plan.fps == pytest.approx(0.04)
    assert (plan.clip_start_s, plan.clip_end_s, plan.clip_s) == (0, 100, 100)
    plan = plan_targets(10.0, fps=2, start_s=1, end_s=3)
    assert not plan.budget_limited and plan.fps == 2 and plan.clip_s == 2
    # float offsets do not add a frame: 0.3 s at 10 fps is 3 frames, not 4
    assert len(plan_targets(10.0, fps=10, start_s=0.1, end_s=0.4).targets_s) == 3


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"start_s": -1}, "p.video_metadata.start_offset", "non-negative"),
        ({"end_s": -2}, "p.video_metadata.end_offset", "non-negative"),
        ({"start_s": 5, "end_s": 5}, "p.video_metadata.end_offset", "before end_offset"),
        ({"start_s": 6, "end_s": 2}, "p.video_metadata.end_offset", "before end_offset"),
        ({"end_s": 0}, "p.video_metadata.end_offset", "before end_offset"),
        ({"start_s": 10}, "p.video_metadata.start_offset", "end of the video (10s)"),
        ({"start_s": 12, "end_s": 20}, "p.video_metadata.start_offset", "end of the video"),
        ({"fps": 0}, "p.video_metadata.fps", "(0, 24]"),
        ({"fps": -1}, "p.video_metadata.fps", "(0, 24]"),
        ({"fps": 25}, "p.video_metadata.fps", "(0, 24]"),
        ({"fps": float("nan")}, "p.video_metadata.fps", "(0, 24]"),
    ],
)
def test_invalid_clip(kwargs: dict[str, float], field: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        plan_targets(10.0, field="p.video_metadata", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert message in info.value.message


def test_bad_duration_and_budget() -> None:
    with pytest.raises(InvalidArgument, match="no duration"):
        plan_targets(0.0)
    with pytest.raises(ValueError, match="max_frames"):
        plan_targets(10.0, max_frames=0)


def test_helpers() -> None:
    assert validate_fps(None) == 1.0 and validate_fps(24) == 24.0
    assert clip_bounds(10.0, None, None) == (0.0, 10.0)
    assert clip_bounds(10.0, 2, 30) == (2.0, 10.0)


@pytest.mark.parametrize(
    ("t_s", "text"),
    [(0, "00:00"), (4.9999999, "00:05"), (4.96, "00:04"), (75, "01:15"), (3725, "62:05")],
)
def test_timestamp_mmss(t_s: float, text: str) -> None:
    assert timestamp_mmss(t_s) == text
