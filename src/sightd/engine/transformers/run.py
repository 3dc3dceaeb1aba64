"""One generation's state, apart from the model: what was prepared for it (`Request`) and what
it has produced (`Run`: token ids in, text deltas out, stop sequences, log probabilities).

The batch scheduler (`batching`) feeds a run one token at a time, whichever batch the request
shares; everything a request sees (its text, where it stopped, its finish reason) lives here,
so batched and alone produce the same answer from the same tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transformers import LogitsProcessorList

from sightd.engine.base import Completion, FinishReason, SamplingParams, StepLogprobs, TextDelta
from sightd.engine.decoding import IncrementalDecoder, StopScanner
from sightd.engine.transformers.scores import LogprobRecorder


@dataclass
class Request:
    """Everything one generation needs from the model, prepared before it is queued."""

    inputs: Any  # the processor's BatchFeature (input_ids, pixel values, grids, …)
    config: Any  # a GenerationConfig of its own (sampling knobs, max_new_tokens)
    seed: int | None  # set when sampling
    max_new_tokens: int
    processors: LogitsProcessorList  # penalties, grammar, then the logprob recorder
    recorder: LogprobRecorder | None = None  # the last of `processors`, when logprobs are wanted

    @property
    def prompt_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


class Run:
    """Token ids in, text deltas out (to `emit`), cut at stop sequences."""

    def __init__(
        self,
        tokenizer: Any,
        params: SamplingParams,
        strip: bool,
        emit: Callable[[TextDelta], Any],
        recorder: LogprobRecorder | None = None,
        end_ids: frozenset[int] = frozenset(),
    ) -> None:
        self._recorder = recorder
        self._end_ids = end_ids  # end-of-sequence tokens: no text, no logprobs entry
        self.logprobs: list[StepLogprobs] = []
        self._unsent: list[StepLogprobs] = []
        self._decoder = IncrementalDecoder(
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True)
        )
        self._scanner = StopScanner(params.stop_sequences, strip_leading_space=strip)
        self._emit = emit
        self.ids: list[int] = []
        self.parts: list[str] = []
        self.cancelled = threading.Event()

    def feed(self, token: int) -> None:
        """One generated token (end-of-sequence ones included)."""
        self.ids.append(token)
        if self._recorder is not None:
            step = self._recorder.take(token)
            if step is not None and token not in self._end_ids:
                self.logprobs.append(step)
                self._unsent.append(step)
        self._out(self._scanner.feed(self._decoder.push([token])))

    def end(self) -> None:
        self._out(self._scanner.feed(self._decoder.flush()))
        self._out(self._scanner.finish())

    def _out(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self._emit(TextDelta(text, tuple(self._unsent)))
            self._unsent = []

    @property
    def halted(self) -> bool:
        """A stop sequence was found, or the caller went away: generate no further."""
        return self._scanner.stopped or self.cancelled.is_set()

    def completion(self, request: Request) -> Completion:
        reason: FinishReason = "STOP"
        hit_end = bool(self.ids) and self.ids[-1] in self._end_ids
        if not self._scanner.stopped and not hit_end and len(self.ids) >= request.max_new_tokens:
            reason = "MAX_TOKENS"
        return Completion(
            text="".join(self.parts),
            finish_reason=reason,
            output_tokens=len(self.ids),
            logprobs=tuple(self.logprobs) if request.recorder is not None else None,
            model_prompt_tokens=request.prompt_tokens,
        )
