"""`OpenAIBackend`: sightd in front of any OpenAI-compatible chat-completions server.

Concurrency is the upstream's business (vLLM and SGLang batch continuously), so this backend
keeps up to `max_concurrency` requests in flight over one pooled client, lets `max_queue` more
wait, and answers 429 beyond that. The server is discovered lazily (model name, kind, context
length from `/models`) and re-tried on every request until it answers, so sightd starts, and
keeps serving, while its upstream is down or restarting.

Answers under an enum are checked here; answers under a JSON schema are validated against the
caller's whole schema by `sightd.services.checked` (also where the server enforced it), so a
broken answer is an error, never a `200` that looks valid.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from sightd import errors
from sightd.engine.base import (
    Capabilities,
    ChoiceOutput,
    Completion,
    FinishReason,
    ModelInfo,
    OutputConstraint,
    SamplingParams,
    StepLogprobs,
    TextDelta,
    model_id_for,
)
from sightd.engine.decoding import StopScanner
from sightd.engine.openai.client import UpstreamClient
from sightd.engine.openai.dialects import (
    DIALECTS,
    Dialect,
    detect_kind,
    logprobs_of,
)
from sightd.engine.openai.messages import to_messages
from sightd.engine.openai.processor import CHARS_PER_TOKEN, ModelFacts
from sightd.engine.slots import Slots
from sightd.prompt import Prompt

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_TOKENS = 32768
DEFAULT_MAX_OUTPUT_TOKENS = 8192
HEALTH_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True)
class UpstreamConfig:
    url: str
    model: str | None  # None: the first model the server lists
    served_as: str  # what sightd calls it (its `--model`)
    kind: str  # a DIALECTS key or "auto"
    video: str  # auto | native | frames
    api_key: str | None = None
    context_tokens: int | None = None
    timeout_s: float = 600.0
    connect_timeout_s: float = 5.0
    max_concurrency: int = 64
    max_queue: int = 32


class OpenAIBackend:
    """Implements `sightd.engine.base.Backend` over an OpenAI-compatible server."""

    def __init__(
        self,
        config: UpstreamConfig,
        facts: ModelFacts,
        *,
        count_tokens: Any = None,
        client: UpstreamClient | None = None,
    ) -> None:
        self._config = config
        self._facts = facts
        self._count = count_tokens
        self._client = client or UpstreamClient(
            config.url,
            api_key=config.api_key,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            max_connections=config.max_concurrency,
        )
        self._slots = Slots(
            config.max_concurrency,
            config.max_queue,
            what="The model server",
            retry_after_s=2.0,
        )
        self._discovered = asyncio.Lock()
        self._model: str | None = config.model
        self._dialect: Dialect | None = DIALECTS[config.kind] if config.kind != "auto" else None
        self._last_error: str | None = None
        context = config.context_tokens or facts.context_tokens or DEFAULT_CONTEXT_TOKENS
        family = facts.family
        self._info = ModelInfo(
            id=model_id_for(config.served_as),
            source=config.served_as,
            family=family.name if family else "unknown",
            display_name=config.served_as.rstrip("/").rsplit("/", 1)[-1],
            context_tokens=context,
            max_output_tokens=min(facts.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS, context),
            image_max_side_px=facts.image_max_side_px(),
            extras={"engine": "openai"},
        )

    # --- what it is and can do --------------------------------------------------------------
    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def capabilities(self) -> Capabilities:
        dialect = self._dialect or DIALECTS["openai"]
        family = self._facts.family
        grounding = family.grounding if family else None
        if grounding == "qwen2.5-vl" and not self._facts.resizes:
            grounding = None  # absolute boxes need the resize frame
        constraints: frozenset[Any] = (
            frozenset({"json_schema", "choice"}) if dialect.json_schema else frozenset()
        )
        return Capabilities(
            native_video=self._native_video(dialect),
            grounding_family=grounding,
            constraints=constraints,
            max_concurrency=self._config.max_concurrency,
            max_queue=self._config.max_queue,
        )

    def _native_video(self, dialect: Dialect) -> bool:
        if self._config.video == "frames":
            return False
        if self._config.video == "native":
            return True
        family = self._facts.family
        takes_video = family is not None and family.name in ("qwen2.5-vl", "qwen3-vl")
        return dialect.native_video and takes_video

    def count_text_tokens(self, text: str) -> int:
        if self._count is not None:
            return int(self._count(text))
        return -(-len(text) // CHARS_PER_TOKEN) if text else 0

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        return self._facts.input_frame_px(size_px)

    # --- discovery ------------------------------------------------------------------------------
    async def _discover(self) -> tuple[str, Dialect]:
        """The model name and dialect, asking the server once it answers."""
        if self._model is not None and self._dialect is not None:
            return self._model, self._dialect
        async with self._discovered:
            if self._model is None or self._dialect is None:
                body, headers = await self._client.get_json("/models")
                if self._model is None:
                    self._model = _first_model(body)
                if self._dialect is None:
                    kind = detect_kind(body, headers.get("server"))
                    self._dialect = DIALECTS[kind]
                    log.info("upstream %s is %s, serving %s", self._config.url, kind, self._model)
                context = self._config.context_tokens or _context_of(body, self._model)
                if context:
                    self._info = dataclasses.replace(
                        self._info,
                        context_tokens=context,
                        max_output_tokens=min(self._info.max_output_tokens, context),
                    )
            assert self._model is not None and self._dialect is not None
            return self._model, self._dialect

    # --- requests -------------------------------------------------------------------------------
    async def _body(self, prompt: Prompt, params: SamplingParams, stream: bool) -> dict[str, Any]:
        model, dialect = await self._discover()
        native = self._native_video(dialect)
        messages = await asyncio.to_thread(to_messages, prompt, native_video=native)
        wanted = params.max_output_tokens or self._info.max_output_tokens
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        body.update(dialect.sampling_fields(params, max(1, wanted)))
        body.update(dialect.constraint_fields(params.constraint))
        if native:
            for video in prompt.videos():
                body.update(dialect.video_fields(video.fps, len(video.frames)))
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Completion:
        async with self._slots.hold():
            body = await self._body(prompt, params, stream=False)
            answer = await self._tracked(self._client.post_json("/chat/completions", body))
        choice = _first_choice(answer)
        message = choice.get("message") or {}
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise errors.Unavailable("The model server answered without text content.")
        finish = _finish(choice.get("finish_reason"))
        usage = answer.get("usage") or {}
        tokens = _int(usage.get("completion_tokens"), self.count_text_tokens(text))
        prompt_tokens = _int(usage.get("prompt_tokens"), None)
        scanner = self._scanner(params)
        if scanner is not None:  # the server cannot stop on sequences: cut here
            text = scanner.feed(text) + scanner.finish()
            finish = "STOP" if scanner.stopped else finish
        text = _checked(text, finish, params.constraint)
        steps = None
        if params.logprobs is not None:
            steps = tuple(logprobs_of(choice, params.logprobs))
        return Completion(text, finish, tokens, logprobs=steps, model_prompt_tokens=prompt_tokens)

    def _scanner(self, params: SamplingParams) -> StopScanner | None:
        dialect = self._dialect or DIALECTS["openai"]
        if dialect.stop or not params.stop_sequences:
            return None
        return StopScanner(params.stop_sequences)

    async def stream(
        self, prompt: Prompt, params: SamplingParams
    ) -> AsyncIterator[TextDelta | Completion]:
        async with self._slots.hold():
            body = await self._body(prompt, params, stream=True)
            parts: list[str] = []
            finish: FinishReason = "STOP"
            chunks = 0
            tokens: int | None = None
            prompt_tokens: int | None = None  # the upstream's count (`include_usage`)
            constrained = params.constraint is not None
            scanner = self._scanner(params)
            steps: list[StepLogprobs] = []  # every token's
            unsent: list[StepLogprobs] = []  # those of text not yet yielded
            try:
                async with self._client.events("/chat/completions", body) as events:
                    async for event in events:
                        if not isinstance(event, dict):
                            continue
                        usage = event.get("usage")
                        if isinstance(usage, dict):
                            tokens = _int(usage.get("completion_tokens"), tokens)
                            prompt_tokens = _int(usage.get("prompt_tokens"), prompt_tokens)
                        for choice in event.get("choices") or []:
                            if params.logprobs is not None:
                                new = logprobs_of(choice, params.logprobs)
                                steps += new
                                unsent += new
                            delta = (choice.get("delta") or {}).get("content")
                            if isinstance(delta, str) and delta:
                                chunks += 1
                                if scanner is not None:
                                    delta = scanner.feed(delta)
                                parts.append(delta)
                                if delta and not constrained:  # constrained: checked, then sent
                                    yield TextDelta(delta, tuple(unsent))
                                    unsent = []
                            if choice.get("finish_reason"):
                                finish = _finish(choice["finish_reason"])
                        if scanner is not None and scanner.stopped:
                            finish = "STOP"
                            break  # leaving closes the stream: the server stops generating
            except errors.SightdError as e:
                self._last_error = e.message
                raise
            self._last_error = None
            if scanner is not None and (tail := scanner.finish()):
                parts.append(tail)
                if not constrained:
                    yield TextDelta(tail)
            text = "".join(parts)
            if constrained:
                text = _checked(text, finish, params.constraint)
                yield TextDelta(text)
            yield Completion(
                text,
                finish,
                tokens if tokens is not None else chunks,
                logprobs=tuple(steps) if params.logprobs is not None else None,
                model_prompt_tokens=prompt_tokens,
            )

    async def _tracked(self, call: Any) -> Any:
        try:
            result = await call
        except errors.SightdError as e:
            self._last_error = e.message
            raise
        self._last_error = None
        return result

    # --- operations -----------------------------------------------------------------------------
    async def health(self) -> dict[str, str]:
        try:
            await self._client.get_json("/models", timeout_s=HEALTH_TIMEOUT_S)
        except errors.SightdError as e:
            # Unauthenticated callers see the state, not the message (it may name the host).
            log.warning("upstream health check failed: %s", e.message)
            return {"engine": "openai", "upstream": "unavailable"}
        kind = self._dialect.kind if self._dialect else "not yet known"
        return {
            "engine": "openai",
            "upstream": "ok",
            "upstream_kind": kind,
            "in_flight": str(self._slots.active),
            "waiting": str(self._slots.waiting),
        }

    def queue_depth(self) -> tuple[int, int]:
        """(requests sent upstream now, requests waiting for one of the `max_concurrency`
        slots): local counters, no I/O, so `/metrics` reads them on every scrape."""
        return self._slots.active, self._slots.waiting

    async def aclose(self) -> None:
        await self._client.aclose()


def _first_model(body: Any) -> str:
    if isinstance(body, dict):
        for entry in body.get("data") or []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                return str(entry["id"])
    raise errors.Unavailable(
        "The model server lists no model; name one with --upstream-model.", reason="UPSTREAM"
    )


def _context_of(body: Any, model: str | None) -> int | None:
    """vLLM's `max_model_len` (and kin) for the served model, when the listing has one."""
    if not isinstance(body, dict):
        return None
    for entry in body.get("data") or []:
        if isinstance(entry, dict) and entry.get("id") == model:
            for key in ("max_model_len", "context_length", "max_context_length"):
                value = entry.get(key)
                if isinstance(value, int) and value > 0:
                    return value
            meta = entry.get("meta")
            if isinstance(meta, dict) and isinstance(meta.get("n_ctx_train"), int):
                return int(meta["n_ctx_train"])
    return None


