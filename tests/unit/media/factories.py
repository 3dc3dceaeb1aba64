"""Media generated in code for the media tests: images with Pillow/pillow-heif, videos and audio
with PyAV. Nothing binary is committed; every file here takes milliseconds to make."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def short_id(value: object) -> str | None:
    """Readable test ids: strings as they are, bytes as their first few bytes and length."""
    if isinstance(value, bytes):
        head = value[:10].decode("latin-1").encode("unicode_escape").decode()
        return f"{head}...({len(value)})" if len(value) > 10 else head or "empty"
    return value if isinstance(value, str) else None


def image_bytes(
    fmt: str,
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    color: Any = (200, 30, 60),
    **save: Any,
) -> bytes:
    """A solid image of `size` in `mode`, saved as `fmt` (HEIF via pillow-heif)."""
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **save)
    return buf.getvalue()


def gradient(size: tuple[int, int]) -> Image.Image:
    """A smooth RGB gradient: resampling-friendly, so draft and full decodes can be compared."""
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares `width`×`height` but which carries almost no pixel data: what a
    decompression bomb looks like before anything is inflated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class VideoSpec:
    name: str
    container: str  # PyAV/FFmpeg muxer name
    codec: str
    size: tuple[int, int] = (64, 48)
    rate: int = 10
    frames: int = 25


# One row per container Gemini lists (plus TS and MKV, which sniff into those families).
VIDEO_SPECS: dict[str, VideoSpec] = {
    s.name: s
    for s in (
        VideoSpec("mp4", "mp4", "libx264"),
        VideoSpec("mov", "mov", "libx264"),
        VideoSpec("webm-vp8", "webm", "libvpx"),
        VideoSpec("webm-vp9", "webm", "libvpx-vp9"),
        VideoSpec("avi", "avi", "mpeg4"),
        VideoSpec("flv", "flv", "flv"),
        VideoSpec("mpeg", "mpeg", "mpeg1video", rate=25),
        VideoSpec("ts", "mpegts", "mpeg2video", rate=25),
        VideoSpec("wmv", "asf", "wmv2"),
        VideoSpec("3gp", "3gp", "h263", size=(128, 96)),
        VideoSpec("mkv", "matroska", "mpeg4"),
        VideoSpec("long-webm", "webm", "libvpx", rate=5, frames=50),  # 10 s, to truncate
    )
}


def _missing(container: str, codec: str) -> str | None:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:
        return f"PyAV's FFmpeg has no {codec} encoder"
    try:
        av.format.ContainerFormat(container, "w")
    except Exception:
        return f"PyAV's FFmpeg has no {container} muxer"
    return None


def write_video(path: Path, spec: VideoSpec) -> Path:
    """Encode `spec.frames` frames of a moving gradient; skips the test if the codec is absent."""
    av = pytest.importorskip("av")
    reason = _missing(spec.container, spec.codec)
    if reason:
        pytest.skip(reason)
    w, h = spec.size
    base = np.asarray(gradient((w, h)))
    with av.open(str(path), "w", format=spec.container) as out:
        stream = out.add_stream(spec.codec, rate=spec.rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 2, axis=1), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_audio(path: Path, container: str, codec: str, seconds: float = 1.0) -> Path:
    """A quiet tone as `codec` in `container` (e.g. wav/pcm_s16le, mp3/mp3, ogg/libopus);
    PyAV resamples and re-frames the s16 input to what the encoder wants."""
    av = pytest.importorskip("av")
    reason = _missing(container, codec)
    if reason:
        pytest.skip(reason)
    rate, n = 48000, 1024
    t = np.arange(int(rate * seconds)) / rate
    wave = (3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        for start in range(0, len(wave), n):
            frame = av.AudioFrame.from_ndarray(wave[None, start : start + n], "s16", "mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
