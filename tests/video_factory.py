"""Test videos made in code with PyAV, whose pixels say which frame they are.

Every frame shows two codes, both robust to lossy codecs and 4:2:0 chroma:
- the top half is a solid colour naming the second (`second_color`, 64 colours from four
  levels per channel, so the second is known modulo 64);
- the bottom half holds five black/white blocks, the binary frame number within the second.

`read_code` reads them back, so a test can tell the true presentation time of any decoded frame
from its pixels alone. Frames are built directly as YUV 4:2:0 planes (BT.601 limited range, what
decoders assume for untagged streams): 720p at 30 fps encodes fast enough for the benchmark.

Speech: `make_speech_video` synthesises a sentence offline with Debian's `flite` (voice `slt`,
16 kHz mono WAV) and muxes it into an H.264/AAC MP4 at a known time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

_LEVELS = (16, 90, 165, 240)  # per-channel levels; 75 apart survives any codec we test
_BITS = 5  # frame-within-second code: up to 32 fps


@dataclass(frozen=True)
class Format:
    """One container Gemini lists: muxer, video codec, audio codec, file suffix, MIME type."""

    muxer: str
    codec: str
    audio_codec: str
    suffix: str
    mime: str
    size: tuple[int, int] | None = None  # the codec only takes this size (H.263)
    fps: float | None = None  # the codec only takes standard rates (MPEG-1)
    audio_rate: int = 44_100


FORMATS: dict[str, Format] = {
    "mp4": Format("mp4", "libx264", "aac", ".mp4", "video/mp4"),
    "mov": Format("mov", "libx264", "aac", ".mov", "video/mov"),
    "webm-vp8": Format("webm", "libvpx", "libopus", ".webm", "video/webm", audio_rate=48_000),
    "webm-vp9": Format("webm", "libvpx-vp9", "libopus", ".webm", "video/webm", audio_rate=48_000),
    # mp3/aac priming shifts AVI video timestamps by a rounded frame in FFmpeg's muxer
    "avi": Format("avi", "mpeg4", "mp2", ".avi", "video/avi"),
    "flv": Format("flv", "flv", "mp3", ".flv", "video/x-flv"),
    "mpeg": Format("mpeg", "mpeg1video", "mp2", ".mpeg", "video/mpeg", fps=25),
    "mpg": Format("vob", "mpeg2video", "mp2", ".mpg", "video/mpeg"),
    "wmv": Format("asf", "wmv2", "wmav2", ".wmv", "video/wmv"),
    "3gp": Format("3gp", "h263", "aac", ".3gp", "video/3gpp", size=(176, 144)),
}


def second_color(second: int) -> tuple[int, int, int]:
    """The RGB colour that names `second` (modulo 64)."""
    k = second % 64
    return _LEVELS[k % 4], _LEVELS[(k // 4) % 4], _LEVELS[(k // 16) % 4]


def _rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = (c / 255 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def _nearest_level(value: float) -> int:
    return int(np.argmin([abs(value - level) for level in _LEVELS]))


def read_code(image: Any) -> tuple[int, int]:
    """(second modulo 64, frame number within the second) read from a decoded frame's pixels.

    `image` is a PIL image or an RGB array of any size that kept the aspect ratio.
    """
    rgb = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    h, w = rgb.shape[:2]
    top = rgb[h // 8 : 3 * h // 8, w // 8 : 7 * w // 8].reshape(-1, 3)
    r, g, b = np.median(top, axis=0)
    second = _nearest_level(r) + 4 * _nearest_level(g) + 16 * _nearest_level(b)
    index = 0
    for bit in range(_BITS):
        x0, x1 = bit * w // _BITS, (bit + 1) * w // _BITS
        block = rgb[5 * h // 8 : 7 * h // 8, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4]
        if block.mean() > 128:
            index |= 1 << bit
    return second, index


class _Painter:
    """Builds coded YUV 4:2:0 frames of one size, with an optional moving texture so that
    benchmark files cost what real footage costs to decode (about 0.3 ms a 720p frame)."""

    def __init__(self, size: tuple[int, int], texture: bool) -> None:
        w, h = size
        if w % 2 or h % 2:
            raise ValueError(f"size must be even, got {w}×{h}")
        self.w, self.h = w, h
        # Rows `read_code` never looks at: above, between and below its two code areas.
        self.bands = [slice(0, h // 8), slice(3 * h // 8, 5 * h // 8), slice(7 * h // 8, h)]
        self.texture: np.ndarray | None = None
        if texture:
            rng = np.random.default_rng(0)
            noise = rng.integers(40, 216, size=(h // 4 + 1, w // 4 + 1), dtype=np.uint8)
            blocks = np.kron(noise, np.ones((4, 4), dtype=np.uint8))[:h, :w]
            self.texture = np.ascontiguousarray(np.tile(blocks, (1, 2)))

    def frame_planes(self, second: int, index: int, frame_no: int) -> np.ndarray:
        """One frame as the (h × 3/2, w) uint8 array `VideoFrame.from_ndarray` takes."""
        w, h = self.w, self.h
        y, u, v = _rgb_to_yuv(second_color(second))
        out = np.empty((h * 3 // 2, w), dtype=np.uint8)
        out[: h // 2] = y
        out[h // 2 : h] = 16
        for bit in range(_BITS):
            if index >> bit & 1:
                out[h // 2 : h, bit * w // _BITS : (bit + 1) * w // _BITS] = 235
        if self.texture is not None:  # strips that slide right, away from the code areas
            shift = (frame_no * 3) % w
            for band in self.bands:
                out[band] = self.texture[band, shift : shift + w]
        u_plane = out[h : h + h // 4].reshape(h // 2, w // 2)
        v_plane = out[h + h // 4 :].reshape(h // 2, w // 2)
        u_plane[: h // 4], v_plane[: h // 4] = u, v
        u_plane[h // 4 :], v_plane[h // 4 :] = 128, 128
        return out


def _frame_times(seconds: float, fps: float) -> Iterator[Fraction]:
    step = Fraction(fps).limit_denominator(1001) ** -1
    t = Fraction(0)
    while t < seconds - 1e-9:
        yield t
        t += step


def make_video(
    path: Path,
    seconds: float = 3.0,
    fps: float = 10,
    size: tuple[int, int] = (96, 64),
    fmt: str | Format = "mp4",
    *,
    gop: int | None = None,
    bframes: int | None = None,
    with_audio: bool = False,
    times_s: Sequence[float] | None = None,
    start_pts_s: float = 0.0,
    rotation_deg: int = 0,
    texture: bool = False,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode a coded test video to `path` and return it.

    `fmt` is a `FORMATS` key (or any `Format`). `times_s` gives explicit presentation times
    (variable frame rate; needs a container with fine timestamps, e.g. mp4/mkv); otherwise
    frames are at k / fps. Each frame is coded with the second and the frame number within it
    that its time falls in (`read_code`). `start_pts_s` shifts every timestamp (a stream that
    does not start at 0); `rotation_deg` (counter-clockwise) writes a display matrix.
    """
    import av

    spec = FORMATS[fmt] if isinstance(fmt, str) else fmt
    size = spec.size or size
    fps = spec.fps or fps
    rate = Fraction(fps).limit_denominator(1001)
    times = [Fraction(t).limit_denominator(100_000) for t in times_s] if times_s else None
    painter = _Painter(size, texture)
    with av.open(str(path), "w", format=spec.muxer) as out:
        stream = out.add_stream(spec.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if times is not None:  # microsecond clock for VFR
            stream.time_base = Fraction(1, 100_000)
            stream.codec_context.time_base = stream.time_base
        if gop is not None:
            stream.codec_context.gop_size = gop
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        opts = dict(options or {})
        if spec.codec == "libx264":
            opts.setdefault("preset", "veryfast")
            if gop is not None:
                opts.setdefault("x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0")
        if spec.codec.startswith("libvpx"):
            opts.setdefault("deadline", "realtime")
            opts.setdefault("cpu-used", "8")
        stream.options = opts
        if rotation_deg:
            stream.set_display_rotation(rotation_deg)
        tb = Fraction(1) / rate if times is None else stream.time_base
        shift = Fraction(start_pts_s).limit_denominator(100_000)
        audio = _AudioTrack(out, spec, shift) if with_audio else None
        for n, t in enumerate(times if times is not None else _frame_times(seconds, fps)):
            second = int(t)
            index = round((t - second) * rate)
            frame = av.VideoFrame.from_ndarray(painter.frame_planes(second, index, n), "yuv420p")
            frame.pts = round((t + shift) / tb)
            frame.time_base = tb
            out.mux(stream.encode(frame))
            if audio is not None:  # interleave, as real files are (AVI needs it)
                audio.write_until(float(t) + 1 / float(rate))
        out.mux(stream.encode(None))
        if audio is not None:
            audio.close()
    return path


class _AudioTrack:
    """A mono tone (or given PCM) written in 1024-sample frames as the video advances."""

    def __init__(
        self, out: Any, spec: Format, start_s: Fraction, pcm: np.ndarray | None = None
    ) -> None:
        self.out = out
        self.stream = out.add_stream(spec.audio_codec, rate=spec.audio_rate, layout="mono")
        if spec.audio_codec == "wmav2":
            self.stream.bit_rate = 64_000
        self.rate = spec.audio_rate
        self.first = round(start_s * self.rate)
        self.pcm = pcm
        self.written = 0

    def _chunk(self, start: int, n: int) -> np.ndarray:
        if self.pcm is not None:
            return self.pcm[start : start + n]
        t = np.arange(start, start + n) / self.rate
        return (3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)

    def write_until(self, t_s: float) -> None:
        import av

        end = round(t_s * self.rate)
        if self.pcm is not None:
            end = min(end, len(self.pcm))
        while self.written < end:
            chunk = self._chunk(self.written, min(1024, end - self.written))
            frame = av.AudioFrame.from_ndarray(chunk[None, :], "s16", "mono")
            frame.sample_rate, frame.pts = self.rate, self.first + self.written
            frame.time_base = Fraction(1, self.rate)
            self.out.mux(self.stream.encode(frame))
            self.written += len(chunk)

    def close(self) -> None:
        self.out.mux(self.stream.encode(None))


def make_audio_only(path: Path, seconds: float = 1.0, fmt: str = "mp4") -> Path:
    """A file in `fmt`'s container with its audio codec's tone and no video stream."""
    import av

    spec = FORMATS[fmt]
    with av.open(str(path), "w", format=spec.muxer) as out:
        track = _AudioTrack(out, spec, Fraction(0))
        track.write_until(seconds)
        track.close()
    return path


def flite_available() -> bool:
    return shutil.which("flite") is not None


def synthesize(text: str) -> np.ndarray:
    """`text` spoken by flite's `slt` voice, as 16 kHz mono int16 (flite's native rate)."""
    if not flite_available():
        raise RuntimeError("flite is not installed (apt-get install flite)")
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "speech.wav"
        subprocess.run(
            ["flite", "-voice", "slt", "-t", text, "-o", str(wav_path)],
            check=True,
            capture_output=True,
        )
        with wave.open(str(wav_path)) as w:
            if w.getframerate() != 16_000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise RuntimeError("flite wrote an unexpected WAV format")
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).copy()


