"""One generation call: resolve the model name, materialise the prompt, run the model (as its
backend schedules it), and return candidates with Gemini usage numbers. Shared by generateContent,
streamGenerateContent, countTokens and the Interactions API.

Detection and segmentation prompts are answered by `SpatialService` instead of free
generation (its `plan` decides), so they come back as Gemini's bare JSON on every endpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sightd import errors
from sightd.engine.base import Backend, Completion, SamplingParams, TextDelta
from sightd.engine.loading import EngineHandle
from sightd.prompt import Prompt
from sightd.services.inputs import GenerateInput
from sightd.services.materialize import Materializer, TokenUsage
from sightd.services.models import ModelCatalog
from sightd.services.spatial import SpatialPlan, SpatialService

MAX_CANDIDATES = 8


@dataclass(frozen=True)
class GenerateResult:
    candidates: list[Completion]
    usage: TokenUsage
    model_version: str

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.candidates)


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
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.materializer = materializer
        self.spatial = spatial

    def _backend(self, model: str) -> tuple[Backend, str]:
        entry = self.catalog.resolve(model)
        return self.engine.require(), entry.name

    async def count_tokens(self, owner: str, inp: GenerateInput) -> TokenUsage:
        backend, _ = self._backend(inp.model)
        return await self.materializer.count(owner, inp, backend.count_text_tokens)

    async def _prepare(
        self, owner: str, inp: GenerateInput
    ) -> tuple[Backend, str, Prompt, TokenUsage]:
        backend, version = self._backend(inp.model)
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
        return backend, version, prompt, usage

    def _plan(self, prompt: Prompt, inp: GenerateInput) -> SpatialPlan | None:
        return self.spatial.plan(prompt, inp.params) if self.spatial is not None else None

    async def _complete(
        self, backend: Backend, prompt: Prompt, plan: SpatialPlan | None, params: SamplingParams
    ) -> Completion:
        if plan is not None and self.spatial is not None:
            return await self.spatial.run(backend, plan, params)
        return await backend.generate(prompt, params)

    async def generate(self, owner: str, inp: GenerateInput) -> GenerateResult:
        backend, version, prompt, usage = await self._prepare(owner, inp)
        plan = self._plan(prompt, inp)
        candidates = []
        for i in range(inp.candidate_count):
            candidates.append(
                await self._complete(backend, prompt, plan, _params_for(inp.params, i))
            )
        return GenerateResult(candidates, usage, version)

    async def stream(self, owner: str, inp: GenerateInput) -> AsyncIterator[StreamItem]:
        """Prompt usage first, then deltas per candidate, each closed by its completion.

        Errors in resolving the request raise before the first item, so the API can still
        answer with a plain error status. A spatial answer comes as one delta.
        """
        backend, version, prompt, usage = await self._prepare(owner, inp)
        return self._stream(backend, version, prompt, usage, inp, self._plan(prompt, inp))

    async def _stream(
        self,
        backend: Backend,
        version: str,
        prompt: Prompt,
        usage: TokenUsage,
        inp: GenerateInput,
        plan: SpatialPlan | None,
    ) -> AsyncIterator[StreamItem]:
        yield StreamStart(usage, version)
        for i in range(inp.candidate_count):
            params = _params_for(inp.params, i)
            if plan is not None:
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
                        yield CandidateDone(i, item)
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
