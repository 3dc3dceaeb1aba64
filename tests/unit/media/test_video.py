"""`probe_video` and `iter_frames` on videos made in code whose pixels name their frame.

The reference for "the frame at t" is computed here independently: decode every frame with
plain PyAV, then take the last frame whose time is ≤ t (the first frame for a t before it).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("av")

import itertools

from sightd.errors import InvalidArgument
from sightd.media import video
from sightd.media.sampling import plan_targets
from sightd.media.video import SampledFrame, iter_frames, probe_video
from tests.video_factory import (
    FORMATS,
    Format,
    make_audio_only,
    make_video,
    read_code,
    second_color,
)

MakeFile = Callable[..., Path]


@pytest.fixture(scope="module")
def make(tmp_path_factory: pytest.TempPathFactory) -> MakeFile:
    """`make(name, **make_video_kwargs)` → a video encoded once per module."""
    root = tmp_path_factory.mktemp("videos")
    cache: dict[str, Path] = {}

    def build(name: str, **kwargs: Any) -> Path:
        if name not in cache:
            fmt = kwargs.get("fmt", "mp4")
            suffix = FORMATS[fmt].suffix if isinstance(fmt, str) else fmt.suffix
            cache[name] = make_video(root / f"{name}{suffix}", **kwargs)
        return cache[name]

    return build


def reference(path: Path, targets: list[float]) -> list[tuple[int, float]]:
    """(target index, frame time) by full decode and the display rule, duplicates dropped."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = video.origin_s(container)
        times = [float(f.pts * stream.time_base) - origin for f in container.decode(stream)]
    out: list[tuple[int, float]] = []
    for i, target in enumerate(targets):
        shown = [t for t in times if t <= target + 1e-6]
        t = max(shown) if shown else min(times)
        if not out or t != out[-1][1]:
            out.append((i, t))
    return out


