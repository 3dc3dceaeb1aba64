"""What the model sees of a video or audio part: sampled frames with their times and the audio
transcript, planned once and reused.

`plan` probes the media and chooses target times (fps, clip, frame budget): enough for
countTokens. `frames` streams the sampled frames (downscaled as they are decoded, never all
held), and `transcript` runs speech-to-text on the clip's audio. For uploaded files all three
are cached on disk under the file's id, so a second request on the same file reuses the probe,
the frames (as JPEGs) and the transcript instead of decoding again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from sightd.engine.speech import Transcriber, load_transcriber
from sightd.media import tokens as media_tokens
from sightd.media.audio import iter_audio
from sightd.media.sampling import SamplingPlan, plan_targets
from sightd.media.video import VideoInfo, VideoSource, iter_frames, probe_video
from sightd.prompt import ImagePart, TimedFrame, TranscriptSegment, VideoPart
from sightd.services.inputs import VideoOptions
from sightd.settings import Settings
from sightd.storage import lru

log = logging.getLogger(__name__)

FRAME_JPEG_QUALITY = 90
_DONE = "complete"


@dataclass(frozen=True)
class VideoPlan:
    """One video part's sampling decisions and its Gemini token cost."""

    info: VideoInfo
    sampling: SamplingPlan
    frame_side_px: int
    low_resolution: bool
    cache_key: str | None

    @property
    def n_frames(self) -> int:
        return len(self.sampling.targets_s)

    @property
    def audio_s(self) -> float:
        return self.sampling.clip_s if self.info.has_audio else 0.0

    @property
    def frame_tokens(self) -> int:
        per = (
            media_tokens.VIDEO_FRAME_TOKENS_LOW
            if self.low_resolution
            else (media_tokens.VIDEO_FRAME_TOKENS)
        )
        return self.n_frames * per

    @property
    def audio_tokens(self) -> int:
        return media_tokens.audio_tokens(self.audio_s)

    def variant(self) -> str:
        """Cache sub-key of these frames: same file + same variant ⇒ same frames."""
        s = self.sampling
        return f"{s.fps:g}_{s.clip_start_s:g}_{s.clip_end_s:g}_{self.n_frames}_{self.frame_side_px}"


