"""Session fixtures for the media tests (the generators live in `factories`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .factories import VIDEO_SPECS, write_video


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def make_video(video_dir: Path) -> Callable[[str], Path]:
    """`make_video("mp4")` → path of that `VIDEO_SPECS` row, encoded once per session."""
    cache: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in cache:
            spec = VIDEO_SPECS[name]
            cache[name] = write_video(video_dir / f"{name}.{spec.container}", spec)
        return cache[name]

    return make
