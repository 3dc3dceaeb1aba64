"""Logits processors for `generate` that read or shape the scores of each decoding step:
OpenAI-style presence/frequency penalties, and the recorder behind `logprobsResult`.

Which scores the log probabilities are: transformers runs the model's own default processors
(repetition penalty and the like), then the caller's list (`Penalties`, then the grammar's
`ConstrainedDecoding`, then `LogprobRecorder`, last), then — when sampling — the temperature,
top-k and top-p warpers. The recorder takes the log-softmax of the scores it sees: the
distribution after penalties and grammar masks, before temperature and truncation. So the
chosen token is the top candidate under greedy decoding, also in JSON mode (a token the grammar
forbids has probability 0 and is never listed), and sampling draws from this distribution
reshaped by the temperature and truncated by top-k/top-p (which would otherwise make most
log probabilities -inf). Batch size 1: sightd generates one candidate at a time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import torch
from transformers import LogitsProcessor

from sightd.engine.base import StepLogprobs, TokenLogprob
from sightd.errors import Internal


class Penalties(LogitsProcessor):  # type: ignore[misc]
    """logit[t] -= presence·[count(t) > 0] + frequency·count(t), counting the tokens generated
    so far (not the prompt), as OpenAI's and vLLM's presence/frequency penalties do."""

    def __init__(self, presence: float, frequency: float) -> None:
        self._presence = float(presence)
        self._frequency = float(frequency)
        self._counted_to: int | None = None  # input_ids up to here are counted
        self._counts: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] != 1:
            raise Internal("penalties run one sequence at a time")
        if self._counted_to is None or self._counts is None:  # the first step: all prompt
            self._counted_to = int(input_ids.shape[1])
            self._counts = torch.zeros(scores.shape[-1], dtype=scores.dtype, device=scores.device)
            return scores
        new = input_ids[0, self._counted_to :].to(scores.device)
        self._counted_to = int(input_ids.shape[1])
        new = new[new < scores.shape[-1]]  # ids beyond the scores' vocabulary (none in practice)
        self._counts.index_add_(
            0, new, torch.ones(new.shape, dtype=scores.dtype, device=scores.device)
        )
        seen = (self._counts > 0).to(scores.dtype)
        return scores - (self._presence * seen + self._frequency * self._counts)


class LogprobRecorder(LogitsProcessor):  # type: ignore[misc]
    """Records each step's log-softmax; `take(token_id)` (called once the step's token is
    known, from the streamer) returns that step's `StepLogprobs` with the `top_n` best."""

    def __init__(self, top_n: int, token_text: Callable[[int], str]) -> None:
        self._top_n = max(0, int(top_n))
        self._token_text = token_text
        self._pending: deque[tuple[torch.Tensor, tuple[TokenLogprob, ...]]] = deque()

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.shape[0] != 1:
            raise Internal("log probabilities are recorded one sequence at a time")
        logp = torch.log_softmax(scores[0].float(), dim=-1)
        top: tuple[TokenLogprob, ...] = ()
        if self._top_n:
            k = min(self._top_n, int(logp.shape[0]))
            values, ids = torch.topk(logp, k)
            top = tuple(
                self._entry(i, v)
                for v, i in zip(values.tolist(), ids.tolist(), strict=True)
                if math.isfinite(v)  # tokens a grammar or closing step forbade
            )
        self._pending.append((logp, top))
        return scores

    def take(self, token_id: int) -> StepLogprobs | None:
        """The oldest unclaimed step, with `token_id` as its chosen token; None if no step is
        pending (a token generate emitted without scoring it)."""
        if not self._pending:
            return None
        logp, top = self._pending.popleft()
        value = float(logp[token_id]) if 0 <= token_id < int(logp.shape[0]) else -math.inf
        return StepLogprobs(self._entry(token_id, value), top)

    def _entry(self, token_id: int, value: float) -> TokenLogprob:
        return TokenLogprob(self._token_text(token_id), token_id, _finite(value))


def _finite(value: float) -> float:
    """-inf (a token chosen with probability 0 cannot happen, but JSON has no -inf) → the most
    negative float."""
    return value if math.isfinite(value) else -3.4028234663852886e38
