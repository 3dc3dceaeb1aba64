"""A file's audio track → mono 16 kHz float32, streamed in blocks (PyAV, imported lazily).

16 kHz mono is what speech recognisers take (Whisper, PocketSphinx). The track is decoded and
resampled as it streams (PyAV's `AudioResampler`, i.e. libswresample), so memory is one block
whatever the length: gathering an hour whole costs ~230 MB of samples and PyAV's peak RSS grows
with it (notes/media-perf.md).

Times are seconds on the same clock as `sightd.media.video` frames (0 = the first video frame;
see `origin_s`), so a transcript lines up with the frames; samples before 0 (encoder priming,
audio that starts early) are dropped. A block's `start_s` is the time of its first sample,
counted from the first decoded audio frame; gaps inside the track (rare, broken files) are not
re-inserted. A file without audio yields nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from sightd.media.video import VideoSource, _import_av, open_container, origin_s

SAMPLE_RATE_HZ = 16_000
DEFAULT_BLOCK_S = 30.0
_SEEK_MIN_S = 5.0  # clip starts closer than this are reached by decoding: exact and cheap


class AudioBlock(NamedTuple):
    """`samples`: float32 mono at 16 kHz in [-1, 1]; `start_s`: time of samples[0]."""

    start_s: float
    samples: np.ndarray

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / SAMPLE_RATE_HZ


def iter_audio(
    source: VideoSource,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    block_s: float = DEFAULT_BLOCK_S,
    field: str | None = None,
) -> Iterator[AudioBlock]:
    """Yield the first audio track of `source`, clipped to [start_s, end_s), as consecutive
    blocks of `block_s` seconds (the last one shorter). Blocking; close the generator to stop."""
    if block_s <= 0:
        raise ValueError(f"block_s must be positive, got {block_s}")
    av = _import_av()
    with open_container(source, field=field) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        origin = origin_s(container)
        if start_s is not None and start_s >= _SEEK_MIN_S:
            _seek(av, container, stream, start_s - 1.0 + origin)
        clip = _Clip(start_s or 0.0, end_s, round(block_s * SAMPLE_RATE_HZ))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE_HZ)
        for frame in _decoded(av, container, stream):
            if clip.pos_s is None:
                clip.pos_s = round(float(frame.time) - origin, 6) if frame.pts is not None else 0.0
            for out in resampler.resample(frame):
                yield from clip.add(out.to_ndarray().reshape(-1))
            if clip.done:
                return
        for out in resampler.resample(None):
            yield from clip.add(out.to_ndarray().reshape(-1))
        yield from clip.flush()


def read_audio(
    source: VideoSource,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    field: str | None = None,
) -> AudioBlock:
    """The whole (clipped) track as one block: for short clips only, as it is all in memory.
    Without audio, an empty block at `start_s` (or 0)."""
    blocks = list(iter_audio(source, start_s=start_s, end_s=end_s, field=field))
    if not blocks:
        return AudioBlock(start_s or 0.0, np.zeros(0, dtype=np.float32))
    return AudioBlock(blocks[0].start_s, np.concatenate([b.samples for b in blocks]))


def _seek(av: Any, container: Any, stream: Any, to_s: float) -> None:
    """Jump near the clip start; every audio packet is a keyframe, decoding trims the rest."""
    try:
        container.seek(max(0, round(to_s / stream.time_base)), backward=True, stream=stream)
    except av.FFmpegError:
        container.seek(0)


def _decoded(av: Any, container: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames; corrupt packets are skipped, damaged container data ends the track."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            return
        try:
            yield from stream.decode(packet)
        except av.FFmpegError:
            continue


class _Clip:
    """Trims samples to the clip and cuts them into blocks, tracking the time of each sample."""

    def __init__(self, start_s: float, end_s: float | None, block: int) -> None:
        self.start_s, self.end_s, self.block = start_s, end_s, block
        self.pos_s: float | None = None  # time of the next sample that arrives
        self.parts: list[np.ndarray] = []
        self.buffered = 0
        self.buffer_start_s = 0.0
        self.done = False

    def add(self, samples: np.ndarray) -> Iterator[AudioBlock]:
        if self.done or self.pos_s is None or not len(samples):
            return
        t0 = self.pos_s
        self.pos_s = t0 + len(samples) / SAMPLE_RATE_HZ
        if t0 < self.start_s:
            skip = round((self.start_s - t0) * SAMPLE_RATE_HZ)
            samples, t0 = samples[skip:], t0 + skip / SAMPLE_RATE_HZ
        if self.end_s is not None:
            keep = max(0, round((self.end_s - t0) * SAMPLE_RATE_HZ))
            if keep <= len(samples):
                samples, self.done = samples[:keep], True
        if not len(samples):
            return
        if not self.parts:
            self.buffer_start_s = t0
        self.parts.append(samples.astype(np.float32, copy=False))
        self.buffered += len(samples)
        while self.buffered >= self.block:
            joined = np.concatenate(self.parts)
            yield AudioBlock(self.buffer_start_s, joined[: self.block])
            rest = joined[self.block :]
            self.buffer_start_s += self.block / SAMPLE_RATE_HZ
            self.parts, self.buffered = ([rest] if len(rest) else []), len(rest)
        if self.done:
            yield from self.flush()

    def flush(self) -> Iterator[AudioBlock]:
        if self.parts:
            yield AudioBlock(self.buffer_start_s, np.concatenate(self.parts))
            self.parts, self.buffered = [], 0
