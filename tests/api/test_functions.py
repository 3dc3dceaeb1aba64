"""Function calling through a live server: declarations in, `functionCall` parts out.

A random-weight model writes gibberish, so these tests assert what a grammar guarantees (ANY:
every call names an allowed function with arguments valid under its schema), what reached the
model (the declarations in its own tool syntax, the history's calls and results), and what the
server made of answers a model could give (a recorded backend answering `<tool_call>` text).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
from google.genai import types

from sightd.engine.base import Completion, SamplingParams, TextDelta
from sightd.prompt import FunctionCallPart, FunctionResponsePart, Prompt

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "description": "City name"},
            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "INTEGER", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
    },
}
WEATHER_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
}
TIME = {
    "name": "get_time",
    "description": "Current time in a time zone.",
    "parametersJsonSchema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "maxLength": 40}},
        "required": ["zone"],
        "additionalProperties": False,
    },
}
SCHEMAS = {"get_weather": WEATHER_JSON_SCHEMA, "get_time": TIME["parametersJsonSchema"]}


def _body(
    mode: str | None = None, allowed: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}],
        "tools": [{"functionDeclarations": [WEATHER, TIME]}],
        # The tiny tokenizer spends about a token per character: room for a whole call.
        "generationConfig": {"maxOutputTokens": 160, "temperature": 1.0},
        **extra,
    }
    if mode is not None:
        config: dict[str, Any] = {"mode": mode}
        if allowed is not None:
            config["allowedFunctionNames"] = allowed
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


def _post(server: Any, body: dict[str, Any], method: str = "generateContent") -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1beta/models/gemini-2.5-flash:{method}",
        json=body,
        headers={"x-goog-api-key": "k"},
        timeout=120,
    )


@pytest.mark.slow
def test_any_mode_always_calls_an_allowed_function_with_valid_args(server: Any) -> None:
    seen: dict[str, int] = {}
    for seed in range(12):
        body = _body("ANY", seed=seed)
        body["generationConfig"]["seed"] = seed
        r = _post(server, body)
        assert r.status_code == 200, r.text
        cand = r.json()["candidates"][0]
        parts = cand["content"]["parts"]
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        assert len(calls) == 1, parts
        call = calls[0]
        assert call["name"] in SCHEMAS
        jsonschema.validate(call["args"], SCHEMAS[call["name"]])
        assert call["id"].startswith("call_")
        seen[call["name"]] = seen.get(call["name"], 0) + 1
    assert sum(seen.values()) == 12


@pytest.mark.slow
def test_allowed_function_names_restrict_the_call(server: Any) -> None:
    for seed in range(6):
        body = _body("ANY", ["get_time"])
        body["generationConfig"]["seed"] = seed
        r = _post(server, body)
        assert r.status_code == 200, r.text
        (part,) = r.json()["candidates"][0]["content"]["parts"]
        assert part["functionCall"]["name"] == "get_time"
        jsonschema.validate(part["functionCall"]["args"], TIME["parametersJsonSchema"])


def test_sdk_reads_the_call(client: Any) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(**WEATHER)])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY")
        ),
        max_output_tokens=160,
        seed=3,
    )
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Weather in Oslo?", config=config
    )
    assert response.function_calls, response.model_dump_json(exclude_none=True)
    (call,) = response.function_calls
    assert call.name == "get_weather"
    jsonschema.validate(call.args, WEATHER_JSON_SCHEMA)


def test_refusals_name_the_field(server: Any) -> None:
    cases = [
        (
            {"tools": [{"functionDeclarations": [{"name": "1bad name"}]}]},
            "tools[0].function_declarations[0].name",
        ),
        ({"tools": [{"googleSearch": {}}]}, "tools[0].google_search"),
        (
            {
                "toolConfig": {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["x"]}
                }
            },
            "allowed_function_names",
        ),
        ({"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}, "mode"),
        (
            {"tools": [{"functionDeclarations": [WEATHER, WEATHER]}]},
            "tools",
        ),
    ]
    for extra, field in cases:
        body = _body()
        body.update(extra)
        r = _post(server, body)
        assert r.status_code == 400, (extra, r.text)
        assert field in r.json()["error"]["message"] or field in json.dumps(r.json()), r.text


def test_count_tokens_counts_the_declarations(server: Any) -> None:
    plain = {"contents": _body()["contents"]}
    with_tools = {"generateContentRequest": {**_body(), "model": "models/gemini-2.5-flash"}}
    a = _post(server, plain, "countTokens").json()["totalTokens"]
    b = _post(server, with_tools, "countTokens").json()["totalTokens"]
    assert b > a + 20  # two declarations' JSON


# --- what the server makes of answers a model could give (a recorded backend) ---------------


def _recorder(
    monkeypatch: pytest.MonkeyPatch, backend: Any, answers: list[str]
) -> list[tuple[Prompt, SamplingParams]]:
    """Replace the backend's generate with one that answers `answers` in turn and records
    each call's prompt and params."""
    seen: list[tuple[Prompt, SamplingParams]] = []

    async def generate(prompt: Prompt, params: SamplingParams) -> Completion:
        seen.append((prompt, params))
        return Completion(answers[len(seen) - 1], "STOP", 10 * len(seen))

    monkeypatch.setattr(backend, "generate", generate)
    return seen


