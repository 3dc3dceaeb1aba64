"""Function calling in the Interactions API through a live server: `tools` of type `function`,
`tool_choice`, `function_call` steps out (status `requires_action`), `function_result` steps
back in (after `previous_interaction_id`, or with the whole history inline).

A random-weight model writes gibberish, so these tests assert what a grammar guarantees (`any`:
every call names an allowed function with arguments valid under its schema) and what reached the
model (a recording backend: the history's call, then its result, paired by id).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from sightd.prompt import FunctionCallPart, FunctionResponsePart

MODEL = "gemini-3-flash-preview"
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
}
TIME = {
    "type": "object",
    "properties": {"zone": {"type": "string", "maxLength": 40}},
    "required": ["zone"],
    "additionalProperties": False,
}
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": WEATHER,
    },
    {
        "type": "function",
        "name": "get_time",
        "description": "Current time in a time zone.",
        "parameters": TIME,
    },
]


def _post(server: Any, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1beta/interactions",
        json=body,
        headers={"x-goog-api-key": "k"},
        timeout=120,
    )


def _body(tool_choice: Any = "any", seed: int = 0, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"max_output_tokens": 48, "temperature": 1.0, "seed": seed}
    if tool_choice is not None:
        config["tool_choice"] = tool_choice
    return {
        "model": MODEL,
        "input": "What's the weather in Paris?",
        "tools": TOOLS,
        "generation_config": config,
        **extra,
    }


def _recording(monkeypatch: pytest.MonkeyPatch, engine_handle: Any) -> list[Any]:
    """Every prompt the backend is asked to answer (non-streamed generations)."""
    backend = engine_handle.require()
    seen: list[Any] = []
    original = backend.generate

    async def recording(prompt: Any, params: Any) -> Any:
        seen.append(prompt)
        return await original(prompt, params)

    monkeypatch.setattr(backend, "generate", recording)
    return seen


@pytest.mark.slow
def test_any_always_calls_an_allowed_function_with_valid_arguments(server: Any) -> None:
    for seed in range(10):
        r = _post(server, _body("any", seed))
        assert r.status_code == 200, r.text
        interaction = r.json()
        assert interaction["status"] == "requires_action"
        (step,) = interaction["steps"]  # only the call: no empty text step before it
        assert step["type"] == "function_call"
        assert step["name"] in SCHEMAS
        jsonschema.validate(step["arguments"], SCHEMAS[step["name"]])
        assert step["id"].startswith("call_")


@pytest.mark.slow
def test_allowed_tools_restrict_the_call(server: Any) -> None:
    choice = {"allowed_tools": {"mode": "any", "tools": ["get_time"]}}
    for seed in range(4):
        r = _post(server, _body(choice, seed))
        assert r.status_code == 200, r.text
        (step,) = r.json()["steps"]
        assert step["name"] == "get_time"
        jsonschema.validate(step["arguments"], TIME)


def test_sdk_loop_call_result_answer(
    client: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recording(monkeypatch, engine_handle)
    first = client.interactions.create(
        model=MODEL,
        input="What's the weather in Oslo?",
        tools=TOOLS,
        generation_config={"tool_choice": "any", "max_output_tokens": 48, "seed": 3},
    )
    assert first.status == "requires_action"
    call = first.steps[-1]
    assert call.type == "function_call" and call.name in SCHEMAS
    jsonschema.validate(call.arguments, SCHEMAS[call.name])
    assert {d.name for d in seen[-1].tools} == set(SCHEMAS)

    second = client.interactions.create(
        model=MODEL,
        previous_interaction_id=first.id,
        input=[{"type": "function_result", "call_id": call.id, "result": {"temp_c": 21}}],
        tools=TOOLS,
        generation_config={"tool_choice": "none", "max_output_tokens": 4},
    )
    assert second.status in ("completed", "incomplete")
    assert second.steps[-1].type == "model_output"
    assert isinstance(second.steps[-1].content[0].text, str)

    prompt = seen[-1]
    assert prompt.tools == ()  # tool_choice none: the functions are not shown
    roles = [t.role for t in prompt.turns]
    assert roles == ["user", "model", "user"]
    (made,) = prompt.turns[1].parts
    (answered,) = prompt.turns[2].parts
    assert made == FunctionCallPart(
        call.name, json.dumps(call.arguments, separators=(",", ":")), call.id
    )
    assert answered == FunctionResponsePart(call.name, '{"temp_c":21}', call.id)

    timeline = client.interactions.get(id=second.id)
    assert timeline.steps[0].type in ("function_result", "user_input")
    assert timeline.steps[-1].type == "model_output"


def test_inline_history_in_both_result_shapes(
    server: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole history inline: a function_result step (Python SDK) and a function_result
    block inside a user_input step (the AI SDK), an error result as `{"error": …}`."""
    seen = _recording(monkeypatch, engine_handle)
    body = _body("none")
    body["input"] = [
        {"type": "user_input", "content": [{"type": "text", "text": "Weather and time?"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "Let me check."}]},
        {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {"city": "X"}},
        {"type": "function_call", "id": "c2", "name": "get_time", "arguments": {"zone": "UTC"}},
        {"type": "function_result", "call_id": "c1", "result": "Sunny"},
        {
            "type": "user_input",
            "content": [
                {"type": "function_result", "call_id": "c2", "result": "down", "is_error": True}
            ],
        },
    ]
    body["generation_config"]["max_output_tokens"] = 2
    r = _post(server, body)
    assert r.status_code == 200, r.text
    turns = seen[-1].turns
    assert [t.role for t in turns] == ["user", "model", "user"]
    assert turns[1].parts[1:] == (
        FunctionCallPart("get_weather", '{"city":"X"}', "c1"),
        FunctionCallPart("get_time", '{"zone":"UTC"}', "c2"),
    )
    assert turns[2].parts == (
        FunctionResponsePart("get_weather", '"Sunny"', "c1"),
        FunctionResponsePart("get_time", '{"error":"down"}', "c2"),
    )