def assert_same(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert [t for _, t in got] == pytest.approx([t for _, t in expected], abs=1e-6)


def sampled(path: Path | bytes, targets: list[float], **kwargs: Any) -> list[SampledFrame]:
    return list(iter_frames(path, targets, max_side_px=kwargs.pop("max_side_px", 128), **kwargs))


def code_time_s(frame: SampledFrame, fps: float) -> float:
    """The time the frame's pixels say it was encoded at (second known modulo 64)."""
    second, index = read_code(frame.image)
    second += 64 * round((frame.time_s - second) / 64)
    return second + index / fps


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_container_decodes(make: MakeFile, name: str) -> None:
    path = make(f"all-{name}", seconds=3, fps=10, fmt=name, with_audio=True)
    fps = FORMATS[name].fps or 10
    info = probe_video(path)
    assert info.duration_s == pytest.approx(3.0, abs=0.15)
    # H.263's QCIF has 12:11 pixels (SAR 12:11, DAR 4:3): shown 192 px wide, as ffmpeg does
    assert (info.width_px, info.height_px) == {"3gp": (192, 144)}.get(name, (96, 64))
    assert info.fps == pytest.approx(fps) and info.has_audio and info.rotation_deg == 0
    frames = sampled(path, [0, 1, 2, 2.5])
    assert [f.index for f in frames] == [0, 1, 2, 3]
    for f, target in zip(frames, [0, 1, 2, 2.5], strict=True):
        assert f.image.mode == "RGB" and max(f.image.size) <= 128
        assert abs(f.time_s - code_time_s(f, fps)) < 0.5 / fps  # the time is the frame's own
        assert target - 1 / fps < f.time_s <= target + 1e-6  # the frame on screen at target


@pytest.mark.parametrize(("fps", "targets"), [(30, [0, 1, 2, 3.5]), (30000 / 1001, [0, 1, 2])])
def test_frames_carry_true_times(make: MakeFile, fps: float, targets: list[float]) -> None:
    path = make(f"true-{fps:.3f}", seconds=4, fps=fps)
    frames = sampled(path, targets)
    rate = Fraction(fps).limit_denominator(1001)
    for f, target in zip(frames, targets, strict=True):
        k = int(target * rate + Fraction(1, 10**6))  # last frame with k / rate ≤ target
        assert f.time_s == pytest.approx(float(k / rate), abs=1e-6)
        assert abs(code_time_s(f, fps) - f.time_s) < 0.5 / fps
    assert_same([(f.index, f.time_s) for f in frames], reference(path, targets))


@pytest.mark.parametrize("fps", [0.05, 0.2, 1.0, 7.0])
def test_sparse_sampling_equals_straight_decoding(
    make: MakeFile, monkeypatch: pytest.MonkeyPatch, fps: float
) -> None:
    """Long GOPs with B-frames: seeking over target-free GOPs and skipping unreferenced frames
    far from a target must pick exactly the frames a full decode picks."""
    path = make("long-gop", seconds=60, fps=25, gop=100, bframes=3)
    seeks: list[float] = []
    real_seek = video._Sampler._seek

    def counting(self: Any, to_s: float, target_s: float, forward_from: int | None) -> bool:
        seeks.append(target_s)
        return real_seek(self, to_s, target_s, forward_from)

    monkeypatch.setattr(video._Sampler, "_seek", counting)
    targets = list(plan_targets(60.0, fps=fps).targets_s)
    assert_same([(f.index, f.time_s) for f in sampled(path, targets)], reference(path, targets))
    if fps <= 0.2:
        assert seeks, "a GOP without targets should have been skipped by seeking"


def test_a_seek_that_lands_after_the_target_steps_back(
    make: MakeFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some demuxers seek by decode time and land on a keyframe shown after the target; the
    sampler then seeks one keyframe earlier. Simulated by overshooting forward seeks."""
    path = make("long-gop", seconds=60, fps=25, gop=100, bframes=3)  # keyframes every 4 s
    calls: list[tuple[float, bool]] = []
    real_seek = video._Sampler._seek

    def overshooting(self: Any, to_s: float, target_s: float, forward_from: int | None) -> bool:
        calls.append((to_s, forward_from is not None))
        return real_seek(self, to_s + 4.5 if forward_from else to_s, target_s, forward_from)

    monkeypatch.setattr(video._Sampler, "_seek", overshooting)
    targets = [0.0, 20.0, 41.0]
    assert_same([(f.index, f.time_s) for f in sampled(path, targets)], reference(path, targets))
    assert [forward for _, forward in calls].count(False) >= 1  # stepped back at least once


def test_clip_targets_and_budget(make: MakeFile) -> None:
    path = make("long-gop", seconds=60, fps=25, gop=100, bframes=3)
    plan = plan_targets(60.0, start_s=41.3, end_s=45, fps=2)
    frames = sampled(path, list(plan.targets_s))
    expected = [41.28, 41.8, 42.28, 42.8, 43.28, 43.8, 44.28, 44.8]  # frames are 25 fps
    assert [round(f.time_s, 2) for f in frames] == expected
    plan = plan_targets(60.0, max_frames=3)
    assert [f.time_s for f in sampled(path, list(plan.targets_s))] == pytest.approx([0, 20, 40])


def test_variable_frame_rate(make: MakeFile) -> None:
    times = [0, 0.1, 0.5, 0.55, 2.2, 2.3, 4.0, 4.05, 4.5]
    path = make("vfr", times_s=times, fps=10)
    frames = sampled(path, [0, 1, 2, 3, 4])
    # 2 s still shows the 0.55 s frame, already given for 1 s: yielded once
    assert [(f.index, round(f.time_s, 3)) for f in frames] == [(0, 0), (1, 0.55), (3, 2.3), (4, 4)]


def test_stream_that_does_not_start_at_zero(make: MakeFile) -> None:
    fmt = Format("matroska", "libx264", "aac", ".mkv", "video/x-matroska")
    path = make("late-start", seconds=3, fps=10, fmt=fmt, start_pts_s=5.0, with_audio=True)
    info = probe_video(path)
    assert info.start_time_s == pytest.approx(5.0) and info.duration_s == pytest.approx(3, abs=0.1)
    frames = sampled(path, [0, 1, 2])
    assert [f.time_s for f in frames] == pytest.approx([0, 1, 2])
    assert [read_code(f.image) for f in frames] == [(0, 0), (1, 0), (2, 0)]


def test_rotation_is_applied(make: MakeFile) -> None:
    path = make("rotated", seconds=2, fps=10, size=(96, 64), rotation_deg=90)
    info = probe_video(path)
    assert (info.width_px, info.height_px, info.rotation_deg) == (64, 96, 90)
    image = sampled(path, [1])[0].image
    assert image.size == (64, 96)
    # displayed turned 90° counter-clockwise (as ffmpeg shows it): the top half is now left
    left = image.getpixel((8, 48))
    assert isinstance(left, tuple)
    assert all(abs(a - b) < 12 for a, b in zip(left, second_color(1), strict=True))


@pytest.mark.parametrize(("max_side_px", "size"), [(48, (48, 32)), (64, (64, 43)), (500, (96, 64))])
def test_downscale_keeps_aspect(make: MakeFile, max_side_px: int, size: tuple[int, int]) -> None:
    path = make("all-mp4", seconds=3, fps=10, fmt="mp4", with_audio=True)
    assert sampled(path, [0], max_side_px=max_side_px)[0].image.size == size


def test_raw_stream_without_timestamps_or_duration(make: MakeFile) -> None:
    fmt = Format("h264", "libx264", "aac", ".h264", "video/h264")
    path = make("raw", seconds=3, fps=10, fmt=fmt)
    assert probe_video(path).duration_s == pytest.approx(3.0)
    frames = sampled(path, [0, 1, 2.95])
    assert [round(f.time_s, 3) for f in frames] == [0, 1, 2.9]
    assert [read_code(f.image) for f in frames] == [(0, 0), (1, 0), (2, 9)]


def test_bytes_source_matches_path(make: MakeFile) -> None:
    path = make("all-webm-vp9", seconds=3, fps=10, fmt="webm-vp9", with_audio=True)
    from_bytes = [(f.index, f.time_s) for f in sampled(path.read_bytes(), [0, 1, 2])]
    assert from_bytes == [(f.index, f.time_s) for f in sampled(path, [0, 1, 2])]
    assert probe_video(path.read_bytes()) == probe_video(path)


def test_targets_past_the_end_get_the_last_frame_once(make: MakeFile) -> None:
    path = make("all-mp4", seconds=3, fps=10, fmt="mp4", with_audio=True)
    frames = sampled(path, [2.0, 5.0, 6.0])
    assert [(f.index, round(f.time_s, 3)) for f in frames] == [(0, 2.0), (1, 2.9)]


def test_generator_streams_and_stops_early(make: MakeFile) -> None:
    path = make("long-gop", seconds=60, fps=25, gop=100, bframes=3)
    frames = iter_frames(path, [float(t) for t in range(60)], max_side_px=64)
    first = next(frames)
    assert first.time_s == 0
    frames.close()  # closes the container; nothing else was decoded or kept


def test_unsorted_targets_are_a_bug() -> None:
    with pytest.raises(ValueError, match="ascending"):
        list(iter_frames(b"", [2.0, 1.0], max_side_px=64))
    assert list(iter_frames(b"", [], max_side_px=64)) == []


def test_audio_only_file_is_invalid(tmp_path: Path) -> None:
    path = make_audio_only(tmp_path / "a.mp4", seconds=1.0)
    for call in (lambda: probe_video(path), lambda: sampled(path, [0])):
        with pytest.raises(InvalidArgument, match="no video stream") as info:
            call()
        assert str(tmp_path) not in info.value.message


@pytest.mark.parametrize(
    "data",
    [b"", b"not a video at all", random.Random(3).randbytes(4000)],
    ids=["empty", "text", "noise"],
)
def test_garbage_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="could not"):
        probe_video(data, field="contents[0].parts[0]")
    with pytest.raises(InvalidArgument, match="could not") as info:
        sampled(data, [0])
    assert info.value.field is None


def test_truncated_mp4_without_index_is_invalid(make: MakeFile) -> None:
    data = make("all-mp4", seconds=3, fps=10, fmt="mp4", with_audio=True).read_bytes()
    with pytest.raises(InvalidArgument):
        sampled(data[: len(data) // 2], [0])


@pytest.mark.parametrize("name", ["avi", "mpeg", "webm-vp8", "flv"])
def test_truncated_stream_gives_the_frames_it_has(make: MakeFile, name: str) -> None:
    data = make(f"all-{name}", seconds=3, fps=10, fmt=name, with_audio=True).read_bytes()
    frames = sampled(data[: len(data) * 4 // 10], [0, 1, 2, 2.9])
    assert frames and frames[0].time_s < 0.1
    assert frames[-1].time_s < 2.5  # the tail is gone: the last frame there stands in


@pytest.mark.parametrize("name", ["avi", "mpeg", "mp4"])
def test_corrupt_packets_are_skipped(make: MakeFile, name: str) -> None:
    data = bytearray(make(f"all-{name}", seconds=3, fps=10, fmt=name, with_audio=True).read_bytes())
    rng = random.Random(7)
    for pos in rng.sample(range(len(data) // 3, len(data) * 2 // 3), 40):
        data[pos] ^= 0xFF
    frames = sampled(bytes(data), [0, 1, 2, 2.9])
    assert len(frames) >= 3
    assert all(b.time_s > a.time_s for a, b in itertools.pairwise(frames))


def test_no_frame_decodes_is_invalid(make: MakeFile) -> None:
    """A valid container whose video payload is zeroed: it opens, but nothing decodes."""
    data = bytearray(make("all-avi", seconds=3, fps=10, fmt="avi", with_audio=True).read_bytes())
    start = data.find(b"movi") + 4
    for i in range(start, len(data) - 16):
        if data[i : i + 4] in (b"00dc", b"01wb"):  # keep the chunk headers, zero the payload
            size = int.from_bytes(data[i + 4 : i + 8], "little")
            data[i + 8 : i + 8 + size] = bytes(size)
    with pytest.raises(InvalidArgument, match="no frame decodes"):
        sampled(bytes(data), [0, 1])


def test_variable_frame_rate_with_b_frames(make: MakeFile) -> None:
    """Sparse frames with reordering: unreferenced frames far from a target are skipped, but
    never the one on screen at a target."""
    times = [0, 0.1, 0.5, 0.55, 2.2, 2.3, 2.35, 3.9, 4.0, 4.05, 4.5, 6.0, 6.04, 6.08, 8.7]
    path = make("vfr-b", times_s=times, fps=25, bframes=3)
    targets = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert_same([(f.index, f.time_s) for f in sampled(path, targets)], reference(path, targets))
