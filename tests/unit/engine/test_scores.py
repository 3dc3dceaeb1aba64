"""The score processors of the in-process engine: OpenAI-style penalties over generated tokens
only, and the log-probability recorder (the distribution each token was chosen from)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from sightd.engine.transformers.scores import LogprobRecorder, Penalties  # noqa: E402

PROMPT = [1, 2, 3]


def _ids(tokens: list[int]) -> torch.Tensor:
    return torch.tensor([tokens], dtype=torch.long)


def test_penalties_count_generated_tokens_not_the_prompt() -> None:
    penalties = Penalties(presence=0.5, frequency=0.25)
    zeros = torch.zeros(1, 10)
    assert torch.equal(penalties(_ids(PROMPT), zeros.clone()), zeros)  # nothing generated yet
    out = penalties(_ids([*PROMPT, 5]), zeros.clone())
    assert out[0, 5] == pytest.approx(-0.75)
    out = penalties(_ids([*PROMPT, 5, 5, 7]), zeros.clone())
    expected = torch.zeros(10)
    expected[5] = -(0.5 + 2 * 0.25)  # presence once, frequency per occurrence
    expected[7] = -(0.5 + 0.25)
    assert torch.allclose(out[0], expected)  # 1, 2, 3 appear only in the prompt


@pytest.mark.parametrize(
    ("presence", "frequency", "expected"),
    [(0.0, 1.0, -3.0), (1.0, 0.0, -1.0), (-1.0, 0.0, 1.0), (0.5, -0.5, 1.0)],
)
def test_penalty_table(presence: float, frequency: float, expected: float) -> None:
    penalties = Penalties(presence, frequency)
    penalties(_ids(PROMPT), torch.zeros(1, 8))
    out = penalties(_ids([*PROMPT, 4, 4, 4]), torch.zeros(1, 8))
    assert out[0, 4].item() == pytest.approx(expected)
    assert out[0, 5].item() == 0.0


def _recorder(top_n: int) -> LogprobRecorder:
    return LogprobRecorder(top_n, lambda i: f"<{i}>")


def test_recorder_reports_the_chosen_token_and_the_best_candidates() -> None:
    recorder = _recorder(3)
    scores = torch.tensor([[0.0, 2.0, 1.0, -1.0, 3.0]])
    assert torch.equal(recorder(_ids(PROMPT), scores.clone()), scores)  # scores untouched
    step = recorder.take(1)
    assert step is not None
    logp = torch.log_softmax(scores[0], -1)
    assert step.chosen.token == "<1>" and step.chosen.token_id == 1
    assert step.chosen.log_probability == pytest.approx(float(logp[1]))
    assert [t.token_id for t in step.top] == [4, 1, 2]
    assert [t.log_probability for t in step.top] == pytest.approx(logp[[4, 1, 2]].tolist())
    assert sum(math.exp(t.log_probability) for t in step.top) <= 1.0
    assert recorder.take(4) is None  # one step recorded, one taken


def test_masked_tokens_are_never_candidates() -> None:
    recorder = _recorder(5)
    scores = torch.tensor([[float("-inf"), 1.0, float("-inf"), 1.0]])  # a grammar's mask
    recorder(_ids(PROMPT), scores)
    step = recorder.take(3)
    assert step is not None
    assert {t.token_id for t in step.top} == {1, 3}
    assert step.chosen.log_probability == pytest.approx(math.log(0.5))


def test_chosen_only_when_no_top_candidates_asked() -> None:
    recorder = _recorder(0)
    recorder(_ids(PROMPT), torch.tensor([[0.0, 0.0]]))
    step = recorder.take(0)
    assert step is not None and step.top == ()
    assert step.chosen.log_probability == pytest.approx(math.log(0.5))


def test_penalties_then_recorder_see_the_penalised_distribution() -> None:
    penalties, recorder = Penalties(0.0, 1.0), _recorder(2)
    scores = torch.tensor([[1.0, 1.0, 0.0]])
    recorder(_ids(PROMPT), penalties(_ids(PROMPT), scores.clone()))
    first = recorder.take(0)
    recorder(_ids([*PROMPT, 0]), penalties(_ids([*PROMPT, 0]), scores.clone()))
    second = recorder.take(1)
    assert first is not None and second is not None
    assert first.chosen.log_probability == pytest.approx(math.log(1 / (2 + math.exp(-1))))
    assert second.top[0].token_id == 1  # token 0 was penalised below token 1
