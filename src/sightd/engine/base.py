"""The backend protocol and the typed prompt it consumes.

Services build a `Prompt` from already-decoded media and call a `Backend` from a worker thread;
the backend turns it into the family's chat format, runs the model and returns text. Keeping this
boundary typed (no HTTP, no wire JSON, no torch) is what lets the engine be in-process
transformers today and a remote vLLM server tomorrow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL.Image import Image

Role = Literal["user", "model"]
FinishReason = Literal["STOP", "MAX_TOKENS"]


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


PromptPart = TextPart | ImagePart


@dataclass(frozen=True)
class Turn:
    role: Role
    parts: tuple[PromptPart, ...]


@dataclass(frozen=True)
class Prompt:
    """A whole conversation: optional system text, then turns in order (last one is the user's)."""

    turns: tuple[Turn, ...]
    system: str | None = None


@dataclass(frozen=True)
class JsonOutput:
    """The answer must be one JSON value valid under `schema_json` (a JSON Schema as canonical
    JSON text, already reduced to what the engine enforces by `sightd.engine.constrain`), or
    any JSON value when it is None. Text, so the constraint is hashable and cacheable."""

    schema_json: str | None = None


@dataclass(frozen=True)
class ChoiceOutput:
    """The answer must be exactly one of `choices`, bare (`text/x.enum`)."""

    choices: tuple[str, ...]


OutputConstraint = JsonOutput | ChoiceOutput


@dataclass(frozen=True)
class SamplingParams:
    """Generation knobs; None means the model's own default (greedy when temperature is 0).

    `constraint` restricts decoding to a grammar (JSON mode, enums); None is free text.
    """

    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop_sequences: tuple[str, ...] = ()
    constraint: OutputConstraint | None = None


@dataclass(frozen=True)
class Completion:
    """The finished answer of one generation."""

    text: str
    finish_reason: FinishReason
    output_tokens: int


@dataclass(frozen=True)
class TextDelta:
    """New text produced while streaming (never re-sends earlier text)."""

    text: str


@dataclass(frozen=True)
class ModelInfo:
    """What the API layer tells clients about the served model."""

    id: str  # URL-safe id, e.g. "qwen3-vl-2b-instruct"
    source: str  # hub id or local folder it was loaded from
    family: str  # e.g. "qwen3-vl"
    display_name: str
    context_tokens: int
    max_output_tokens: int
    image_max_side_px: int  # decode images no larger than this (longest side)
    extras: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A loaded model. Methods block; callers run them off the event loop, one at a time."""

    @property
    def info(self) -> ModelInfo: ...

    def count_text_tokens(self, text: str) -> int:
        """Tokens the model's own tokenizer uses for `text` (no chat template)."""
        ...

    def generate(self, prompt: Prompt, params: SamplingParams) -> Completion: ...

    def stream(self, prompt: Prompt, params: SamplingParams) -> Iterator[TextDelta | Completion]:
        """Yield `TextDelta`s as text is produced, then exactly one `Completion` (full text).

        Closing the iterator early (client went away) stops generation promptly.
        """
        ...


@runtime_checkable
class ResizesImages(Protocol):
    """A backend whose processor resizes images to a frame that native coordinates refer to."""

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """(width, height) the model sees an image of `size_px` (width, height) at."""
        ...


@dataclass(frozen=True)
class LoadProgress:
    """Where loading the model has got to, for 503 messages and the start-up log."""

    stage: Literal["pending", "downloading", "loading", "ready", "failed"]
    message: str
    fraction: float | None = None  # 0..1 while downloading, when known


def model_id_for(source: str) -> str:
    """URL-safe id of a model source: the hub id's or folder's last part, lowercased.

    `Qwen/Qwen3-VL-2B-Instruct` → `qwen3-vl-2b-instruct`. The API names the served model by
    this id (besides the `gemini-*` aliases), before and after it has loaded.
    """
    import re

    base = source.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or "model"
    slug = re.sub(r"[^a-z0-9.\-_]+", "-", base.lower()).strip("-.")
    return slug or "model"
