"""The typed prompt: what services hand an engine, and what media produces for it.

These value types sit on the ground floor (beside `errors.py`) because three layers share
them: `media/` decodes bytes into `ImagePart`s and timed frames, `services/` assembles turns,
and `engine/` renders them for a model. None of them knows HTTP, wire JSON or torch.

A video stays a `VideoPart` (its sampled frames with their source times, its transcript, the
clip and rate it was sampled at) all the way to the backend, which decides how the model reads
it: natively as one video, or as frames each after its `MM:SS` (`engine.render`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL.Image import Image

Role = Literal["user", "model"]


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    """An RGB image, EXIF orientation applied, already no larger than the model needs.

    `source_size_px` is (width, height) of the original after orientation: boxes and token
    counts refer to it, not to the possibly downscaled `image`.
    """

    image: Image
    source_size_px: tuple[int, int]


@dataclass(frozen=True)
class TimedFrame:
    """A sampled video frame and its presentation time on the source's clock (seconds)."""

    time_s: float
    image: ImagePart


@dataclass(frozen=True)
class TranscriptSegment:
    """A stretch of speech: `text` spoken from `start_s` to `end_s` (source seconds)."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class VideoPart:
    """One video as sampled for the model.

    `frames` are in time order with their source times: a clip from 20:50 has frames at
    1250.0 s, not 0. `fps` is the sampling rate actually used, `clip_start_s`/`clip_end_s` the
    interval sampled, `duration_s` the whole source's length.
    """

    frames: tuple[TimedFrame, ...]
    transcript: tuple[TranscriptSegment, ...]
    fps: float
    clip_start_s: float
    clip_end_s: float
    duration_s: float

    @property
    def clipped(self) -> bool:
        return self.clip_start_s > 0 or self.clip_end_s < self.duration_s - 1e-3


@dataclass(frozen=True)
class FunctionCallPart:
    """A function call the model made: in a model turn of the history, or in an answer.

    `args_json` is the arguments object as compact JSON text (hashable, and exactly what the
    model's template renders); `id` pairs it with its `FunctionResponsePart`.
    """

    name: str
    args_json: str
    id: str | None = None


@dataclass(frozen=True)
class FunctionResponsePart:
    """What the client's function returned (a user turn), `response_json` as compact JSON."""

    name: str
    response_json: str
    id: str | None = None


@dataclass(frozen=True)
class FunctionDecl:
    """A function the model may call; `parameters_json` is its arguments' JSON Schema (standard
    JSON Schema, compact text), or None when it takes no arguments."""

    name: str
    description: str = ""
    parameters_json: str | None = None


PromptPart = TextPart | ImagePart | VideoPart | FunctionCallPart | FunctionResponsePart


@dataclass(frozen=True)
class Turn:
    role: Role
    parts: tuple[PromptPart, ...]


@dataclass(frozen=True)
class Prompt:
    """A whole conversation: optional system text, then turns in order (last one is the user's).

    `tools` are the functions the model may call now: a backend with a tool syntax
    (`Capabilities.tool_calls`) renders them in it; others show them as an instruction to
    answer with one call, which services then hold to under a grammar
    (`engine.render.functions_as_text`).
    """

    turns: tuple[Turn, ...]
    system: str | None = None
    tools: tuple[FunctionDecl, ...] = ()

    def images(self) -> list[ImagePart]:
        """Every still image of the prompt in order (video frames excluded)."""
        return [p for t in self.turns for p in t.parts if isinstance(p, ImagePart)]

    def videos(self) -> list[VideoPart]:
        return [p for t in self.turns for p in t.parts if isinstance(p, VideoPart)]
