"""The engine seam: the backend protocol, what crosses it, and what a backend can do.

Services build a `sightd.prompt.Prompt` from decoded media and await a `Backend`; the backend
renders it for its model (a family's chat template in-process, OpenAI chat messages for a
remote server), runs it and returns text. The seam is typed (no HTTP, no wire JSON, no torch)
and async, so a backend owns its own concurrency: the in-process model batches the requests in
flight behind a bounded queue, a remote one keeps many requests in flight over one pooled client.

A backend states its `Capabilities` instead of being probed: whether it takes video natively,
which family's native grounding its boxes follow, which output constraints it enforces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from sightd.prompt import FunctionCallPart, Prompt

FinishReason = Literal["STOP", "MAX_TOKENS", "MALFORMED_FUNCTION_CALL"]


@dataclass(frozen=True)
class JsonOutput:
    """The answer must be one JSON value valid under `schema_json` (a JSON Schema as canonical
    JSON text, already reduced to what the engine enforces by `sightd.engine.constrain`), or
    any JSON value when it is None. Text, so the constraint is hashable and cacheable.

    `full_schema_json` is the caller's whole schema (standard JSON Schema, canonical text) when
    decoding enforces only part of it; `sightd.services.checked` validates answers against it.
    None when `schema_json` is all there is to enforce."""

    schema_json: str | None = None
    full_schema_json: str | None = None


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
    # OpenAI-style penalties over the generated tokens: logit -= presence·[count > 0] +
    # frequency·count. None or 0: off.
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # Per-token log probabilities: None: not wanted; n ≥ 0: the chosen token's and the top n.
    logprobs: int | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """One token and its natural-log probability. `token_id` is None where an upstream server
    does not tell it."""

    token: str
    token_id: int | None
    log_probability: float


@dataclass(frozen=True)
class StepLogprobs:
    """One decoding step: the token chosen, and the `SamplingParams.logprobs` most likely
    tokens (best first; the chosen one need not be among them), all under the distribution the
    token was chosen from."""

    chosen: TokenLogprob
    top: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Completion:
    """The finished answer of one generation: text, and the function calls the model made
    (parsed and checked by services; backends return the model's text as produced)."""

    text: str
    finish_reason: FinishReason
    output_tokens: int
    calls: tuple[FunctionCallPart, ...] = ()
    # One entry per generated token when `SamplingParams.logprobs` was set, else None.
    logprobs: tuple[StepLogprobs, ...] | None = None
    # The prompt's length in the model's own tokens (chat template, image and video tokens at
    # the size the model saw them), beside Gemini's `countTokens` rule; None when unknown.
    model_prompt_tokens: int | None = None


@dataclass(frozen=True)
class TextDelta:
    """New text produced while streaming (never re-sends earlier text), with the log
    probabilities of the tokens produced since the previous delta, when they were asked for."""

    text: str
    logprobs: tuple[StepLogprobs, ...] = ()


class MediaSizing(Protocol):
    """The size a backend's model sees media at, per `mediaResolution` level (None: default).

    Services decode images (and resize video frames) straight to these sizes, so the model
    sees exactly what was budgeted and nothing is resized twice. Sizes are (width, height) of
    the EXIF-oriented source.
    """

    def image_px(self, size_px: tuple[int, int], level: str | None) -> tuple[int, int]: ...

    def frame_px(self, size_px: tuple[int, int], level: str | None) -> tuple[int, int]: ...


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
    # Exact sizes per mediaResolution level; None: decode to `image_max_side_px`, frames as
    # sampled (the upstream resizes them itself).
    sizing: MediaSizing | None = field(default=None, compare=False, repr=False)


Constraint = Literal["json_schema", "choice"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so services choose without probing it.

    - `native_video`: it renders a `VideoPart` as one video input (else frames + `MM:SS`);
    - `grounding_family`: the family whose native box dialect its model speaks (None: use
      the detector); `input_frame_px` gives the frame absolute boxes refer to;
    - `constraints`: output constraints enforced during decoding (answers are validated
      after decoding either way);
    - `max_concurrency`: generations it runs at once; `max_queue`: how many more may wait
      before it answers 429;
    - `tool_calls`: it renders `Prompt.tools` and function turns in its model's own tool syntax
      (Qwen's `<tool_call>` JSON, `sightd.engine.tools`), so the model may choose to call a
      function (AUTO mode); without it functions are called only under a grammar (ANY).
    """

    native_video: bool = False
    grounding_family: str | None = None
    constraints: frozenset[Constraint] = frozenset()
    max_concurrency: int = 1
    max_queue: int = 32
    tool_calls: bool = False


@runtime_checkable
class Backend(Protocol):
    """A served model. `generate`/`stream` are async and safe to call concurrently: the backend
    queues (bounded, 429 when full) or runs them in parallel as it can."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def count_text_tokens(self, text: str) -> int:
        """Tokens the model's own tokenizer uses for `text` (no chat template)."""
        ...

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        """(width, height) the model sees an image of `size_px` at: the frame of absolute
        native coordinates (Qwen2.5-VL's boxes); the image's own size when not resized."""
        ...

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Completion: ...

    def stream(
        self, prompt: Prompt, params: SamplingParams
    ) -> AsyncIterator[TextDelta | Completion]:
        """Yield `TextDelta`s as text is produced, then exactly one `Completion` (full text).

        Closing the iterator early (client went away) stops generation promptly and frees
        its place.
        """
        ...

    async def health(self) -> dict[str, str]:
        """A few words on the backend's state for /healthz (no secrets, no paths); never
        raises, answers within a few seconds."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the backend is not used afterwards."""
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