CALL_TEXT = (
    'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": '
    '{"city": "Paris", "unit": "celsius"}}\n</tool_call>'
)


def test_auto_parses_the_models_own_call(
    server: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recorder(monkeypatch, engine_handle.require(), [CALL_TEXT])
    r = _post(server, _body())
    assert r.status_code == 200, r.text
    cand = r.json()["candidates"][0]
    assert cand["finishReason"] == "STOP"
    text, call = cand["content"]["parts"]
    assert text == {"text": "Sure."}
    assert call["functionCall"]["name"] == "get_weather"
    assert call["functionCall"]["args"] == {"city": "Paris", "unit": "celsius"}
    ((prompt, params),) = seen
    assert [d.name for d in prompt.tools] == ["get_weather", "get_time"]
    assert json.loads(prompt.tools[0].parameters_json or "")["properties"]["unit"]["enum"] == [
        "celsius",
        "fahrenheit",
    ]
    assert params.constraint is None  # the model chooses


def test_a_malformed_call_is_made_again_under_the_grammar(
    server: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = '<tool_call>\n{"name": "get_weather", "arguments": {"city": 5}}\n</tool_call>'
    good = '{"name":"get_weather","arguments":{"city":"Rome","unit":"celsius"}}'
    seen = _recorder(monkeypatch, engine_handle.require(), [bad, good])
    r = _post(server, _body())
    assert r.status_code == 200, r.text
    cand = r.json()["candidates"][0]
    (part,) = cand["content"]["parts"]
    assert part["functionCall"]["args"] == {"city": "Rome", "unit": "celsius"}
    assert r.json()["usageMetadata"]["candidatesTokenCount"] == 10 + 20
    assert seen[0][1].constraint is None
    retry = seen[1][1].constraint
    assert retry is not None and '"const":"get_weather"' in (retry.schema_json or "")


def test_history_of_calls_and_results_reaches_the_model(
    server: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recorder(monkeypatch, engine_handle.require(), ["It is 21 °C in Paris."])
    body = _body("AUTO")
    body["contents"] += [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "c1",
                        "name": "get_weather",
                        "response": {"temp_c": 21},
                    }
                }
            ],
        },
    ]
    r = _post(server, body)
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["content"]["parts"] == [{"text": "It is 21 °C in Paris."}]
    ((prompt, _),) = seen
    assert prompt.turns[1].parts == (FunctionCallPart("get_weather", '{"city":"Paris"}', "c1"),)
    assert prompt.turns[2].parts == (FunctionResponsePart("get_weather", '{"temp_c":21}', "c1"),)


