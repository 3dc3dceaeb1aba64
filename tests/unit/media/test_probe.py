"""`probe_file` on good, corrupt and truncated images and videos; it never raises."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from sightd.media.probe import ProbeResult, duration_string, probe_file

from .factories import gradient, image_bytes, png_header_only, short_id, write_audio

MakeVideo = Callable[[str], Path]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (13, "13s"),
        (13.5, "13.5s"),
        (Fraction(1, 3), "0.333333333s"),
        (Fraction(2_500_000, 1_000_000), "2.5s"),
        (0.000000001, "0.000000001s"),
        (1e-12, "0s"),
        (3600.25, "3600.25s"),
        (-1, "0s"),
    ],
)
def test_duration_string(seconds: float | Fraction, expected: str) -> None:
    assert duration_string(seconds) == expected


def noisy_png() -> bytes:
    import io

    buf = io.BytesIO()
    gradient((200, 150)).effect_spread(5).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (image_bytes("PNG"), "image/png", ProbeResult("image/png")),
        (image_bytes("JPEG"), "image/jpeg", ProbeResult("image/jpeg")),
        (image_bytes("PNG"), "image/jpeg", ProbeResult("image/png")),
        (image_bytes("WEBP"), "image/webp", ProbeResult("image/webp")),
        (image_bytes("HEIF"), "image/heic", ProbeResult("image/heic")),
        (image_bytes("HEIF"), "image/heif", ProbeResult("image/heic")),
        (image_bytes("JPEG"), "image/jpg", ProbeResult("image/jpeg")),
        (image_bytes("PNG"), "", ProbeResult("image/png")),
        (b"hello, world\n", "text/plain", ProbeResult("text/plain")),
        (b"a,b\n1,2\n", "text/csv", ProbeResult("text/csv")),
        (b"%PDF-1.7\n", "application/pdf", ProbeResult("application/pdf")),
    ],
    ids=short_id,
)
def test_probe_accepts(tmp_path: Path, data: bytes, declared: str, expected: ProbeResult) -> None:
    assert probe_file(write(tmp_path, "f", data), declared) == expected


@pytest.mark.parametrize(
    ("data", "declared", "mime", "error"),
    [
        (noisy_png()[:3000], "image/png", "image/png", "could not decode image"),
        (image_bytes("JPEG", (300, 200))[:600], "image/jpeg", "image/jpeg", "could not decode"),
        (png_header_only(50_000, 50_000), "image/png", "image/png", "image too large"),
        (png_header_only(12_000, 12_000), "image/png", "image/png", "image too large"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "image/png", "image/png", "could not decode image"),
        (image_bytes("PNG"), "video/mp4", "video/mp4", "does not match"),
        (b"hello", "image/png", "image/png", "does not match"),
        (image_bytes("GIF", mode="P", color=1), "image/gif", "image/gif", "Unsupported MIME"),
        (b"PK\x03\x04" + b"\0" * 30, "application/zip", "application/zip", "Unsupported MIME"),
        (random.Random(3).randbytes(3000), "application/octet-stream", None, "unsupported file"),
        (random.Random(4).randbytes(3000), "", "", "unsupported file type"),
        (random.Random(5).randbytes(3000), "video/mp4", "video/mp4", "could not decode video"),
        (b"", "video/mp4", "video/mp4", "could not decode video"),
    ],
    ids=short_id,
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_probe_rejects(
    tmp_path: Path, data: bytes, declared: str, mime: str | None, error: str
) -> None:
    result = probe_file(write(tmp_path, "f", data), declared)
    assert result.mime_type == (declared if mime is None else mime)
    assert result.error is not None and error in result.error
    assert result.video_metadata is None
    assert str(tmp_path) not in result.error


def test_probe_respects_max_image_pixels(tmp_path: Path) -> None:
    path = write(tmp_path, "f.png", image_bytes("PNG", (100, 100)))
    assert probe_file(path, "image/png", max_image_pixels=10_000).error is None
    result = probe_file(path, "image/png", max_image_pixels=9_999)
    assert result.error == "image too large: 100×100 pixels exceeds the limit of 9999"


@pytest.mark.parametrize(
    ("name", "declared", "mime"),
    [
        ("mp4", "video/mp4", "video/mp4"),
        ("mov", "video/quicktime", "video/mov"),
        ("mov", "video/mov", "video/mov"),
        ("webm-vp8", "video/webm", "video/webm"),
        ("webm-vp9", "video/webm", "video/webm"),
        ("avi", "video/x-msvideo", "video/avi"),
        ("flv", "video/x-flv", "video/x-flv"),
        ("wmv", "video/x-ms-wmv", "video/wmv"),
        ("3gp", "audio/3gpp", "video/3gpp"),
        ("3gp", "video/3gpp", "video/3gpp"),
        ("mp4", "", "video/mp4"),
        ("mkv", "video/webm", "video/webm"),
    ],
)
def test_probe_videos(make_video: MakeVideo, name: str, declared: str, mime: str) -> None:
    # 25 frames at 10 fps.
    result = probe_file(make_video(name), declared)
    assert (result.mime_type, result.error) == (mime, None)
    assert result.video_metadata is not None
    assert result.video_metadata["videoDuration"] == "2.5s"
    assert result.video_metadata["videoCodec"] and result.video_metadata["width"] > 0


@pytest.mark.parametrize(("name", "declared"), [("mpeg", "video/mpg"), ("ts", "video/mpeg")])
def test_probe_mpeg_durations_are_estimates(
    make_video: MakeVideo, name: str, declared: str
) -> None:
    # 25 frames at 25 fps; MPEG-PS/TS carry no duration, FFmpeg estimates it from timestamps.
    result = probe_file(make_video(name), declared)
    assert result.mime_type == "video/mpeg" and result.error is None
    assert result.video_metadata is not None
    duration = result.video_metadata["videoDuration"]
    assert duration.endswith("s") and 0.9 <= float(duration[:-1]) <= 1.1


@pytest.mark.parametrize(
    ("name", "fraction", "error"),
    [
        ("mp4", 0.5, "could not decode video"),  # moov at the end: nothing to open
        ("mp4", 0.95, "could not decode video"),
        ("mov", 0.9, "could not decode video"),
        ("3gp", 0.5, "could not decode video"),
        ("avi", 0.3, "could not decode video"),
        ("long-webm", 0.5, "looks truncated"),  # streamable: opens, but stops at ~5 s of 10 s
    ],
)
def test_probe_truncated_videos(
    tmp_path: Path, make_video: MakeVideo, name: str, fraction: float, error: str
) -> None:
    data = make_video(name).read_bytes()
    result = probe_file(write(tmp_path, name, data[: int(len(data) * fraction)]), "video/mp4")
    assert result.error is not None and error in result.error, result
    assert str(tmp_path) not in result.error


def test_probe_corrupt_video(tmp_path: Path, make_video: MakeVideo) -> None:
    data = bytearray(make_video("mp4").read_bytes())
    moov = data.find(b"moov")
    data[moov : moov + 200] = random.Random(6).randbytes(200)
    assert probe_file(write(tmp_path, "v.mp4", bytes(data)), "video/mp4").error


def test_probe_audio_only_mp4_has_no_video_stream(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.mp4", "mp4", "aac", seconds=0.5)
    assert probe_file(path, "video/mp4") == ProbeResult("video/mp4", error="no video stream found")


@pytest.mark.parametrize(
    ("container", "codec", "declared", "mime"),
    [
        ("wav", "pcm_s16le", "audio/wav", "audio/wav"),
        ("mp3", "mp3", "audio/mpeg", "audio/mp3"),
        ("ogg", "libopus", "audio/ogg", "audio/ogg"),
        ("flac", "flac", "audio/flac", "audio/flac"),
    ],
)
def test_probe_audio_is_accepted(
    tmp_path: Path, container: str, codec: str, declared: str, mime: str
) -> None:
    path = write_audio(tmp_path / f"a.{container}", container, codec, seconds=0.2)
    assert probe_file(path, declared) == ProbeResult(mime)


def test_probe_without_pyav_accepts_videos(
    monkeypatch: pytest.MonkeyPatch, make_video: MakeVideo
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    assert probe_file(make_video("mp4"), "video/mp4") == ProbeResult("video/mp4")


def test_probe_missing_file(tmp_path: Path) -> None:
    result = probe_file(tmp_path / "gone", "image/png")
    assert result.mime_type == "image/png" and result.error is not None
    assert "could not read the file" in result.error


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    "declared", ["image/png", "video/mp4", "video/webm", "audio/wav", "application/pdf", ""]
)
def test_probe_never_raises_on_noise(tmp_path: Path, seed: int, declared: str) -> None:
    rng = random.Random(seed)
    prefixes = [b"", b"\x89PNG\r\n\x1a\n", b"\0\0\0\x18ftypisom", b"\x1a\x45\xdf\xa3", b"RIFF"]
    data = rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 4000))
    result = probe_file(write(tmp_path, "noise", data), declared)
    assert isinstance(result, ProbeResult)
