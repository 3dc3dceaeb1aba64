"""Verify an uploaded file and learn what it really is.

The Files service calls `probe_file` from a worker thread once an upload is finalized; the
result moves the file to ACTIVE or FAILED. Bad content is a result, never an exception: the
error string is shown to the client as the file's `error`, so it never names server paths.

- images are decoded in full (at a small size), so corrupt, truncated and oversized files fail
  here rather than in a later generateContent call; the decode holds its share of the
  process-wide `DecodeBudget` like a generation's (an image that can never fit fails the file);
- videos are opened with PyAV (imported lazily; without it they are accepted without metadata):
  there must be a video stream whose first frame decodes, and one demux pass (no decoding
  past the first frame) must reach the duration the header declares, which catches truncated
  files cheaply; the duration is reported as `videoMetadata.videoDuration`;
- audio, PDF and text are accepted as declared once the bytes agree with the declared kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from sightd.errors import InvalidArgument
from sightd.media.decode_budget import DecodeBudget
from sightd.media.image import decode_image_file
from sightd.media.mime import SNIFF_BYTES, kind, normalize, resolve_mime, sniff

log = logging.getLogger(__name__)

DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
"""Matches `Settings.max_image_pixels`' default; pass the setting with functools.partial."""
_VERIFY_SIDE_PX = 256  # JPEG draft still reads every entropy-coded byte, so truncation shows
_BUDGET_WAIT_S = 600.0  # processing is background work: wait for the budget, do not fail the file


@dataclass(frozen=True)
class ProbeResult:
    """What processing learned: the real MIME type, or why the file is unusable."""

    mime_type: str
    error: str | None = None
    video_metadata: dict[str, Any] | None = None


def duration_string(seconds: Fraction | float) -> str:
    """A protobuf Duration in JSON form, trailing zeros trimmed: 13 → "13s", 13.5 → "13.5s"."""
    nanos = max(0, round(Fraction(seconds) * 1_000_000_000))
    whole, frac = divmod(nanos, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    return f"{whole}.{frac:09d}".rstrip("0") + "s"


def probe_file(
    path: Path,
    declared_mime: str,
    *,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    decode_budget: DecodeBudget | None = None,
) -> ProbeResult:
    """Resolve the MIME type of the file at `path` and check it is usable. Blocking.

    `mime_type` is the resolved canonical type (aliases mapped, sniffed bytes preferred for
    images); when resolution fails it stays `declared_mime`.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        return ProbeResult(declared_mime, error=f"could not read the file: {exc.strerror}")
    try:
        mime = resolve_mime(declared_mime, head, field="")
    except InvalidArgument as exc:
        sniffed = sniff(head)
        if sniffed is None and normalize(declared_mime or "") in ("", "application/octet-stream"):
            return ProbeResult(declared_mime, error="unsupported file type")
        return ProbeResult(declared_mime or sniffed or "", error=exc.message)
    media_kind = kind(mime)
    if media_kind == "image":
        return _probe_image(path, mime, max_image_pixels, decode_budget)
    if media_kind == "video":
        return _probe_video(path, mime)
    return ProbeResult(mime)


def _probe_image(
    path: Path, mime: str, max_pixels: int, budget: DecodeBudget | None
) -> ProbeResult:
    try:
        decode_image_file(
            path,
            max_side_px=_VERIFY_SIDE_PX,
            max_pixels=max_pixels,
            budget=budget,
            wait_s=_BUDGET_WAIT_S,
        )
    except InvalidArgument as exc:
        return ProbeResult(mime, error=exc.message)
    return ProbeResult(mime)


def _probe_video(path: Path, mime: str) -> ProbeResult:
    try:
        import av
    except ImportError:
        log.info("PyAV is not installed; accepting %s without checking it", mime)
        return ProbeResult(mime)
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.video:
                return ProbeResult(mime, error="no video stream found")
            stream = container.streams.video[0]
            streams = _stream_summary(container, stream)
            decoded, span = _scan(container, stream)
            declared = _declared_duration_s(container, stream)
    except Exception as exc:  # FFmpeg errors; their str() would include the server path
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return ProbeResult(mime, error=f"could not decode video: {reason}")
    if not decoded:
        return ProbeResult(mime, error="could not decode video: no frame decodes")
    if declared is not None and span is not None and span < declared - _truncation_slack(declared):
        return ProbeResult(
            mime,
            error=f"video data ends after {float(span):.1f}s of the {float(declared):.1f}s its "
            "header declares; the file looks truncated",
        )
    duration = max((d for d in (declared, span) if d is not None), default=None)
    metadata: dict[str, Any] = dict(streams)
    if duration is not None:
        metadata = {"videoDuration": duration_string(duration), **metadata}
    return ProbeResult(mime, video_metadata=metadata)


def _stream_summary(container: Any, stream: Any) -> dict[str, Any]:
    """Codecs and sizes of the streams, for the File's `videoMetadata` (extra fields are fine:
    the SDKs keep it as a plain dict)."""
    summary: dict[str, Any] = {
        "videoCodec": stream.codec_context.name,
        "width": int(stream.codec_context.width or 0),
        "height": int(stream.codec_context.height or 0),
    }
    if stream.average_rate:
        summary["fps"] = round(float(stream.average_rate), 3)
    audio = container.streams.audio
    summary["hasAudio"] = bool(audio)
    if audio:
        summary["audioCodec"] = audio[0].codec_context.name
    return summary


def _truncation_slack(declared_s: Fraction) -> Fraction:
    """How much shorter than its header the video track may be (audio can outlast it)."""
    return max(Fraction(2), declared_s / 10)


def _scan(container: Any, stream: Any) -> tuple[bool, Fraction | None]:
    """One demux pass over the video track (cheap: ~0.04 s for 3600 packets): whether a frame
    decodes (only the first is decoded) and the time the packets span."""
    decoded = False
    start: Fraction | None = None
    end: Fraction | None = None
    for packet in container.demux(stream):
        if not decoded:
            decoded = bool(packet.decode())  # the final empty packet flushes the decoder
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.time_base is None:
            continue
        t0 = Fraction(ts * packet.time_base)
        t1 = t0 + Fraction((packet.duration or 0) * packet.time_base)
        start = t0 if start is None else min(start, t0)
        end = t1 if end is None else max(end, t1)
    return decoded, (end - start if start is not None and end is not None else None)


def _declared_duration_s(container: Any, stream: Any) -> Fraction | None:
    """The video stream's duration from the header, else the container's, else None."""
    if stream.duration and stream.time_base:
        return Fraction(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return Fraction(container.duration, 1_000_000)  # AV_TIME_BASE units
    return None
