"""`iter_audio` / `read_audio`: a file's audio track as 16 kHz mono float32 blocks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("av")

import itertools

from sightd.errors import InvalidArgument
from sightd.media.audio import SAMPLE_RATE_HZ, iter_audio, read_audio
from tests.video_factory import FORMATS, make_audio_only, make_video

MakeFile = Callable[..., Path]


@pytest.fixture(scope="module")
def make(tmp_path_factory: pytest.TempPathFactory) -> MakeFile:
    root = tmp_path_factory.mktemp("audio")
    cache: dict[str, Path] = {}

    def build(name: str, **kwargs: Any) -> Path:
        if name not in cache:
            cache[name] = make_video(root / f"{name}{FORMATS[kwargs['fmt']].suffix}", **kwargs)
        return cache[name]

    return build


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * SAMPLE_RATE_HZ / len(samples))


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_container_audio(make: MakeFile, name: str) -> None:
    block = read_audio(make(name, seconds=3, fps=10, fmt=name, with_audio=True))
    assert block.samples.dtype == np.float32 and block.samples.ndim == 1
    assert len(block.samples) / SAMPLE_RATE_HZ == pytest.approx(3.0, abs=0.15)
    assert 0 <= block.start_s < 0.1  # encoder priming may delay the first sample a little
    assert peak_hz(block.samples) == pytest.approx(440, abs=2)
    assert 0.05 < float(np.abs(block.samples).max()) < 0.15  # the tone's 3000 / 32768


def test_blocks_are_consecutive(make: MakeFile) -> None:
    blocks = list(iter_audio(make("mp4", seconds=3, fps=10, fmt="mp4", with_audio=True), block_s=1))
    assert [len(b.samples) for b in blocks[:3]] == [SAMPLE_RATE_HZ] * 3
    assert [b.start_s for b in blocks[:3]] == pytest.approx([0, 1, 2])
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in itertools.pairwise(blocks))


@pytest.mark.parametrize(("start_s", "end_s"), [(1.0, 2.5), (0.25, None), (None, 1.0)])
def test_clip(make: MakeFile, start_s: float | None, end_s: float | None) -> None:
    path = make("mp4", seconds=3, fps=10, fmt="mp4", with_audio=True)
    whole = read_audio(path).samples
    clip = read_audio(path, start_s=start_s, end_s=end_s)
    first = round((start_s or 0) * SAMPLE_RATE_HZ)
    last = len(whole) if end_s is None else round(end_s * SAMPLE_RATE_HZ)
    assert clip.start_s == pytest.approx(start_s or 0, abs=1 / SAMPLE_RATE_HZ)
    assert len(clip.samples) == last - first
    np.testing.assert_array_equal(clip.samples, whole[first:last])


def test_clip_far_into_the_file_seeks(make: MakeFile) -> None:
    path = make("long-mp4", seconds=14, fps=5, fmt="mp4", with_audio=True)
    whole = read_audio(path).samples
    clip = read_audio(path, start_s=9.25, end_s=11)
    assert clip.start_s == pytest.approx(9.25, abs=1e-3)
    assert len(clip.samples) == pytest.approx(1.75 * SAMPLE_RATE_HZ, abs=2)
    expected = whole[round(9.25 * SAMPLE_RATE_HZ) :][: len(clip.samples)]
    assert np.abs(clip.samples - expected).max() < 0.02  # resampler phase may differ slightly


def test_no_audio_is_empty_not_an_error(make: MakeFile) -> None:
    path = make("mute", seconds=1, fps=10, fmt="mp4")
    assert list(iter_audio(path)) == []
    block = read_audio(path, start_s=0.5)
    assert block.start_s == 0.5 and len(block.samples) == 0


def test_audio_only_file(tmp_path: Path) -> None:
    block = read_audio(make_audio_only(tmp_path / "a.mp4", seconds=2.0))
    assert len(block.samples) / SAMPLE_RATE_HZ == pytest.approx(2.0, abs=0.1)


def test_garbage_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="could not open"):
        read_audio(b"garbage bytes")
    with pytest.raises(ValueError, match="block_s"):
        list(iter_audio(b"", block_s=0))