@pytest.mark.slow
def test_history_renders_through_the_real_template(server: Any) -> None:
    """The tiny Qwen3-VL renders tools, the model's call and the result with its own template
    (no recorder): the request goes through, whatever the random model answers."""
    body = _body("AUTO")
    body["contents"] += [
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_time", "args": {"zone": "UTC"}}}],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_time", "response": {"t": 1}}}],
        },
    ]
    body["generationConfig"]["maxOutputTokens"] = 8
    r = _post(server, body)
    assert r.status_code == 200, r.text


def test_streamed_text_stops_where_the_call_starts(
    client: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = engine_handle.require()
    pieces = ["Let me ", "check.\n<tool", '_call>\n{"name": "get_weather", "arguments": ']
    pieces += ['{"city": "Oslo", "unit": "celsius"}}\n</tool_call>']

    async def stream(prompt: Prompt, params: SamplingParams) -> AsyncIterator[Any]:
        for piece in pieces:
            yield TextDelta(piece)
        yield Completion("".join(pieces), "STOP", 30)

    monkeypatch.setattr(backend, "stream", stream)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(**WEATHER)])],
    )
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Weather in Oslo?", config=config
        )
    )
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    text = "".join(p.text or "" for p in parts)
    assert text == "Let me check."
    (call,) = chunks[-1].function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Oslo", "unit": "celsius"})
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_automatic_function_calling_runs_the_python_function(
    client: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-genai calls the Python function the model asked for, sends its result back, and
    returns the model's final answer."""
    calls: list[str] = []

    def get_weather(city: str) -> dict[str, Any]:
        """Current weather in a city."""
        calls.append(city)
        return {"temp_c": 21}

    seen: list[Prompt] = []

    async def generate(prompt: Prompt, params: SamplingParams) -> Completion:
        seen.append(prompt)
        last = prompt.turns[-1].parts[-1]
        if isinstance(last, FunctionResponsePart):
            return Completion(f"It is {json.loads(last.response_json)} there.", "STOP", 5)
        return Completion(
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            "STOP",
            12,
        )

    monkeypatch.setattr(engine_handle.require(), "generate", generate)
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="What's the weather in Paris?",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )
    assert calls == ["Paris"]
    assert "temp_c" in response.text and "21" in response.text
    assert [d.name for d in seen[0].tools] == ["get_weather"]
    call, result = seen[1].turns[1].parts[0], seen[1].turns[2].parts[0]
    assert isinstance(call, FunctionCallPart) and isinstance(result, FunctionResponsePart)
    assert call.id is not None  # the SDK sends the result back by name (its id is unset)
    assert json.loads(result.response_json) == {"result": {"temp_c": 21}}


def test_auto_needs_a_model_that_can_choose(
    server: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    backend = engine_handle.require()
    caps = dataclasses.replace(backend.capabilities, tool_calls=False)
    monkeypatch.setattr(type(backend), "capabilities", property(lambda self: caps))
    r = _post(server, _body())
    assert r.status_code == 400
    error = r.json()["error"]
    assert "ANY" in error["message"] and "function_calling_config.mode" in json.dumps(error)


def test_validated_without_a_tool_syntax_answers_or_calls_under_the_grammar(
    server: Any, engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that cannot choose by itself gets a grammar admitting a valid call or a
    direct answer `{"text": …}`, which reaches the client as text."""
    import dataclasses

    backend = engine_handle.require()
    caps = dataclasses.replace(backend.capabilities, tool_calls=False)
    monkeypatch.setattr(type(backend), "capabilities", property(lambda self: caps))
    seen = _recorder(monkeypatch, backend, ['{"text": "No call needed."}'])
    r = _post(server, _body("VALIDATED"))
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["content"]["parts"] == [{"text": "No call needed."}]
    schema = json.loads(seen[0][1].constraint.schema_json or "")  # type: ignore[union-attr]
    branches = schema["anyOf"]
    assert [b["properties"].get("name", {}).get("const") for b in branches] == [
        "get_weather",
        "get_time",
        None,
    ]
    assert branches[-1]["required"] == ["text"]
