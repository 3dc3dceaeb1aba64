"""Function calling as models read and write it: hermes rendering (the same text whether Qwen3-VL's
template renders it or sightd writes it for Qwen2.5-VL), parsing of `<tool_call>` answers,
the streaming scanner, and the call schema a grammar enforces."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from sightd.engine.tools import (
    ToolCallScanner,
    call_schema,
    check_call,
    split_calls,
    tool_json,
)
from sightd.engine.transformers.families import FAMILIES
from sightd.prompt import (
    FunctionCallPart,
    FunctionDecl,
    FunctionResponsePart,
    Prompt,
    TextPart,
    Turn,
)
from sightd.testing.chat_templates import QWEN2_5_VL, QWEN3_VL

WEATHER = FunctionDecl(
    "get_weather",
    "Weather in a city.",
    json.dumps(
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city"],
        }
    ),
)
NESTED = FunctionDecl(
    "book",
    "",
    json.dumps(
        {
            "type": "object",
            "properties": {"guest": {"$ref": "#/$defs/Guest"}},
            "required": ["guest"],
            "$defs": {
                "Guest": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                }
            },
        }
    ),
)
NO_ARGS = FunctionDecl("ping")


def _family(name: str) -> Any:
    return next(f for f in FAMILIES if f.name == name)


def _conversation(tools: tuple[FunctionDecl, ...] = (WEATHER,)) -> Prompt:
    return Prompt(
        (
            Turn("user", (TextPart("Weather in Paris and Oslo?"),)),
            Turn(
                "model",
                (
                    TextPart("Checking."),
                    FunctionCallPart("get_weather", '{"city":"Paris"}', "c1"),
                    FunctionCallPart("get_weather", '{"city":"Oslo"}', "c2"),
                ),
            ),
            Turn(
                "user",
                (
                    FunctionResponsePart("get_weather", '{"temp":21}', "c1"),
                    FunctionResponsePart("get_weather", '{"temp":9}', "c2"),
                ),
            ),
        ),
        system="Be brief.",
        tools=tools,
    )


def _render(template: str, messages: list[dict[str, Any]], tools: Any = None) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    out = render_jinja_template(
        conversations=[messages],
        tools=tools,
        chat_template=template,
        add_generation_prompt=True,
    )
    return str(out[0][0] if isinstance(out, tuple) else out[0])


def test_written_hermes_text_equals_what_qwen3_template_renders() -> None:
    """sightd writes for Qwen2.5-VL (whose template has no tools) exactly what Qwen3-VL's own
    template renders from tools, tool_calls and tool messages."""
    pytest.importorskip("transformers")
    prompt = _conversation()
    family = _family("qwen3-vl")
    by_template = _render(
        QWEN3_VL,
        family.messages(prompt, template_tools=True),
        [tool_json(d) for d in prompt.tools],
    )
    written = _render(QWEN3_VL, family.messages(prompt, template_tools=False))
    assert written == by_template
    assert "<tools>\n" + json.dumps(tool_json(WEATHER), ensure_ascii=False) in by_template
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in (
        by_template
    )
    assert (
        '<|im_start|>user\n<tool_response>\n{"temp":21}\n</tool_response>\n'
        '<tool_response>\n{"temp":9}\n</tool_response><|im_end|>'
    ) in by_template


def test_qwen2_5_keeps_its_default_system_prompt_before_the_tools() -> None:
    pytest.importorskip("transformers")
    prompt = _conversation()
    prompt = Prompt(prompt.turns, None, prompt.tools)
    text = _render(QWEN2_5_VL, _family("qwen2.5-vl").messages(prompt))
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n")
    assert '"arguments": {"city": "Oslo"}}\n</tool_call><|im_end|>' in text


def test_family_without_tool_syntax_sees_text_and_an_instruction() -> None:
    messages = _family("smolvlm2").messages(_conversation())
    system = messages[0]["content"][0]["text"]
    assert system.startswith("Be brief.\n\nYou can call these functions")
    assert '"name": "get_weather"' in system
    model_text = "".join(c["text"] for c in messages[2]["content"])
    assert '{"name": "get_weather", "arguments": {"city":"Paris"}}' in model_text
    user_text = "".join(c["text"] for c in messages[3]["content"])
    assert 'Function get_weather returned: {"temp":21}' in user_text


@pytest.mark.parametrize(
    ("text", "head", "blocks"),
    [
        ("plain answer", "plain answer", []),
        (
            'Sure.\n<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>',
            "Sure.",
            ['{"name": "a", "arguments": {}}'],
        ),
        (
            '<tool_call>\n{"name": "a"}\n</tool_call>\n<tool_call>\n{"name": "b"}',
            "",
            ['{"name": "a"}', '{"name": "b"}'],
        ),
    ],
)
def test_split_calls(text: str, head: str, blocks: list[str]) -> None:
    assert split_calls(text) == (head, blocks)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{not json", "not JSON"),
        ('["get_weather"]', "JSON object"),
        ('{"name": "nope", "arguments": {}}', "not a declared function"),
        ('{"name": "get_weather", "arguments": {}}', "'city' is a required property"),
        ('{"name": "get_weather", "arguments": {"city": "P", "days": 0}}', "minimum"),
        ('{"name": "get_weather", "arguments": "[1]"}', "must be a JSON object"),
    ],
)
def test_check_call_refuses(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_call(raw, [WEATHER])


def test_check_call_accepts_arguments_as_a_json_string() -> None:
    raw = json.dumps({"name": "get_weather", "arguments": json.dumps({"city": "Rome"})})
    assert check_call(raw, [WEATHER]) == ("get_weather", {"city": "Rome"})


def test_call_schema_accepts_exactly_the_valid_calls() -> None:
    schema = call_schema((WEATHER, NESTED, NO_ARGS))
    jsonschema.Draft202012Validator.check_schema(schema)
    good = [
        {"name": "get_weather", "arguments": {"city": "Rome", "days": 2}},
        {"name": "book", "arguments": {"guest": {"name": "Ada"}}},
        {"name": "ping", "arguments": {}},
    ]
    bad = [
        {"name": "get_weather", "arguments": {"days": 2}},
        {"name": "book", "arguments": {"guest": {}}},
        {"name": "nope", "arguments": {}},
        {"name": "ping"},
        {"name": "ping", "arguments": {}, "extra": 1},
    ]
    validator = jsonschema.Draft202012Validator(schema)
    assert all(validator.is_valid(g) for g in good)
    assert not any(validator.is_valid(b) for b in bad)


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 7])
def test_scanner_streams_text_and_holds_back_calls(cut: int) -> None:
    text = 'Let me look.\n<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>'
    scanner = ToolCallScanner()
    shown = "".join(scanner.feed(text[i : i + cut]) for i in range(0, len(text), cut))
    assert shown == "Let me look."
    assert scanner.calling
    assert split_calls(scanner.tail) == ("", ['{"name": "a", "arguments": {}}'])


def test_scanner_gives_back_a_false_start() -> None:
    scanner = ToolCallScanner()
    shown = scanner.feed("a <tool") + scanner.feed("kit> b ") + scanner.finish()
    assert shown == "a <toolkit> b "
    assert not scanner.calling
