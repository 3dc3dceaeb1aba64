"""Video → frames at chosen instants, each carrying its true presentation time (PyAV, lazy).

Which instants, and which frame answers an instant, is `sightd.media.sampling`'s business; this
module decodes. Measured on 2 cores (notes/media-perf.md, bench/video_sampling.py):

- exact sampling costs a full decode, so the decoder runs frame-threaded
  (`thread_type="AUTO"`, `thread_count` = cores) straight through the file;
- but a GOP that holds no target is never decoded: when the demuxer's index shows a keyframe
  past the read position and still before the next target, we seek to it (never seek to every
  target: re-decoding from the previous keyframe each time is 2–6× slower);
- packets that will be displayed well before the next target are decoded with
  `skip_frame="NONREF"` (B-frames nothing refers to are not decoded at all: 15–30 % less CPU
  for typical H.264); near a target every frame is decoded, so the frame on screen is exact;
- a chosen frame is scaled and converted by swscale in one step (`reformat`, area filter),
  5× faster than `to_image()` then Pillow's `thumbnail`.

Memory stays flat: frames stream out one at a time and are converted at once; nothing holds
more than the decoder's own few reference frames.

Times are seconds from the first video frame (`origin_s`; `VideoInfo.start_time_s` is that
instant in the file's own timestamps), the clock players and `ffmpeg -vf fps` count; the audio
transcript uses the same zero. Decoding blocks: call it off the event loop.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL.Image import Image, Transpose

from sightd.errors import InvalidArgument, MissingExtra

log = logging.getLogger(__name__)

VideoSource = Path | bytes
"""A file on disk (uploads, stored blobs) or inline bytes."""

_EPS_S = 1e-6
_MIN_SEEK_GAIN_S = 1.0  # a seek costs a decoder flush; skip less than this and it is not worth it
_NONREF_MARGIN_FRAMES = 3  # frames before a target that are always decoded in full


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, from its header (and one demux pass when the header has no duration).

    Sizes are as displayed: non-square pixels stretched and the display rotation applied.
    `start_time_s` is the file's own timestamp of the first video frame; every time sightd
    reports is relative to it. `rotation_deg` is counter-clockwise (0, 90, 180 or 270).
    """

    duration_s: float
    width_px: int
    height_px: int
    fps: float | None
    codec: str
    has_audio: bool
    start_time_s: float
    rotation_deg: int = 0


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame: `index` is the position in `targets` of the (first) target it
    answers, `time_s` its own presentation time (not the target's), `image` RGB."""

    index: int
    time_s: float
    image: Image


def _import_av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is installed wherever video is served
        raise MissingExtra("av", "video") from exc
    return av


def _reason(exc: BaseException) -> str:
    """An FFmpeg error without the file path its str() would carry."""
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


def open_container(source: VideoSource, *, field: str | None = None) -> Any:
    """An open PyAV input container, or `InvalidArgument` if FFmpeg cannot read it."""
    av = _import_av()
    target: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        return av.open(target, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InvalidArgument(f"could not open the video: {_reason(exc)}", field=field) from exc


def video_stream(container: Any, *, field: str | None = None) -> Any:
    if not container.streams.video:
        raise InvalidArgument("the file has no video stream", field=field)
    return container.streams.video[0]


def origin_s(container: Any) -> float:
    """The zero of sightd's clock for this file, in the file's seconds: the first video
    stream's start (so the first frame is at 0 s, as players and `ffmpeg -vf fps` count), else
    the container's start, else 0. Audio uses the same zero, so transcripts match frames."""
    for stream in container.streams.video[:1]:
        if stream.start_time is not None and stream.time_base is not None:
            return float(stream.start_time * stream.time_base)
    if container.start_time is not None:
        return float(container.start_time) / 1_000_000  # AV_TIME_BASE units
    return 0.0


def probe_video(source: VideoSource, *, field: str | None = None) -> VideoInfo:
    """Read a video's header and first frame. Blocking; cheap except for files whose header
    cannot give the duration (see `_declared_duration_s`), which get one demux pass (reading
    packets, no decoding: ~0.04 s per 3600 packets) to measure it."""
    av = _import_av()
    with open_container(source, field=field) as container:
        stream = video_stream(container, field=field)
        origin = origin_s(container)
        try:
            first = next(_decode_all(av, container, stream), None)
        except av.FFmpegError as exc:
            raise InvalidArgument(f"could not decode video: {_reason(exc)}", field=field) from exc
        if first is None:
            raise InvalidArgument("could not decode video: no frame decodes", field=field)
        rotation = _rotation_deg(first)
        w, h = _display_size(first.width, first.height, stream, rotation)
        duration = _declared_duration_s(container, stream, origin)
        if duration is None:  # a fresh pass: raw streams cannot seek back
            with open_container(source, field=field) as again:
                duration = _demuxed_duration_s(av, again, again.streams.video[0], origin)
        if not duration or duration <= 0:
            raise InvalidArgument("could not determine the video's duration", field=field)
        rate = stream.guessed_rate or stream.average_rate
        return VideoInfo(
            duration_s=duration,
            width_px=w,
            height_px=h,
            fps=float(rate) if rate else None,
            codec=str(stream.codec_context.name),
            has_audio=bool(container.streams.audio),
            start_time_s=origin,
            rotation_deg=rotation,
        )


def _decode_all(av: Any, container: Any, stream: Any) -> Iterator[Any]:
    for packet in container.demux(stream):
        try:
            yield from stream.decode(packet)
        except av.error.InvalidDataError:
            continue


def _declared_duration_s(container: Any, stream: Any, origin: float) -> float | None:
    """From the clock's zero to the end the header declares, or None when the header cannot
    be trusted for it: FFmpeg's container duration is a span for MP4 but an end time for
    Matroska, and MPEG-PS/TS estimate it, so a file whose timestamps do not start at 0 is
    measured by a demux pass instead."""
    container_start_s = float(container.start_time or 0) / 1_000_000
    if abs(container_start_s) > 1e-3:
        return None
    ends: list[float] = []
    if stream.duration and stream.time_base:
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        ends.append(start - origin + float(stream.duration * stream.time_base))
    if container.duration and container.duration > 0:
        ends.append(float(container.duration) / 1_000_000 - origin)
    return max(ends) if ends else None


def _demuxed_duration_s(av: Any, container: Any, stream: Any, origin: float) -> float | None:
    """The end of the last packet; raw streams without timestamps: the sum of durations."""
    end: float | None = None
    total = 0.0
    try:
        for packet in container.demux(stream):
            if packet.time_base is None:
                continue
            dur = float((packet.duration or 0) * packet.time_base)
            total += dur
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None:
                t1 = float(ts * packet.time_base) - origin + dur
                end = t1 if end is None else max(end, t1)
    except av.FFmpegError:
        pass  # a damaged tail: what was read so far is the duration
    return end if end is not None else (total or None)


def _rotation_deg(frame: Any) -> int:
    """The frame's display rotation, counter-clockwise, snapped to 0/90/180/270."""
    try:
        rotation = float(frame.rotation or 0)
    except Exception:  # no display matrix, or a PyAV without the property
        return 0
    return (round(rotation / 90) * 90) % 360


def _display_size(width: int, height: int, stream: Any, rotation: int) -> tuple[int, int]:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * float(sar)))
    return (height, width) if rotation in (90, 270) else (width, height)


