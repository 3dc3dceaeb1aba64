"""Two requests sampling the same uploaded video at once both get every frame, and exactly one
complete copy of the frames lands in the cache (each writer publishes its own folder)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sightd.services.video import VideoPipeline
from sightd.settings import Settings
from tests.video_factory import make_video


def test_interleaved_writers_share_one_cache(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 3, 10, (96, 64), "mp4")
    pipeline = VideoPipeline(Settings(data_dir=tmp_path / "data", speech_backend="none"))
    plan = pipeline.plan(video, None, None, "contents[0].parts[0]", "fileid1")
    first, second = pipeline.frames(video, plan, "f"), pipeline.frames(video, plan, "f")
    got: tuple[list[float], list[float]] = ([], [])
    for a, b in zip(first, second, strict=True):
        got[0].append(a.time_s)
        got[1].append(b.time_s)
    assert got[0] == got[1] == [0.0, 1.0, 2.0]
    variants = [p for p in (tmp_path / "data" / "media-cache" / "fileid1").iterdir() if p.is_dir()]
    assert [p.name for p in variants] == [plan.variant()]
    assert (variants[0] / "complete").exists() and len(list(variants[0].glob("*.jpg"))) == 3
    cached = [f.time_s for f in pipeline.frames(video, plan, "f")]
    assert cached == [0.0, 1.0, 2.0]


def test_an_abandoned_sampling_leaves_nothing(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 3, 10, (96, 64), "mp4")
    pipeline = VideoPipeline(Settings(data_dir=tmp_path / "data", speech_backend="none"))
    plan = pipeline.plan(video, None, None, "f", "fileid2")
    frames = pipeline.frames(video, plan, "f")
    next(frames)
    frames.close()
    folder = tmp_path / "data" / "media-cache" / "fileid2"
    assert [p.name for p in folder.iterdir()] == ["probe.json"]


def test_media_cache_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    """Issue: the media cache had a TTL but no size bound."""
    video = make_video(tmp_path / "v.mp4", 3, 10, (96, 64), "mp4")
    root = tmp_path / "data" / "media-cache"

    def sample(pipeline: VideoPipeline, key: str) -> None:
        plan = pipeline.plan(video, None, None, "f", key)
        list(pipeline.frames(video, plan, "f"))

    unbounded = VideoPipeline(Settings(data_dir=tmp_path / "data", speech_backend="none"))
    sample(unbounded, "a")
    one_entry = sum(f.stat().st_size for f in (root / "a").rglob("*") if f.is_file())
    pipeline = VideoPipeline(
        Settings(
            data_dir=tmp_path / "data",
            speech_backend="none",
            media_cache_max_bytes=int(2.5 * one_entry),
        )
    )
    sample(pipeline, "b")
    old = time.time() - 100
    os.utime(root / "a", (old, old))
    os.utime(root / "b", (old + 50, old + 50))
    sample(pipeline, "a")  # reuse touches "a": now "b" is the least recently used
    sample(pipeline, "c")
    assert sorted(p.name for p in root.iterdir()) == ["a", "c"]
