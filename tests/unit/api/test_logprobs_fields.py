"""generationConfig's logprobs and penalties → SamplingParams, and StepLogprobs → the candidate's
`logprobsResult` / `avgLogprobs` JSON."""

from __future__ import annotations

from typing import Any

import pytest

from sightd import errors
from sightd.api.convert import to_generate_input
from sightd.api.interactions_convert import to_interaction_input
from sightd.api.logprobs import candidate_logprobs, chunk_logprobs
from sightd.api.wire import GenerateContentRequest, parse_model
from sightd.engine.base import StepLogprobs, TokenLogprob


def _params(config: dict[str, Any]) -> Any:
    body = {"contents": [{"parts": [{"text": "Hi"}]}], "generationConfig": config}
    return to_generate_input(parse_model(GenerateContentRequest, body), "m").params


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, None),
        ({"responseLogprobs": False}, None),
        ({"responseLogprobs": True}, 0),
        ({"response_logprobs": True, "logprobs": 20.0}, 20),
        ({"responseLogprobs": True, "logprobs": "3"}, 3),
    ],
)
def test_logprobs_knob(config: dict[str, Any], expected: int | None) -> None:
    assert _params(config).logprobs == expected


def test_penalties_reach_both_apis() -> None:
    params = _params({"presencePenalty": 0.5, "frequency_penalty": -1})
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -1.0)
    inter = to_interaction_input(
        {"model": "m", "input": "Hi", "generation_config": {"frequency_penalty": 1.5}}
    )
    assert inter.params.frequency_penalty == 1.5 and inter.params.logprobs is None


def test_logprobs_alone_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        _params({"logprobs": 0})
    assert caught.value.field == "generation_config.logprobs"


def _step(token_id: int, value: float, top: int = 0) -> StepLogprobs:
    chosen = TokenLogprob(f"t{token_id}", token_id, value)
    return StepLogprobs(chosen, (chosen,) * top)


def test_candidate_fields() -> None:
    assert candidate_logprobs(None) == {}
    steps = [_step(1, -1.0, top=1), _step(2, -3.0, top=1)]
    fields = candidate_logprobs(steps)
    assert fields["avgLogprobs"] == -2.0
    result = fields["logprobsResult"]
    assert result["chosenCandidates"] == [
        {"token": "t1", "tokenId": 1, "logProbability": -1.0},
        {"token": "t2", "tokenId": 2, "logProbability": -3.0},
    ]
    assert result["topCandidates"][1] == {
        "candidates": [{"token": "t2", "tokenId": 2, "logProbability": -3.0}]
    }
    assert result["logProbabilitySum"] == -4.0


def test_no_top_candidates_no_ids_and_stream_chunks() -> None:
    fields = candidate_logprobs([StepLogprobs(TokenLogprob("x", None, -0.5))])
    assert fields["logprobsResult"]["chosenCandidates"] == [{"token": "x", "logProbability": -0.5}]
    assert "topCandidates" not in fields["logprobsResult"]
    assert candidate_logprobs([]) == {
        "logprobsResult": {"chosenCandidates": [], "logProbabilitySum": 0}
    }
    last = candidate_logprobs([_step(3, -1.0)], whole=[_step(2, -3.0), _step(3, -1.0)])
    assert last["avgLogprobs"] == -2.0 and len(last["logprobsResult"]["chosenCandidates"]) == 1
    assert chunk_logprobs([]) == {}
    assert "logprobsResult" in chunk_logprobs([_step(1, -1.0)])