def fit_size(width: int, height: int, max_side_px: int) -> tuple[int, int]:
    """`width`×`height` scaled down (never up) so the longer side is at most `max_side_px`."""
    scale = min(1.0, max_side_px / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def iter_frames(
    source: VideoSource,
    targets: Sequence[float],
    *,
    max_side_px: int,
    threads: int | None = None,
    field: str | None = None,
) -> Iterator[SampledFrame]:
    """Yield the frame on screen at each target time (ascending seconds on the file's clock),
    as it is decoded; see `sightd.media.sampling` for the rule. A frame is yielded at most
    once, so there can be fewer frames than targets. Blocking; close the generator to stop.
    `threads` defaults to the number of cores (measured best: more over-subscribes 2 cores).

    Corrupt packets are skipped; `InvalidArgument` only when no frame decodes at all, when the
    file cannot be opened or has no video stream.
    """
    if any(b < a for a, b in itertools.pairwise(targets)):
        raise ValueError("targets must be in ascending order")
    if not targets:
        return
    av = _import_av()
    with open_container(source, field=field) as container:
        stream = video_stream(container, field=field)
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = max(1, threads or os.cpu_count() or 1)
        sampler = _Sampler(av, container, stream, list(targets), max_side_px)
        yield from sampler.run()
        if not sampler.decoded_any:
            raise InvalidArgument("could not decode video: no frame decodes", field=field)


class _Sampler:
    """The decode loop's state: next target, the frame on screen, where the demuxer is."""

    def __init__(
        self, av: Any, container: Any, stream: Any, targets: list[float], max_side_px: int
    ) -> None:
        self.av, self.container, self.stream = av, container, stream
        self.targets = targets
        self.next_target_s = targets[0]
        self.max_side_px = max_side_px
        self.tb = stream.time_base or Fraction(1, 90_000)
        self.origin = origin_s(container)
        rate = stream.guessed_rate or stream.average_rate
        self.frame_s = 1 / float(rate) if rate else 1 / 25
        self.decoded_any = False
        self.read_ts: int | None = None  # dts (else pts) of the last demuxed packet
        self.seek_check: float | None = None  # target a seek was made for, until a frame shows
        self.landing_floor: int | None = None  # a forward seek must land past this read ts
        self.overshoots = 0
        self.reorder_s = (4 if stream.codec_context.has_b_frames else 1) * self.frame_s
        self.index = _keyframe_index(stream)
        # Only codecs with reordering have frames nothing refers to; VP9 ignores the flag.
        self.use_nonref = bool(stream.codec_context.has_b_frames)
        # Variable-rate streams: the average interval (longer than the nominal one) is the
        # safer guess of how far before a target the frame on screen may lie.
        rates = [float(r) for r in (stream.guessed_rate, stream.average_rate) if r]
        slowest_s = 1 / min(rates) if rates else self.frame_s
        self.nonref_margin_s = _NONREF_MARGIN_FRAMES * slowest_s + 0.01
        self.skip_mode = "DEFAULT"

    def run(self) -> Iterator[SampledFrame]:
        targets, n = self.targets, len(self.targets)
        j, checked = 0, -1
        prev: tuple[Any, float] | None = None  # the frame on screen, not yet known to answer
        prev_done = False  # prev has been yielded (or skipped as a duplicate)
        while j < n:
            restarted = False
            for frame, t in self._frames():
                if self.seek_check is not None:
                    if t > self.seek_check + _EPS_S and self._seek_earlier(t):
                        restarted = True
                        break
                    self.seek_check = None
                while j < n and t > targets[j] + _EPS_S:
                    if prev is None:  # the target is before the first frame: show that
                        yield self._emit(frame, t, j)
                        prev, prev_done = (frame, t), True
                    elif not prev_done:
                        yield self._emit(prev[0], prev[1], j)
                        prev_done = True
                    while j < n and targets[j] + _EPS_S < t:
                        j += 1  # later targets before this frame would repeat a yielded one
                    self.next_target_s = targets[min(j, n - 1)]
                if prev is None or prev[0] is not frame:
                    prev, prev_done = (frame, t), False
                if j >= n:
                    return
                if j != checked and self._maybe_seek(targets[j]):
                    prev, restarted = None, True
                    break
                checked = j  # the gain from seeking only shrinks as reading goes on
            if not restarted:
                if prev is not None and not prev_done:  # the last frame stays on screen
                    yield self._emit(prev[0], prev[1], j)
                return

    def _frames(self) -> Iterator[tuple[Any, float]]:
        """Decoded frames with their times, until the demuxer runs out or a seek restarts."""
        av, stream = self.av, self.stream
        packets = self.container.demux(stream)
        last_t: float | None = None
        last_dur_s = self.frame_s
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:  # damaged container data: decode what we have
                log.info("video demux stopped early: %s", _reason(exc))
                packet = None
            if packet is not None:
                ts = packet.dts if packet.dts is not None else packet.pts
                if ts is not None:
                    if self.landing_floor is not None and ts < self.landing_floor:
                        log.info("video seek went backwards; decoding straight through")
                        self.index = None
                    self.landing_floor = None
                    self.read_ts = ts
                if self.use_nonref:
                    self._set_skip(packet, self.next_target_s)
            try:
                frames = stream.decode(packet)
            except av.FFmpegError as exc:  # a corrupt packet: the decoder resyncs later
                log.debug("skipping an undecodable video packet: %s", _reason(exc))
                frames = []
            for frame in frames:
                if frame.pts is not None:
                    t = float(frame.pts * self.tb) - self.origin
                elif last_t is not None:  # raw streams carry no timestamps: count durations
                    t = last_t + last_dur_s
                else:
                    t = 0.0
                last_t = t
                last_dur_s = float(frame.duration * self.tb) if frame.duration else self.frame_s
                self.decoded_any = True
                yield frame, t
            if packet is None:
                return

    def _set_skip(self, packet: Any, target_s: float) -> None:
        if packet.pts is None:
            want = "DEFAULT"
        else:
            t = float(packet.pts * self.tb) - self.origin
            want = "NONREF" if t < target_s - self.nonref_margin_s else "DEFAULT"
        if want != self.skip_mode:
            self.stream.codec_context.skip_frame = want
            self.skip_mode = want

    def _maybe_seek(self, target_s: float) -> bool:
        """Seek towards `target_s` if the index shows a keyframe ahead of the read position, by
        more than a decoder flush costs, that is still shown no later than the target: the
        frames up to it belong to a GOP that holds no target."""
        if self.index is None or self.read_ts is None:
            return False
        # Index times may be decode times, which run ahead of presentation by the reorder
        # delay: asking for a keyframe decoded `reorder_s` before the target keeps it on screen
        # no later than the target.
        ts = round((target_s - self.reorder_s + self.origin) / self.tb)
        i = self.index.search_timestamp(ts, backward=True)
        if i < 0 or (self.index[i].timestamp - self.read_ts) * self.tb < _MIN_SEEK_GAIN_S:
            return False
        return self._seek(target_s, target_s, forward_from=self.read_ts)

    def _seek_earlier(self, first_t: float) -> bool:
        """The keyframe we landed on is shown after the target: go one keyframe back."""
        target = self.seek_check
        self.overshoots += 1
        if target is None or self.overshoots > 3 or first_t <= 0:
            return False
        return self._seek(first_t - self.frame_s, target, forward_from=None)

    def _seek(self, to_s: float, target_s: float, forward_from: int | None) -> bool:
        """Seek to the keyframe at or before `to_s` (demuxers pick it by their own notion of
        time: presentation time for MP4, cues for WebM). A forward seek that lands behind the
        read position means that notion is not ours: seeking is then off for this file."""
        try:
            self.container.seek(
                round((to_s + self.origin) / self.tb),
                backward=True,
                any_frame=False,
                stream=self.stream,
            )
        except self.av.FFmpegError:
            self.index = None
            return False
        if forward_from is not None:
            self.overshoots = 0
        self.seek_check, self.landing_floor = target_s, forward_from
        return True

    def _emit(self, frame: Any, t: float, index: int) -> SampledFrame:
        return SampledFrame(index=index, time_s=t, image=self._to_image(frame))

    def _to_image(self, frame: Any) -> Image:
        """Scale and convert in one swscale pass, then rotate for display."""
        rotation = _rotation_deg(frame)
        w, h = _display_size(frame.width, frame.height, self.stream, rotation)
        w, h = fit_size(w, h, self.max_side_px)
        if rotation in (90, 270):
            w, h = h, w
        image: Image = frame.reformat(w, h, "rgb24", interpolation="AREA").to_image()
        if rotation:
            image = image.transpose(_TRANSPOSE[rotation])
        return image


# Counter-clockwise display rotation → the transpose that applies it (PIL's are counter-clockwise).
_TRANSPOSE = {90: Transpose.ROTATE_90, 180: Transpose.ROTATE_180, 270: Transpose.ROTATE_270}


def _keyframe_index(stream: Any) -> Any:
    """The demuxer's keyframe index when it has one before reading (MP4/MOV, WebM cues, AVI
    idx1, ASF): only then can we tell that a GOP holds no target. Entries are real keyframes
    even when the index is partial, so seeking to one before a target is always safe."""
    try:
        entries = stream.index_entries
        usable = len(entries) >= 2 and hasattr(entries, "search_timestamp")
    except AttributeError:  # a PyAV before index access: decode straight through
        return None
    return entries if usable else None
