"""One generation call: resolve the model name, materialise the prompt, run the model (as its
backend schedules it), and return candidates with Gemini usage numbers. Shared by generateContent,
streamGenerateContent, countTokens and the Interactions API.

Detection and segmentation prompts are answered by `SpatialService` instead of free
generation (its `plan` decides), so they come back as Gemini's bare JSON on every endpoint.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sightd import errors
from sightd.engine.base import Backend, Completion, SamplingParams, TextDelta
from sightd.engine.loading import EngineHandle
from sightd.prompt import Prompt
from sightd.services import checked
from sightd.services.inputs import GenerateInput
from sightd.services.materialize import Materializer, TokenUsage
from sightd.services.models import ModelCatalog
from sightd.services.observe import NULL_OBSERVER, Observer
from sightd.services.spatial import SpatialPlan, SpatialService
from sightd.services.tools import ToolPlan, finish_chosen, finish_constrained, plan_tools

log = logging.getLogger(__name__)

MAX_CANDIDATES = 8


@dataclass(frozen=True)
class GenerateResult:
    candidates: list[Completion]
    usage: TokenUsage
    model_version: str

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.candidates)

    @property
    def model_prompt_tokens(self) -> int | None:
        """The prompt's length in the model's own tokens, as the engine reported it (every
        candidate reads the same prompt); None when no engine said (a detector's answer)."""
        return next(
            (c.model_prompt_tokens for c in self.candidates if c.model_prompt_tokens is not None),
            None,
        )


@dataclass(frozen=True)
class StreamStart:
    """First item of a stream: prompt usage is known before any text."""

    usage: TokenUsage
    model_version: str


@dataclass(frozen=True)
class CandidateDelta:
    index: int
    delta: TextDelta


@dataclass(frozen=True)
class CandidateDone:
    index: int
    completion: Completion


StreamItem = StreamStart | CandidateDelta | CandidateDone


class GenerateService:
    def __init__(
        self,
        engine: EngineHandle,
        catalog: ModelCatalog,
        materializer: Materializer,
        spatial: SpatialService | None = None,
        observer: Observer = NULL_OBSERVER,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.materializer = materializer
        self.spatial = spatial
        self.observer = observer  # tokens of every generation (never of countTokens)

    def _backend(self, model: str) -> tuple[Backend, str]:
        entry = self.catalog.resolve(model)
        return self.engine.require(), entry.name

    async def count_tokens(self, owner: str, inp: GenerateInput) -> TokenUsage:
        backend, _ = self._backend(inp.model)
        return await self.materializer.count(owner, inp, backend.count_text_tokens)

    async def _prepare(
        self, owner: str, inp: GenerateInput
    ) -> tuple[Backend, str, Prompt, TokenUsage, ToolPlan | None]:
        backend, version = self._backend(inp.model)
        tools = plan_tools(inp, backend.capabilities, backend.info.id)
        _check_candidates(inp.candidate_count)
        if not inp.turns:
            raise errors.InvalidArgument("contents must not be empty", field="contents")
        prompt, usage = await self.materializer.prompt(
            owner,
            inp,
            backend.info.image_max_side_px,
            backend.count_text_tokens,
            backend.info.sizing,
        )
        if tools is not None:
            prompt = tools.prompt(prompt)
        return backend, version, prompt, usage, tools

    def _plan(
        self, prompt: Prompt, inp: GenerateInput, tools: ToolPlan | None
    ) -> SpatialPlan | None:
        if self.spatial is None or tools is not None:
            return None  # a request offering functions is answered by the model, not spatial
        return self.spatial.plan(prompt, inp.params)

    async def _complete(
        self, backend: Backend, prompt: Prompt, plan: SpatialPlan | None, params: SamplingParams
    ) -> Completion:
        if plan is not None and self.spatial is not None:
            return await self.spatial.run(backend, plan, params)
        return await checked.checked(lambda p: backend.generate(prompt, p), params)

    async def _with_tools(
        self, backend: Backend, prompt: Prompt, tools: ToolPlan, params: SamplingParams
    ) -> Completion:
        done = await self._complete(backend, prompt, None, tools.params(params))
        return await self._finish_tools(backend, prompt, tools, params, done)

    async def _finish_tools(
        self,
        backend: Backend,
        prompt: Prompt,
        tools: ToolPlan,
        params: SamplingParams,
        done: Completion,
    ) -> Completion:
        """Calls parsed out of (or decoded as) the answer; a malformed chosen call is made
        again under the call grammar, once."""
        if tools.grammar is not None:
            return finish_constrained(done, tools.decls, allow_text=tools.allow_text)
        chosen = finish_chosen(done, tools.decls)
        if chosen is not None:
            return chosen
        log.info("the model wrote a malformed function call; making it again under a grammar")
        again = await self._complete(backend, prompt, None, tools.strict(params))
        out = finish_constrained(again, tools.decls)
        return dataclasses.replace(out, output_tokens=done.output_tokens + again.output_tokens)

    async def generate(self, owner: str, inp: GenerateInput) -> GenerateResult:
        backend, version, prompt, usage, tools = await self._prepare(owner, inp)
        plan = self._plan(prompt, inp, tools)
        candidates = []
        for i in range(inp.candidate_count):
            params = _params_for(inp.params, i)
            if tools is not None:
                candidates.append(await self._with_tools(backend, prompt, tools, params))
            else:
                candidates.append(await self._complete(backend, prompt, plan, params))
        result = GenerateResult(candidates, usage, version)
        self.observer.tokens_used(usage.by_modality, result.output_tokens)
        return result

    async def stream(self, owner: str, inp: GenerateInput) -> AsyncIterator[StreamItem]:
        """Prompt usage first, then deltas per candidate, each closed by its completion.

        Errors in resolving the request raise before the first item, so the API can still
        answer with a plain error status. A spatial answer comes as one delta.
        """
        backend, version, prompt, usage, tools = await self._prepare(owner, inp)
        plan = self._plan(prompt, inp, tools)
        return self._observed(self._stream(backend, version, prompt, usage, inp, plan, tools))

    async def _observed(self, items: AsyncIterator[StreamItem]) -> AsyncIterator[StreamItem]:
        """The stream, reporting prompt tokens at its start and output tokens per finished
        candidate as they pass (a stream the client leaves early counts what it got)."""
        try:
            async for item in items:
                if isinstance(item, StreamStart):
                    self.observer.tokens_used(item.usage.by_modality, 0)
                elif isinstance(item, CandidateDone):
                    self.observer.tokens_used({}, item.completion.output_tokens)
                yield item
        finally:
            await _aclose(items)

    async def _stream(
        self,
        backend: Backend,
        version: str,
        prompt: Prompt,
        usage: TokenUsage,
        inp: GenerateInput,
        plan: SpatialPlan | None,
        tools: ToolPlan | None = None,
    ) -> AsyncIterator[StreamItem]:
        yield StreamStart(usage, version)
        for i in range(inp.candidate_count):
            params = _params_for(inp.params, i)
            if tools is not None:
                async for step in self._stream_tools(backend, prompt, tools, params, i):
                    yield step
                continue
            if plan is not None or checked.needs_buffering(params, backend.capabilities):
                done = await self._complete(backend, prompt, plan, params)
                yield CandidateDelta(i, TextDelta(done.text))
                yield CandidateDone(i, done)
                continue
            stream = backend.stream(prompt, params)
            try:
                async for item in stream:
                    if isinstance(item, TextDelta):
                        if item.text:
                            yield CandidateDelta(i, item)
                    else:
                        yield CandidateDone(i, checked.final(item, params))
            finally:
                await _aclose(stream)

    async def _stream_tools(
        self, backend: Backend, prompt: Prompt, tools: ToolPlan, params: SamplingParams, i: int
    ) -> AsyncIterator[StreamItem]:
        """A candidate that may call functions: a call made under the grammar arrives whole at
        the end; a model choosing streams its text until a call starts, then the calls."""
        scanner = tools.scanner()
        if scanner is None:
            yield CandidateDone(i, await self._with_tools(backend, prompt, tools, params))
            return
        stream = backend.stream(prompt, tools.params(params))
        try:
            async for piece in stream:
                if isinstance(piece, TextDelta):
                    if text := scanner.feed(piece.text):
                        yield CandidateDelta(i, TextDelta(text))
                elif not scanner.calling:
                    if rest := scanner.finish():
                        yield CandidateDelta(i, TextDelta(rest))
                    yield CandidateDone(i, piece)
                else:
                    done = await self._finish_tools(backend, prompt, tools, params, piece)
                    yield CandidateDone(i, done)
        finally:
            await _aclose(stream)


async def _aclose(stream: object) -> None:
    """Close an async iterator now (not at garbage collection), so the backend frees its slot
    as soon as the client has gone."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


def _check_candidates(n: int) -> None:
    if not 1 <= n <= MAX_CANDIDATES:
        raise errors.InvalidArgument(
            f"candidateCount must be between 1 and {MAX_CANDIDATES}, got {n}.",
            field="generation_config.candidate_count",
        )


def _params_for(params: SamplingParams, index: int) -> SamplingParams:
    """Candidate `index` samples with its own seed so candidates differ but stay reproducible."""
    if index == 0 or params.seed is None:
        return params
    return dataclasses.replace(params, seed=params.seed + index)
