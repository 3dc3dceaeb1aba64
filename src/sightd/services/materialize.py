"""Turns a `GenerateInput` into what the engine consumes, and counts its tokens.

One path serves both countTokens (sizes from image headers, nothing decoded) and generation
(images decoded off the event loop at the size the model needs), so the two report the same
numbers for the same request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from sightd import errors
from sightd.engine.base import MediaSizing
from sightd.engine.tools import call_as_text, response_as_text, tool_json
from sightd.media import image as media_image
from sightd.media import mime as media_mime
from sightd.media import tokens as media_tokens
from sightd.media.decode_budget import DecodeBudget
from sightd.prompt import (
    FunctionCallPart,
    FunctionResponsePart,
    ImagePart,
    Prompt,
    PromptPart,
    TextPart,
    TimedFrame,
    Turn,
)
from sightd.services.files import FileService
from sightd.services.inputs import (
    FileMedia,
    FunctionCallIn,
    FunctionResponseIn,
    GenerateInput,
    InlineMedia,
    LocalMedia,
    MediaIn,
    TextIn,
)
from sightd.services.observe import NULL_OBSERVER, Observer
from sightd.services.url_media import UrlSource
from sightd.services.video import VideoPipeline, video_part
from sightd.settings import Settings


@dataclass
class TokenUsage:
    """Prompt tokens by Gemini modality name (TEXT, IMAGE, VIDEO, AUDIO)."""

    by_modality: dict[str, int] = field(default_factory=dict)

    def add(self, modality: str, tokens: int) -> None:
        self.by_modality[modality] = self.by_modality.get(modality, 0) + tokens

    @property
    def total(self) -> int:
        return sum(self.by_modality.values())

    def details(self) -> list[dict[str, object]]:
        return [{"modality": m, "tokenCount": n} for m, n in self.by_modality.items()]


@dataclass(frozen=True)
class _Media:
    """Resolved bytes of one media part: in memory (inline) or on disk (Files API, URLs)."""

    mime_type: str
    data: bytes | None
    path: Path | None
    cache_key: str | None = None  # a file id or URL-cache key: processed media are cached

    @property
    def source(self) -> bytes | Path:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path


class Materializer:
    """Resolves media references and decodes or measures them."""

    def __init__(
        self,
        settings: Settings,
        files: FileService,
        video: VideoPipeline | None = None,
        decode_budget: DecodeBudget | None = None,
        observer: Observer = NULL_OBSERVER,
    ) -> None:
        self.settings = settings
        self.files = files
        self.observer = observer  # decode times (timed on the loop around each thread hop)
        # Shared with Files API processing (see wiring); one process, one budget.
        self.decode_budget = decode_budget or decode_budget_for(settings)
        self.video = video or VideoPipeline(settings)
        self.urls = UrlSource(settings, forget=self.video.forget)

    async def _resolve(self, owner: str, part: MediaIn) -> _Media:
        ref = part.ref
        if isinstance(ref, InlineMedia):
            mime = media_mime.resolve_mime(
                ref.mime_type, ref.data[: media_mime.SNIFF_BYTES], part.field
            )
            return _Media(mime, ref.data, None)
        if isinstance(ref, FileMedia):
            stored = await self.files.resolve_for_use(owner, ref.file_id)
            return _Media(media_mime.normalize(stored.mime_type), None, stored.path, stored.key)
        if isinstance(ref, LocalMedia):
            with ref.path.open("rb") as fh:
                head = fh.read(media_mime.SNIFF_BYTES)
            return _Media(media_mime.resolve_mime(ref.mime_type, head, part.field), None, ref.path)
        fetched = await self.urls.fetch_async(owner, ref.url, part.field)
        head = await asyncio.to_thread(_head, fetched.path)
        # The bytes decide; the server's Content-Type only speaks when they say nothing.
        declared = ref.mime_type or (fetched.mime_type if media_mime.sniff(head) is None else None)
        mime = media_mime.resolve_mime(declared, head, part.field)
        return _Media(mime, None, fetched.path, fetched.cache_key)

    def _kind(self, media: _Media, field_name: str) -> str:
        kind = media_mime.kind(media.mime_type)
        if kind not in ("image", "video"):
            raise errors.InvalidArgument(
                f"{media.mime_type} input is not supported by this server; send images (PNG, "
                "JPEG, WEBP, HEIC, HEIF) or videos.",
                field=field_name,
            )
        return kind

    async def count(
        self, owner: str, inp: GenerateInput, count_text: Callable[[str], int]
    ) -> TokenUsage:
        """Gemini-rule token counts of the whole request, without decoding pixels."""
        _, usage = await self._walk(owner, inp, count_text, max_side_px=None)
        return usage

    async def prompt(
        self,
        owner: str,
        inp: GenerateInput,
        max_side_px: int,
        count_text: Callable[[str], int],
        sizing: MediaSizing | None = None,
    ) -> tuple[Prompt, TokenUsage]:
        """The decoded prompt, and its token usage by the same rules as `count`.

        With `sizing` (the model's resolution policy) images are decoded, and video frames
        resized, to exactly the size the model sees at each part's `mediaResolution`;
        without it images are decoded no larger than `max_side_px`.
        """
        return await self._walk(owner, inp, count_text, max_side_px=max_side_px, sizing=sizing)

    async def _walk(
        self,
        owner: str,
        inp: GenerateInput,
        count_text: Callable[[str], int],
        max_side_px: int | None,
        sizing: MediaSizing | None = None,
    ) -> tuple[Prompt, TokenUsage]:
        """Resolve every part in order; decode images only when `max_side_px` is given."""
        usage = TokenUsage({"TEXT": 0})
        if inp.system:
            usage.add("TEXT", count_text(inp.system))
        for decl in inp.tools:  # declarations are prompt text, as the model reads them
            usage.add("TEXT", count_text(json.dumps(tool_json(decl), ensure_ascii=False)))
        turns: list[Turn] = []
        counts = {"image": 0, "video": 0}
        for turn in inp.turns:
            parts: list[PromptPart] = []
            for part in turn.parts:
                if isinstance(part, TextIn):
                    usage.add("TEXT", count_text(part.text))
                    parts.append(TextPart(part.text))
                    continue
                if isinstance(part, FunctionCallIn):
                    call = FunctionCallPart(part.name, part.args_json, part.id)
                    usage.add("TEXT", count_text(call_as_text(call)))
                    parts.append(call)
                    continue
                if isinstance(part, FunctionResponseIn):
                    response = FunctionResponsePart(part.name, part.response_json, part.id)
                    usage.add("TEXT", count_text(response_as_text(response)))
                    parts.append(response)
                    continue
                media = await self._resolve(owner, part)
                kind = self._kind(media, part.field)
                counts[kind] += 1
                self._check_count(kind, counts[kind])
                resolution = part.resolution or inp.media_resolution
                if kind == "video":
                    await self._add_video(
                        media, part, resolution, max_side_px, usage, parts, sizing
                    )
                    continue
                if max_side_px is None:
                    size = await asyncio.to_thread(_image_size, media, part.field)
                else:
                    size_for = _size_for(sizing.image_px, resolution) if sizing else None
                    started = time.perf_counter()
                    image = await asyncio.to_thread(
                        self._decode, media, max_side_px, part.field, size_for
                    )
                    self.observer.media_decoded("image", time.perf_counter() - started)
                    size = image.source_size_px
                    parts.append(image)
                usage.add("IMAGE", media_tokens.image_tokens(*size))
            turns.append(Turn(turn.role, tuple(parts)))
        return Prompt(tuple(turns), inp.system), usage

    def _check_count(self, kind: str, n: int) -> None:
        limit = (
            self.settings.max_videos_per_request
            if kind == "video"
            else self.settings.max_images_per_request
        )
        if n > limit:
            raise errors.InvalidArgument(f"Too many {kind}s in one request: the limit is {limit}.")

    async def _add_video(
        self,
        media: _Media,
        part: MediaIn,
        resolution: str | None,
        max_side_px: int | None,
        usage: TokenUsage,
        out: list[PromptPart],
        sizing: MediaSizing | None = None,
    ) -> None:
        """Count a video's tokens; when decoding, add it as a `VideoPart` (timed frames and
        transcript)."""
        plan = await asyncio.to_thread(
            self.video.plan, media.source, part.video, resolution, part.field, media.cache_key
        )
        usage.add("VIDEO", plan.frame_tokens)
        if plan.audio_tokens:
            usage.add("AUDIO", plan.audio_tokens)
        if max_side_px is None:
            return
        started = time.perf_counter()  # frames decoded and resized; not the probe, not speech
        frames = await asyncio.to_thread(
            lambda: list(self.video.frames(media.source, plan, part.field))
        )
        if sizing is not None:
            frames = await asyncio.to_thread(_resize_frames, frames, sizing, resolution)
        self.observer.media_decoded("video", time.perf_counter() - started)
        speech = await asyncio.to_thread(self.video.transcript, media.source, plan, part.field)
        out.append(video_part(plan, frames, speech))

    def _decode(
        self,
        media: _Media,
        max_side_px: int,
        field_name: str,
        size_for: media_image.SizeFor | None = None,
    ) -> ImagePart:
        if media.data is not None:
            return media_image.decode_image(
                media.data,
                max_side_px=max_side_px,
                max_pixels=self.settings.max_image_pixels,
                field=field_name,
                size_for=size_for,
                budget=self.decode_budget,
            )
        assert media.path is not None
        return media_image.decode_image_file(
            media.path,
            max_side_px=max_side_px,
            max_pixels=self.settings.max_image_pixels,
            field=field_name,
            size_for=size_for,
            budget=self.decode_budget,
        )


def decode_budget_for(settings: Settings) -> DecodeBudget:
    """The process's image-decode budget from settings (build one, share it)."""
    return DecodeBudget(
        settings.image_decode_budget_bytes,
        settings.max_image_decode_bytes,
        settings.image_decode_wait_s,
    )


def _size_for(
    size_px: Callable[[tuple[int, int], str | None], tuple[int, int]], level: str | None
) -> media_image.SizeFor:
    return lambda size: size_px(size, level)


def _resize_frames(
    frames: list[TimedFrame], sizing: MediaSizing, level: str | None
) -> list[TimedFrame]:
    """Frames at the size the model sees them at `level` (bicubic, as Qwen's processor)."""
    out = []
    for frame in frames:
        image = frame.image.image
        size = sizing.frame_px(image.size, level)
        if size != image.size:
            image = image.resize(size, Image.Resampling.BICUBIC)
            frame = TimedFrame(frame.time_s, ImagePart(image, frame.image.source_size_px))
        out.append(frame)
    return out


def _image_size(media: _Media, field_name: str) -> tuple[int, int]:
    if media.data is not None:
        return media_image.image_size(media.data, field=field_name)
    assert media.path is not None
    return media_image.image_size_file(media.path, field=field_name)


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(media_mime.SNIFF_BYTES)
