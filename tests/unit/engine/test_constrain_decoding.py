"""Constrained decoding with random-weight models: whatever the weights, the text is valid.

A random model is the adversary here: it never wants to close a string or stop, so every
answer leans on the grammar and on budget-aware closing. 100 of 100 seeded runs must validate
against the caller's own schema (checked with `jsonschema`, not with sightd's code).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sightd.engine.base import ChoiceOutput, JsonOutput, SamplingParams
from sightd.engine.constrain import constraint_for
from sightd.engine.transformers.closing import (
    ESCAPE,
    NUMBER,
    OUT,
    STRING,
    closing_priority,
    lex_state,
)
from sightd.errors import InvalidArgument
from sightd.prompt import Prompt, TextPart, Turn

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("xgrammar")

PROMPT = Prompt((Turn("user", (TextPart("Describe a recipe as JSON."),)),))
# A caller's responseJsonSchema with every kind of value, bounded and unbounded.
RECIPE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 24},
        "servings": {"type": "integer", "minimum": 1, "maximum": 12},
        "rating": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "vegan": {"type": "boolean"},
        "course": {"type": "string", "enum": ["starter", "main", "dessert"]},
        "steps": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "notes": {"type": "string"},
        "nutrition": {
            "type": "object",
            "properties": {"kcal": {"type": "integer"}, "tags": {"type": "array"}},
            "required": ["kcal"],
        },
    },
    "required": ["name", "servings", "vegan", "course", "steps", "nutrition"],
}
ENUM = ("cat", "dog", 'say "hi"', "naïve café", "two words")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models decode fastest on one thread (hundreds of short generations here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(backend: Any, constraint: Any, seed: int, tokens: int = 96) -> Any:
    params = SamplingParams(
        seed=seed, temperature=1.0, max_output_tokens=tokens, constraint=constraint
    )
    return backend.generate(PROMPT, params)


@pytest.mark.slow
def test_schema_valid_in_100_of_100_seeded_runs(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    constraint = constraint_for("application/json", None, RECIPE)
    valid = 0
    for seed in range(100):
        done = _run(backend, constraint, seed)
        jsonschema.validate(json.loads(done.text), RECIPE)  # strict json + the caller's schema
        assert done.finish_reason == "STOP", done.text
        assert not done.text.startswith("```") and done.text == done.text.strip()
        valid += 1
    assert valid == 100


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2.5-vl", "smolvlm2"])
def test_schema_valid_on_other_tokenizers(backends: dict[str, Any], family: str) -> None:
    constraint = constraint_for("application/json", None, RECIPE)
    for seed in range(20):
        jsonschema.validate(json.loads(_run(backends[family], constraint, seed).text), RECIPE)


@pytest.mark.slow
def test_any_json_in_100_of_100_seeded_runs(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    for seed in range(100):
        done = _run(backend, JsonOutput(None), seed, tokens=64)
        json.loads(done.text)
        assert done.text == done.text.strip()


def test_enum_answers_only_listed_values(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    seen = set()
    for seed in range(100):
        text = _run(backend, ChoiceOutput(ENUM), seed).text
        assert text in ENUM
        seen.add(text)
    assert len(seen) > 1  # sampled, not a fixed answer


def test_greedy_and_streamed_json(backends: dict[str, Any]) -> None:
    backend = backends["qwen3-vl"]
    constraint = constraint_for("application/json", None, RECIPE)
    params = SamplingParams(temperature=0, max_output_tokens=96, constraint=constraint)
    whole = backend.generate(PROMPT, params).text
    jsonschema.validate(json.loads(whole), RECIPE)
    streamed = "".join(getattr(item, "text", "") for item in backend.stream(PROMPT, params))
    assert streamed.endswith(whole)  # deltas, then the completion's full text


def test_a_tiny_budget_still_closes_the_value(backends: dict[str, Any]) -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    constraint = constraint_for("application/json", None, schema)
    for seed in range(10):
        done = _run(backends["qwen3-vl"], constraint, seed, tokens=12)
        jsonschema.validate(json.loads(done.text), schema)


def test_a_pattern_the_engine_cannot_compile_is_invalid_argument(backends: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        _run(backends["qwen3-vl"], JsonOutput('{"type":"string","pattern":"(?<=a)b"}'), 0)


def test_a_pattern_xgrammar_lacks_is_decoded_as_a_string_and_checked(
    backends: dict[str, Any],
) -> None:
    constraint = constraint_for("application/json", None, {"type": "string", "pattern": "(?<=a)b"})
    assert isinstance(constraint, JsonOutput) and constraint.full_schema_json is not None
    assert isinstance(json.loads(_run(backends["qwen3-vl"], constraint, 0).text), str)


@pytest.mark.parametrize(
    ("text", "state", "priority"),
    [
        ("}", OUT, 2),
        ("]}", OUT, 2),
        (" ]", OUT, 2),
        ("},", OUT, 0),
        ("[", OUT, 0),
        (",", OUT, 1),
        ("12", OUT, 1),  # a whole short value
        ("true]", OUT, 1),
        ('"', OUT, 0),  # outside a string a quote opens one
        ("12", NUMBER, 0),  # more digits only lengthen the number
        (",", NUMBER, 1),
        ("}", NUMBER, 2),
        ('"', STRING, 2),
        ('abc"}', STRING, 2),
        ('", "', STRING, 0),  # closes, then opens the next item
        ("}", STRING, 0),  # just a character inside a string
        ("word", STRING, 0),
    ],
)
def test_closing_priorities(text: str, state: int, priority: int) -> None:
    assert closing_priority(text, state) == priority


@pytest.mark.parametrize(
    ("data", "start", "end"),
    [
        (b'"ab', OUT, STRING),
        (b'c"', STRING, OUT),
        (b'\\"', STRING, STRING),  # an escaped quote stays inside
        (b"\\", STRING, ESCAPE),
        (b'"', ESCAPE, STRING),
        (b'{"a": "b"}', OUT, OUT),
        (b"-12", OUT, NUMBER),
        (b"5e+3", NUMBER, NUMBER),
        (b", ", NUMBER, OUT),
        (b"12]", OUT, OUT),
    ],
)
def test_lexical_state(data: bytes, start: int, end: int) -> None:
    assert lex_state(data, start) == end