class VideoPipeline:
    """Plans, decodes, transcribes and caches video/audio parts for the Materializer."""

    def __init__(
        self,
        settings: Settings,
        transcriber_factory: Callable[[], Transcriber] | None = None,
    ) -> None:
        self.settings = settings
        self.cache_root = settings.data_dir / "media-cache"
        self._factory = transcriber_factory or (lambda: load_transcriber(settings.speech_backend))
        self._transcriber: Transcriber | None = None
        self._transcriber_failed = False
        self._lock = threading.Lock()

    # --- planning (countTokens and generation) ---------------------------------------------
    def plan(
        self,
        source: VideoSource,
        options: VideoOptions | None,
        resolution: str | None,
        field: str,
        cache_key: str | None,
    ) -> VideoPlan:
        """Probe (cached per file) and choose the target times; no frame is decoded."""
        info = self._probe(source, field, cache_key)
        low = resolution == "low"
        side = self.settings.video_frame_low_side_px if low else self.settings.video_frame_side_px
        opts = options or VideoOptions()
        sampling = plan_targets(
            info.duration_s,
            fps=opts.fps,
            start_s=opts.start_s,
            end_s=opts.end_s,
            max_frames=self.settings.max_video_frames,
            video_fps=info.fps,
            field=f"{field}.video_metadata",
        )
        return VideoPlan(info, sampling, side, low, cache_key)

    def _probe(self, source: VideoSource, field: str, cache_key: str | None) -> VideoInfo:
        path = self._cache_dir(cache_key) / "probe.json" if cache_key else None
        if path is not None and path.exists():
            lru.touch(path.parent)
            return VideoInfo(**json.loads(path.read_text()))
        info = probe_video(source, field=field)
        if path is not None:
            _atomic_write(path, json.dumps(asdict(info)))
        return info

    # --- frames -----------------------------------------------------------------------------
    def frames(self, source: VideoSource, plan: VideoPlan, field: str) -> Iterator[TimedFrame]:
        """Sampled frames in time order, streamed; from the cache when this variant is there."""
        size = (plan.info.width_px, plan.info.height_px)
        folder = self._cache_dir(plan.cache_key) / plan.variant() if plan.cache_key else None
        if folder is not None and (folder / _DONE).exists():
            lru.touch(folder.parent)
            for jpg in sorted(folder.glob("*.jpg")):
                time_s = float(jpg.stem.split("_", 1)[1])
                with Image.open(jpg) as img:
                    yield TimedFrame(time_s, ImagePart(img.convert("RGB"), size))
            return
        # Each writer fills its own folder and publishes it with one rename, so two requests on
        # the same file never write into each other's frames.
        partial = (
            folder.with_name(f"{folder.name}.{uuid.uuid4().hex}.partial")
            if folder is not None
            else None
        )
        if partial is not None:
            partial.mkdir(parents=True)
        try:
            for frame in iter_frames(
                source, list(plan.sampling.targets_s), max_side_px=plan.frame_side_px, field=field
            ):
                if partial is not None:
                    name = f"{frame.index:06d}_{frame.time_s:.6f}.jpg"
                    frame.image.save(partial / name, quality=FRAME_JPEG_QUALITY)
                yield TimedFrame(frame.time_s, ImagePart(frame.image, size))
            if partial is not None and folder is not None:
                (partial / _DONE).write_text("")
                with contextlib.suppress(OSError):  # another request published it first
                    partial.rename(folder)
                lru.touch(folder.parent)
                lru.evict(self.cache_root, self.settings.media_cache_max_bytes, keep=plan.cache_key)
        finally:
            if partial is not None:  # unpublished (error, early stop, lost the race)
                shutil.rmtree(partial, ignore_errors=True)

    # --- audio --------------------------------------------------------------------------------
    def transcript(
        self, source: VideoSource, plan: VideoPlan, field: str
    ) -> list[TranscriptSegment]:
        """The clip's speech with times (cached per file and clip); empty without audio or ASR."""
        if not plan.info.has_audio:
            return []
        s = plan.sampling
        path = None
        if plan.cache_key:
            path = (
                self._cache_dir(plan.cache_key)
                / f"transcript_{s.clip_start_s:g}_{s.clip_end_s:g}.json"
            )
            if path.exists():
                return [TranscriptSegment(**seg) for seg in json.loads(path.read_text())]
        transcriber = self._get_transcriber()
        if transcriber is None:
            return []
        blocks = iter_audio(source, start_s=s.clip_start_s, end_s=s.clip_end_s, field=field)
        segments = transcriber.transcribe(blocks)
        if path is not None:
            _atomic_write(path, json.dumps([asdict(seg) for seg in segments]))
        return segments

    def _get_transcriber(self) -> Transcriber | None:
        if self.settings.speech_backend == "none":
            return None
        with self._lock:
            if self._transcriber is None and not self._transcriber_failed:
                try:
                    self._transcriber = self._factory()
                except Exception as exc:  # missing package, no weights offline, bad name
                    self._transcriber_failed = True
                    log.warning("speech-to-text is off (%s); video audio is not transcribed", exc)
            return self._transcriber

    # --- cache ------------------------------------------------------------------------------
    def _cache_dir(self, cache_key: str | None) -> Path:
        assert cache_key is not None
        return self.cache_root / cache_key

    def forget(self, cache_key: str) -> None:
        """Drop everything cached for a file (it was deleted or expired)."""
        shutil.rmtree(self._cache_dir(cache_key), ignore_errors=True)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def video_part(
    plan: VideoPlan, frames: list[TimedFrame], speech: list[TranscriptSegment]
) -> VideoPart:
    """The typed video the engine receives: frames at their source times, the transcript."""
    s = plan.sampling
    return VideoPart(
        frames=tuple(frames),
        transcript=tuple(speech),
        fps=s.fps,
        clip_start_s=s.clip_start_s,
        clip_end_s=s.clip_end_s,
        duration_s=plan.info.duration_s,
    )
