"""What the model sees of one video or image, as data: the code path of `sightd inspect` (its text
and `--html` output) and of the playground's `POST /web/inspect`.

`materialize` runs the Materializer exactly as a request does (same sampling and limits, minus
the model); `inspection` turns its result into frames (each a small JPEG data URL at its source
time), transcript segments, the header the model reads and the token counts; `to_json` and
`to_html` write that for the page and for a file. In the HTML every untrusted string (file name,
transcript) is escaped and there is no script.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sightd.engine.registry import video_input
from sightd.engine.render import native_video_header, video_header
from sightd.media.sampling import timestamp_mmss
from sightd.prompt import ImagePart, Prompt, VideoPart
from sightd.services.inputs import GenerateInput, MediaIn, TurnIn
from sightd.services.materialize import Materializer, TokenUsage
from sightd.settings import Settings

INSPECT_IMAGE_SIDE_PX = 4096
THUMB_SIDE_PX = 192
"""Longest side of the JPEG of each frame shown (the model's own frame is larger)."""


@dataclass(frozen=True)
class SeenFrame:
    """One frame (or still image, `time_s` None) as the model gets it, and a small JPEG of it."""

    time_s: float | None
    width_px: int
    height_px: int
    jpeg_data_url: str

    @property
    def mmss(self) -> str:
        return "" if self.time_s is None else timestamp_mmss(self.time_s)


@dataclass(frozen=True)
class SeenSpeech:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Inspection:
    """What `inspect` shows: header and input mode of the video (empty for an image), frames,
    transcript and prompt tokens by modality."""

    name: str
    header: str
    video_input: str
    frames: tuple[SeenFrame, ...]
    transcript: tuple[SeenSpeech, ...]
    tokens_by_modality: dict[str, int]
    # The served model's own count (chat template, media at the size it sees them), beside
    # Gemini's rule above; None when it cannot be told (the model's files are elsewhere).
    model_tokens: int | None = None

    @property
    def tokens_total(self) -> int:
        return sum(self.tokens_by_modality.values())


@runtime_checkable
class PromptCounter(Protocol):
    """A backend that can tell its model's own token count of a prompt (the in-process one)."""

    async def count_prompt_tokens(self, prompt: Prompt) -> int: ...


async def model_token_count(backend: object, prompt: Prompt) -> int | None:
    """The served model's own count of `prompt`, when its backend can tell it."""
    if isinstance(backend, PromptCounter):
        return await backend.count_prompt_tokens(prompt)
    return None


async def materialize(
    materializer: Materializer, owner: str, part: MediaIn
) -> tuple[Prompt, TokenUsage]:
    """The decoded prompt of this one part (video or image), as a request would build it."""
    inp = GenerateInput(model="inspect", turns=(TurnIn("user", (part,)),))
    return await materializer.prompt(owner, inp, INSPECT_IMAGE_SIDE_PX, lambda _text: 0)


def video_header_for(settings: Settings, video: VideoPart) -> str:
    """The header the configured model reads before this video."""
    how = video_input(settings)
    if how.native:
        return native_video_header(video, source_timestamps=how.source_timestamps)
    return video_header(video)


def _jpeg_data_url(image: ImagePart, side_px: int) -> str:
    thumb = image.image.copy()
    thumb.thumbnail((side_px, side_px))
    buf = io.BytesIO()
    thumb.convert("RGB").save(buf, format="JPEG", quality=75)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _seen(time_s: float | None, image: ImagePart, side_px: int) -> SeenFrame:
    return SeenFrame(time_s, image.image.width, image.image.height, _jpeg_data_url(image, side_px))


def inspection(
    settings: Settings,
    name: str,
    prompt: Prompt,
    usage: TokenUsage,
    *,
    max_frames: int | None = None,
    thumb_side_px: int = THUMB_SIDE_PX,
    model_tokens: int | None = None,
) -> Inspection:
    """The view of `prompt` (one turn of one part); at most `max_frames` frames are encoded."""
    frames: list[SeenFrame] = []
    transcript: list[SeenSpeech] = []
    header = how = ""
    limit = settings.max_video_frames if max_frames is None else max_frames
    for item in prompt.turns[0].parts:
        if isinstance(item, ImagePart):
            frames.append(_seen(None, item, thumb_side_px))
        elif isinstance(item, VideoPart):
            header = video_header_for(settings, item)
            how = video_input(settings).description
            frames += [_seen(f.time_s, f.image, thumb_side_px) for f in item.frames[:limit]]
            transcript += [SeenSpeech(s.start_s, s.end_s, s.text) for s in item.transcript]
    by_modality = {m: n for m, n in usage.by_modality.items() if n}
    return Inspection(
        name, header, how, tuple(frames), tuple(transcript), by_modality, model_tokens
    )


def to_json(view: Inspection) -> dict[str, object]:
    """The page's view: times in seconds and MM:SS, frames as JPEG data URLs."""
    return {
        "name": view.name,
        "header": view.header,
        "videoInput": view.video_input,
        "frames": [
            {
                "timeSeconds": f.time_s,
                "mmss": f.mmss,
                "width": f.width_px,
                "height": f.height_px,
                "image": f.jpeg_data_url,
            }
            for f in view.frames
        ],
        "transcript": [
            {
                "startSeconds": s.start_s,
                "endSeconds": s.end_s,
                "mmss": timestamp_mmss(s.start_s),
                "text": s.text,
            }
            for s in view.transcript
        ],
        "totalTokens": view.tokens_total,
        "tokensByModality": dict(view.tokens_by_modality),
        "modelTokens": view.model_tokens,
    }


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
.strip { display: flex; flex-wrap: wrap; gap: .5rem; list-style: none; padding: 0; }
.strip li { display: flex; flex-direction: column; align-items: center; }
.strip img { max-width: 192px; max-height: 192px; border: 1px solid #ccd; }
time { font-variant-numeric: tabular-nums; font-weight: 600; }
.transcript { list-style: none; padding: 0; }
.muted { color: #5a6270; }
"""


def to_html(view: Inspection) -> str:
    """A self-contained page of the view: no script, frames inline, all text escaped."""
    e = html.escape
    frames = "\n".join(
        f'<li class="frame"><img src="{e(f.jpeg_data_url)}" alt="frame at {e(f.mmss)}" '
        f'width="{f.width_px}" height="{f.height_px}">'
        f'<time data-seconds="{f.time_s if f.time_s is not None else ""}">{e(f.mmss)}</time>'
        f'<span class="muted">{f.width_px}×{f.height_px}</span></li>'
        for f in view.frames
    )
    speech = (
        "\n".join(
            f'<li class="speech"><time data-seconds="{s.start_s:g}">{e(timestamp_mmss(s.start_s))}'
            f"</time> {e(s.text)}</li>"
            for s in view.transcript
        )
        or '<li class="muted">No speech.</li>'
    )
    tokens = ", ".join(f"{e(m)} {n}" for m, n in view.tokens_by_modality.items())
    own = "" if view.model_tokens is None else f"; the model reads {view.model_tokens} tokens"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
style-src 'unsafe-inline'">
<title>sightd inspect: {e(view.name)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>What the model sees of <span class="name">{e(view.name)}</span></h1>
<p class="header">{e(view.header)}</p>
<p class="muted">{e(f"video goes in as {view.video_input}" if view.video_input else "")}</p>
<p class="tokens">{len(view.frames)} frames; tokens: {view.tokens_total} ({tokens}){own}</p>
<h2>Frames</h2>
<ol class="strip">
{frames}
</ol>
<h2>Transcript</h2>
<ol class="transcript">
{speech}
</ol>
</body>
</html>
"""