def make_speech_video(
    path: Path,
    text: str,
    at_s: float,
    seconds: float | None = None,
    *,
    fps: float = 10,
    size: tuple[int, int] = (96, 64),
) -> Path:
    """An H.264/AAC MP4 whose audio is silence with `text` spoken starting at `at_s`.

    The clip lasts `seconds` (default: one second after the speech ends). Returns `path`.
    """
    import av

    speech = synthesize(text)
    total_s = seconds if seconds is not None else at_s + len(speech) / 16_000 + 1.0
    pcm = np.zeros(round(total_s * 16_000), dtype=np.int16)
    first = round(at_s * 16_000)
    pcm[first : first + len(speech)] = speech[: max(0, len(pcm) - first)]
    spec = Format("mp4", "libx264", "aac", ".mp4", "video/mp4", audio_rate=16_000)
    painter = _Painter(size, texture=False)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast"}
        audio = _AudioTrack(out, spec, Fraction(0), pcm)
        for n, t in enumerate(_frame_times(total_s, fps)):
            second = int(t)
            planes = painter.frame_planes(second, round((t - second) * rate), n)
            frame = av.VideoFrame.from_ndarray(planes, "yuv420p")
            frame.pts, frame.time_base = n, 1 / rate
            out.mux(stream.encode(frame))
            audio.write_until(float(t) + 1 / float(rate))
        out.mux(stream.encode(None))
        audio.write_until(total_s)
        audio.close()
    return path
