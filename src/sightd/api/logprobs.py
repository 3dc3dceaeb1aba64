"""A candidate's `logprobsResult` and `avgLogprobs` (generationConfig `responseLogprobs` /
`logprobs`) from the engine's per-token `StepLogprobs`.

`chosenCandidates` has one entry per generated token (the end-of-sequence token excluded);
`topCandidates`, one list per token of the `logprobs` most likely tokens, is present when
`logprobs` > 0. `avgLogprobs` is the mean of the chosen log probabilities. Log probabilities are
natural logs under the distribution each token was chosen from (see
`sightd.engine.transformers.scores`). A stream's events each carry the entries of the tokens
behind their text; its last event carries any left, and `avgLogprobs` over the whole candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sightd.engine.base import StepLogprobs, TokenLogprob


def _token(t: TokenLogprob) -> dict[str, Any]:
    out: dict[str, Any] = {"token": t.token}
    if t.token_id is not None:
        out["tokenId"] = t.token_id
    out["logProbability"] = t.log_probability
    return out


def logprobs_result(steps: Sequence[StepLogprobs]) -> dict[str, Any]:
    """The `logprobsResult` object of `steps`."""
    result: dict[str, Any] = {"chosenCandidates": [_token(s.chosen) for s in steps]}
    if any(s.top for s in steps):
        result["topCandidates"] = [{"candidates": [_token(t) for t in s.top]} for s in steps]
    result["logProbabilitySum"] = sum(s.chosen.log_probability for s in steps)
    return result


def candidate_logprobs(
    steps: Sequence[StepLogprobs] | None, whole: Sequence[StepLogprobs] | None = None
) -> dict[str, Any]:
    """Candidate fields: `logprobsResult` of `steps` and `avgLogprobs` over `whole` (default:
    `steps`); nothing when log probabilities were not asked for (`steps` is None)."""
    if steps is None:
        return {}
    fields: dict[str, Any] = {"logprobsResult": logprobs_result(steps)}
    every = steps if whole is None else whole
    if every:
        fields["avgLogprobs"] = sum(s.chosen.log_probability for s in every) / len(every)
    return fields


def chunk_logprobs(steps: Sequence[StepLogprobs]) -> dict[str, Any]:
    """A stream event's `logprobsResult`, for the tokens behind its text (none: no field)."""
    return {"logprobsResult": logprobs_result(steps)} if steps else {}