def _first_choice(answer: Any) -> dict[str, Any]:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise errors.Unavailable("The model server answered without a choice.", reason="UPSTREAM")
    first: dict[str, Any] = choices[0]
    return first


def _finish(reason: Any) -> FinishReason:
    return "MAX_TOKENS" if reason == "length" else "STOP"


def _int(value: Any, default: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _checked(text: str, finish: FinishReason, constraint: OutputConstraint | None) -> str:
    """A constrained answer normalised: an enum's JSON string unwrapped to the bare choice (and
    checked to be one), a ```json fenced answer without its fences.

    JSON answers are validated against the caller's whole schema by `sightd.services.checked`,
    the one owner of that check (for every backend). An answer cut by the token limit is
    returned as it is (Gemini does the same, with finishReason MAX_TOKENS).
    """
    if constraint is None:
        return text
    stripped = _strip_fences(text)
    if not isinstance(constraint, ChoiceOutput):
        return text if finish == "MAX_TOKENS" else stripped
    try:
        value = json.loads(stripped)
    except ValueError as e:
        if finish == "MAX_TOKENS":
            return text
        if stripped in constraint.choices:
            return stripped
        raise errors.Internal(f"The model's answer is not valid JSON: {e}") from e
    if isinstance(value, str) and value in constraint.choices:
        return value
    raise errors.Internal(f"The model answered {value!r}, which is not one of the choices.")


def _strip_fences(text: str) -> str:
    """A ```json fenced answer (servers that do not enforce schemas) without its fences."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    return t.strip()
