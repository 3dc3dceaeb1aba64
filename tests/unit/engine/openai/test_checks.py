"""A constrained answer from upstream is normalised (fences, enum unwrapping; enums checked here,
JSON schemas by `sightd.services.checked`), and the number of requests in flight is bounded,
with a 429 past the queue."""

from __future__ import annotations

import asyncio
import json

import pytest

from sightd import errors
from sightd.engine.base import ChoiceOutput, JsonOutput
from sightd.engine.openai.backend import _checked
from sightd.engine.slots import Slots

SCHEMA = JsonOutput(
    json.dumps(
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "maximum": 5}},
            "required": ["n"],
        }
    )
)
ENUM = ChoiceOutput(("cat", "dog"))


@pytest.mark.parametrize(
    ("text", "finish", "constraint", "out"),
    [
        ('{"n": 3}', "STOP", SCHEMA, '{"n": 3}'),
        ('```json\n{"n": 3}\n```', "STOP", SCHEMA, '{"n": 3}'),
        ('{"n": ', "MAX_TOKENS", SCHEMA, '{"n": '),  # cut by the limit: returned as Gemini does
        ('"dog"', "STOP", ENUM, "dog"),
        ("dog", "STOP", ENUM, "dog"),
        ("free text", "STOP", None, "free text"),
        ("[1, 2]", "STOP", JsonOutput(None), "[1, 2]"),
        ('{"n": 9}', "STOP", SCHEMA, '{"n": 9}'),  # the schema is services.checked's to check
    ],
)
def test_valid_answers(text: str, finish: str, constraint: object, out: str) -> None:
    assert _checked(text, finish, constraint) == out  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "constraint", "words"),
    [
        ('"bird"', ENUM, "not one of the choices"),
        ("bird", ENUM, "not valid JSON"),
    ],
)
def test_invalid_answers_are_errors(text: str, constraint: object, words: str) -> None:
    with pytest.raises(errors.Internal, match=words):
        _checked(text, "STOP", constraint)  # type: ignore[arg-type]


def test_slots_bound_in_flight_and_waiting() -> None:
    async def scenario() -> None:
        slots = Slots(limit=2, max_waiting=1)
        release = asyncio.Event()
        entered: list[int] = []

        async def hold(i: int) -> None:
            async with slots.hold():
                entered.append(i)
                await release.wait()

        tasks = [asyncio.create_task(hold(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        assert entered == [0, 1] and slots.waiting == 1
        with pytest.raises(errors.ResourceExhausted):
            async with slots.hold():
                pass
        release.set()
        await asyncio.gather(*tasks)
        assert entered == [0, 1, 2] and slots.active == 0 and slots.waiting == 0

    asyncio.run(scenario())