def _events(server: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with httpx.stream(
        "POST",
        f"{server.url}/v1beta/interactions",
        json={**body, "stream": True},
        headers={"x-goog-api-key": "k"},
        timeout=120,
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[len("data: ") :]))
    return events


def test_stream_emits_the_call(server: Any) -> None:
    events = _events(server, _body("any", 5))
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    (start,) = [e for e in events if e["event_type"] == "step.start"]
    assert start["index"] == 0 and start["step"]["type"] == "function_call"
    (delta,) = [e for e in events if e["event_type"] == "step.delta"]
    assert delta["index"] == 0 and delta["delta"]["type"] == "arguments_delta"
    arguments = json.loads(delta["delta"]["arguments"])
    name = start["step"]["name"]
    jsonschema.validate(arguments, SCHEMAS[name])
    assert [e["index"] for e in events if e["event_type"] == "step.stop"] == [0]
    final = events[-1]["interaction"]
    assert final["status"] == "requires_action"
    (step,) = final["steps"]
    assert (step["id"], step["name"], step["arguments"]) == (start["step"]["id"], name, arguments)


def test_sdk_parses_the_streamed_call(client: Any) -> None:
    stream = client.interactions.create(
        model=MODEL,
        input="Time in Tokyo?",
        tools=TOOLS,
        generation_config={"tool_choice": "any", "max_output_tokens": 48, "seed": 1},
        stream=True,
    )
    events = list(stream)
    starts = [e for e in events if e.event_type == "step.start"]
    assert [s.step.type for s in starts] == ["function_call"]
    deltas = [e.delta for e in events if e.event_type == "step.delta"]
    assert deltas[0].type == "arguments_delta"
    assert events[-1].interaction.status == "requires_action"


def test_auto_by_default_answers_or_calls_validly(server: Any) -> None:
    """No tool_choice: the model chooses (Qwen's `<tool_call>` syntax, parsed and checked)."""
    for seed in range(3):
        r = _post(server, _body(None, seed))
        assert r.status_code == 200, r.text
        interaction = r.json()
        calls = [s for s in interaction["steps"] if s["type"] == "function_call"]
        for call in calls:
            jsonschema.validate(call["arguments"], SCHEMAS[call["name"]])
        expected = ("requires_action",) if calls else ("completed", "incomplete")
        assert interaction["status"] in expected


def test_stream_text_then_no_call(server: Any) -> None:
    """With tools but tool_choice none, the stream is the plain text step, as before."""
    events = _events(server, _body("none", max_output_tokens=3))
    starts = [e for e in events if e["event_type"] == "step.start"]
    assert [s["step"]["type"] for s in starts] == ["model_output"]
    assert events[-1]["interaction"]["status"] in ("completed", "incomplete")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tools": [{"type": "google_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tools": [{"type": "function", "name": "1 bad"}]}, "tools[0].name"),
        (
            {"tools": [{"type": "function", "name": "f", "parameters": {"type": "string"}}]},
            "tools[0].parameters",
        ),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "tools[1].name"),
        ({"generation_config": {"tool_choice": "sometimes"}}, "generation_config.tool_choice"),
        (
            {"generation_config": {"tool_choice": {"allowed_tools": {"tools": ["nope"]}}}},
            "generation_config.tool_choice.allowed_tools.tools[0]",
        ),
        ({"tools": None, "generation_config": {"tool_choice": "any"}}, "tool_choice"),
        (
            {"input": [{"type": "function_result", "call_id": "nobody", "result": "x"}]},
            "call_id",
        ),
        (
            {
                "input": [
                    {"type": "user_input", "content": [{"type": "text", "text": "hi"}]},
                    {"type": "function_call", "id": "c", "name": "get_time", "arguments": [1]},
                ]
            },
            "input[1].arguments",
        ),
        (
            {
                "input": [
                    {"type": "function_call", "id": "c", "name": "get_time", "arguments": {}},
                    {"type": "function_result", "call_id": "c"},
                ]
            },
            "input[1].result",
        ),
    ],
)
def test_refusals_name_the_field(server: Any, change: dict[str, Any], field: str) -> None:
    body = _body() | change
    r = _post(server, body)
    assert r.status_code == 400, r.text
    assert field in json.dumps(r.json()), r.text


def test_result_for_an_unknown_call_after_previous_interaction(server: Any) -> None:
    first = _post(server, _body("any", 2))
    assert first.status_code == 200, first.text
    body = _body("none", previous_interaction_id=first.json()["id"])
    body["input"] = [{"type": "function_result", "call_id": "call_other", "result": "x"}]
    r = _post(server, body)
    assert r.status_code == 400 and "call_id" in json.dumps(r.json()), r.text
