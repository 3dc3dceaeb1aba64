"""Function steps in an interaction's timeline: wire → typed steps → the turns a generation sees,
and the JSON stored for `previous_interaction_id` read back the same."""

from __future__ import annotations

from typing import Any

import pytest

from sightd import errors
from sightd.api.interactions_convert import to_interaction_input
from sightd.engine.base import Completion
from sightd.prompt import FunctionCallPart
from sightd.services.inputs import FunctionCallIn, FunctionResponseIn, TextIn
from sightd.services.interaction_steps import (
    call_events,
    output_steps,
    steps_from_json,
    steps_json,
    steps_to_turns,
)

CALL = {"type": "function_call", "id": "c1", "name": "f", "arguments": {"a": 1}}
TEXT = {"type": "text", "text": "hi"}


def _steps(raw_input: Any) -> Any:
    return to_interaction_input({"model": "m", "input": raw_input}).steps


@pytest.mark.parametrize(
    ("raw_input", "turns"),
    [
        (  # a result step answers the call step before it
            [TEXT, CALL, {"type": "function_result", "call_id": "c1", "result": {"ok": True}}],
            [
                ("user", (TextIn("hi"),)),
                ("model", (FunctionCallIn("f", '{"a":1}', "c1"),)),
                ("user", (FunctionResponseIn("f", '{"ok":true}', "c1"),)),
            ],
        ),
        (  # text then calls is one model turn; results as blocks and steps join one user turn
            [
                TEXT,
                {"type": "model_output", "content": [{"type": "text", "text": "wait"}]},
                CALL,
                {**CALL, "id": "c2", "name": "g"},
                {
                    "type": "user_input",
                    "content": [{"type": "function_result", "call_id": "c1", "result": []}],
                },
                {"type": "function_result", "call_id": "c2", "name": "g", "result": "no"},
            ],
            [
                ("user", (TextIn("hi"),)),
                (
                    "model",
                    (
                        TextIn("wait"),
                        FunctionCallIn("f", '{"a":1}', "c1"),
                        FunctionCallIn("g", '{"a":1}', "c2"),
                    ),
                ),
                (
                    "user",
                    (
                        FunctionResponseIn("f", "[]", "c1"),
                        FunctionResponseIn("g", '"no"', "c2"),
                    ),
                ),
            ],
        ),
        (  # an error result is shown to the model as {"error": result}
            [CALL, {"type": "function_result", "call_id": "c1", "result": "x", "is_error": True}],
            [
                ("model", (FunctionCallIn("f", '{"a":1}', "c1"),)),
                ("user", (FunctionResponseIn("f", '{"error":"x"}', "c1"),)),
            ],
        ),
    ],
)
def test_steps_to_turns(raw_input: Any, turns: list[tuple[str, tuple[Any, ...]]]) -> None:
    got = steps_to_turns([], _steps(raw_input))
    assert [(t.role, t.parts) for t in got] == turns


def test_stored_steps_read_back_and_continue() -> None:
    steps = _steps([TEXT, CALL])[:1]  # the user's question
    done = Completion(
        text="", finish_reason="STOP", output_tokens=1, calls=(FunctionCallPart("f", "{}", "c9"),)
    )
    stored = steps_json(steps, 100) + output_steps(done)
    assert stored[-1] == {"type": "function_call", "name": "f", "id": "c9", "arguments": {}}
    answer = _steps([{"type": "function_result", "call_id": "c9", "result": 3}])
    turns = steps_to_turns(steps_from_json(stored), answer)
    assert [t.role for t in turns] == ["user", "model", "user"]
    assert turns[-1].parts == (FunctionResponseIn("f", "3", "c9"),)
    assert steps_json(answer, 100) == [{"type": "function_result", "call_id": "c9", "result": 3}]


def test_output_steps_and_events() -> None:
    call = FunctionCallPart("f", '{"a":1}', "c1")
    assert output_steps(
        Completion(text="t", finish_reason="STOP", output_tokens=1, calls=(call,))
    ) == [
        {"type": "model_output", "content": [{"type": "text", "text": "t"}]},
        {"type": "function_call", "name": "f", "id": "c1", "arguments": {"a": 1}},
    ]
    assert (
        output_steps(Completion(text="", finish_reason="STOP", output_tokens=0))[0]["type"]
        == "model_output"
    )
    start, delta, stop = call_events([call], 1)
    assert start["index"] == delta["index"] == stop["index"] == 1
    assert start["step"] == {"type": "function_call", "name": "f", "id": "c1", "arguments": {}}
    assert delta["delta"] == {"type": "arguments_delta", "arguments": '{"a":1}'}


@pytest.mark.parametrize(
    ("raw_input", "field"),
    [
        ([{"type": "function_result", "call_id": "zz", "result": 1}], "input[0].call_id"),
        ([CALL, {"type": "function_result", "call_id": "c2", "result": 1}], "input[1].call_id"),
        (
            [
                {
                    "type": "user_input",
                    "content": [{"type": "function_result", "call_id": "q", "result": 1}],
                }
            ],
            "input[0].content[0].call_id",
        ),
    ],
)
def test_results_must_answer_an_earlier_call(raw_input: Any, field: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        steps_to_turns([], _steps(raw_input))
    assert caught.value.field == field
