"""Answers are checked against the caller's whole schema: a violation is generated again under
the stricter grammar (which must reach the backend), else it is a 500 naming what is wrong;
streams buffer such answers so no invalid JSON goes out before an error. A recording backend
plays the model, so every answer here is chosen, not sampled."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from sightd import errors
from sightd.engine.base import Capabilities, Completion, JsonOutput, SamplingParams, TextDelta
from sightd.engine.constrain import constraint_for
from sightd.prompt import Prompt
from sightd.services import checked
from sightd.services.generate import CandidateDelta, CandidateDone, GenerateService
from sightd.services.materialize import TokenUsage

TAGS = {  # pydantic's set[str]
    "type": "object",
    "properties": {"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}},
    "required": ["tags"],
}


class RecordingBackend:
    """Answers with `answers` in turn and records the constraint of every call."""

    def __init__(self, *answers: str, finish: str = "STOP", enforces: bool = True) -> None:
        self.answers = list(answers)
        self.finish = finish
        self.constraints: list[Any] = []
        kinds = frozenset({"json_schema", "choice"}) if enforces else frozenset()
        self.capabilities = Capabilities(constraints=kinds)  # type: ignore[arg-type]

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Completion:
        self.constraints.append(params.constraint)
        return Completion(self.answers.pop(0), self.finish, 7)  # type: ignore[arg-type]

    async def stream(self, prompt: Prompt, params: SamplingParams) -> Any:
        done = await self.generate(prompt, params)
        for ch in done.text:
            yield TextDelta(ch)
        yield done


def _json(schema: Any) -> SamplingParams:
    constraint = constraint_for("application/json", None, schema)
    return SamplingParams(seed=1, temperature=1.0, constraint=constraint)


def _complete(backend: RecordingBackend, params: SamplingParams) -> Completion:
    service = GenerateService(None, None, None)  # type: ignore[arg-type]
    return asyncio.run(service._complete(backend, Prompt(()), None, params))  # type: ignore[arg-type]


def _streamed(backend: RecordingBackend, params: SamplingParams) -> list[Any]:
    service = GenerateService(None, None, None)  # type: ignore[arg-type]
    inp = SimpleNamespace(candidate_count=1, params=params)

    async def collect() -> list[Any]:
        items = []
        stream = service._stream(backend, "v", Prompt(()), TokenUsage(), inp, None)  # type: ignore[arg-type]
        async for item in stream:
            items.append(item)
        return items

    return asyncio.run(collect())


def test_a_duplicate_is_retried_with_at_most_one_item() -> None:
    backend = RecordingBackend('{"tags":["a","a"]}', '{"tags":["a"]}')
    params = _json(TAGS)
    done = _complete(backend, params)
    assert done.text == '{"tags":["a"]}' and done.output_tokens == 14  # both tries counted
    first, retry = backend.constraints
    assert first == params.constraint
    assert json.loads(retry.schema_json)["properties"]["tags"]["maxItems"] == 1
    assert retry.full_schema_json == first.full_schema_json


def test_a_valid_answer_is_returned_without_a_retry() -> None:
    backend = RecordingBackend('{"tags":["a","b"]}')
    assert _complete(backend, _json(TAGS)).text == '{"tags":["a","b"]}'
    assert len(backend.constraints) == 1


def test_a_retry_that_violates_too_is_an_error() -> None:
    backend = RecordingBackend('{"tags":["a","a"]}', '{"tags":["b","b"]}')
    with pytest.raises(errors.Internal) as err:
        _complete(backend, _json(TAGS))
    assert err.value.reason == checked.REASON and err.value.http_code == 500
    assert "tags: ['b', 'b'] has non-unique elements" in err.value.message
    assert "after a retry" in err.value.message


@pytest.mark.parametrize(
    ("schema", "answer", "words"),
    [
        ({"type": "object", "maxProperties": 1}, '{"a":1,"b":2}', "has too many properties"),
        ({"not": {"type": "string"}}, '"x"', "should not be valid"),
        ({"type": "string", "pattern": "^a+b$", "maxLength": 3}, '"aaab"', "is too long"),
        ({"type": "string", "format": "uri", "maxLength": 12}, '"http://abc.de/x"', "too long"),
        ({"type": "array", "uniqueItems": True, "minItems": 2}, "[1,1]", "non-unique"),
        ({"type": "object"}, '{"a": ', "not valid JSON"),
    ],
)
def test_no_stricter_grammar_means_an_error_at_once(schema: Any, answer: str, words: str) -> None:
    backend = RecordingBackend(answer)
    with pytest.raises(errors.Internal, match=words):
        _complete(backend, _json(schema))
    assert len(backend.constraints) == 1


def test_one_of_is_read_as_any_of() -> None:
    backend = RecordingBackend("3")  # valid under both branches: fine, as Gemini reads oneOf
    assert (
        _complete(backend, _json({"oneOf": [{"type": "integer"}, {"type": "number"}]})).text == "3"
    )


def test_a_non_integer_multiple_is_retried_as_integers() -> None:
    backend = RecordingBackend("0.3", "2")
    done = _complete(backend, _json({"type": "number", "multipleOf": 0.5}))
    assert done.text == "2"
    assert json.loads(backend.constraints[1].schema_json) == {"type": "integer"}


def test_an_answer_cut_by_the_limit_is_returned_as_it_is() -> None:
    backend = RecordingBackend('{"tags":["a","a"', finish="MAX_TOKENS")
    assert _complete(backend, _json(TAGS)).text == '{"tags":["a","a"'


def test_an_answer_closed_before_the_limit_is_still_checked() -> None:
    backend = RecordingBackend('{"tags":["a","a"]}', '{"tags":["a"]}', finish="MAX_TOKENS")
    assert _complete(backend, _json(TAGS)).text == '{"tags":["a"]}'
    assert len(backend.constraints) == 2


def test_exactly_enforced_schemas_are_still_checked_against_what_was_enforced() -> None:
    params = _json({"type": "integer", "maximum": 5})
    assert isinstance(params.constraint, JsonOutput)
    assert params.constraint.full_schema_json is None
    with pytest.raises(errors.Internal, match="greater than the maximum"):
        _complete(RecordingBackend("9"), params)  # a backend that failed to enforce it


def test_streams_under_after_the_fact_checks_are_buffered_and_checked() -> None:
    backend = RecordingBackend('{"tags":["x","x"]}', '{"tags":["x"]}')
    items = _streamed(backend, _json(TAGS))
    deltas = [i.delta.text for i in items if isinstance(i, CandidateDelta)]
    assert deltas == ['{"tags":["x"]}']  # one chunk, the checked retry, never the duplicate
    assert isinstance(items[-1], CandidateDone) and items[-1].completion.text == deltas[0]


def test_a_buffered_stream_that_never_satisfies_sends_no_text() -> None:
    backend = RecordingBackend('{"tags":["x","x"]}', '{"tags":["y","y"]}')
    service = GenerateService(None, None, None)  # type: ignore[arg-type]
    inp = SimpleNamespace(candidate_count=1, params=_json(TAGS))
    sent: list[Any] = []

    async def collect() -> None:
        stream = service._stream(backend, "v", Prompt(()), TokenUsage(), inp, None)  # type: ignore[arg-type]
        async for item in stream:
            sent.append(item)

    with pytest.raises(errors.Internal):
        asyncio.run(collect())
    assert not any(isinstance(i, CandidateDelta) for i in sent)


def test_enforced_streams_stream_as_produced() -> None:
    backend = RecordingBackend("[1,2]")
    items = _streamed(backend, _json({"type": "array", "items": {"type": "integer"}}))
    assert [i.delta.text for i in items if isinstance(i, CandidateDelta)] == list("[1,2]")


def test_a_backend_that_enforces_no_schema_has_its_streams_buffered_and_checked() -> None:
    backend = RecordingBackend("[1,2]", enforces=False)
    items = _streamed(backend, _json({"type": "array", "items": {"type": "integer"}}))
    assert [i.delta.text for i in items if isinstance(i, CandidateDelta)] == ["[1,2]"]
    with pytest.raises(errors.Internal, match="is not of type 'integer'"):
        _streamed(
            RecordingBackend('["x"]', enforces=False),
            _json({"type": "array", "items": {"type": "integer"}}),
        )


def test_a_repeated_choice_is_retried_under_the_sets_of_distinct_choices() -> None:
    colors = {"type": "array", "items": {"enum": ["red", "green"]}, "uniqueItems": True}
    schema = {"type": "object", "properties": {"c": colors}, "required": ["c"]}
    backend = RecordingBackend('{"c":["red","red"]}', '{"c":["red","green"]}')
    assert _complete(backend, _json(schema)).text == '{"c":["red","green"]}'
    sets = json.loads(backend.constraints[1].schema_json)["properties"]["c"]["anyOf"]
    assert [[p["const"] for p in s.get("prefixItems", [])] for s in sets] == [
        [],
        ["red"],
        ["green"],
        ["red", "green"],
    ]
