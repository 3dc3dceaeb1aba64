"""Wire models of the Interactions API (`POST /interactions`, wire contract §8), on the same
lenient base and scalar rules as generateContent's (`sightd.api.wire`).

`input` comes in four shapes: a string, one content block, a list of content blocks (JS, curl),
or a list of steps (what the Python SDK sends); the older `{role, content}` turn is a step too.
`parse_interaction` reads any of them into `WireStep`s, naming bad fields by where the client
put them (`input[1].data`), not where normalising moved them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, Field

from sightd import errors
from sightd.api.wire import SamplingConfig, Wire, parse_model

FUNCTION_STEPS = ("function_call", "function_result")
STEP_TYPES = ("user_input", "model_output", *FUNCTION_STEPS)
SKIPPED_STEPS = ("thought",)
TEXT_BLOCK = "text"
MEDIA_BLOCKS = ("image", "video", "audio", "document")
SKIPPED_BLOCKS = ("thought", "thought_summary", "thought_signature")


class Block(Wire):
    """A content block: `{type: "text", text}` or `{type: image|video|…, data|uri, …}`."""

    type: str
    text: str | None = None
    data: str | None = None
    uri: str | None = None
    mime_type: str | None = None
    resolution: str | None = None
    data_omitted: bool | None = None
    # function_call (a step, or a block of a model turn): id, name, arguments
    id: str | None = None
    name: str | None = None
    arguments: Any = None
    # function_result (a step, or a block of a user_input step, as the AI SDK sends it)
    call_id: str | None = None
    result: Any = None
    is_error: bool | None = None


class FunctionTool(Wire):
    """`tools[i]`: `{type: "function", name, description, parameters}` (JSON Schema)."""

    type: str | None = None
    name: str | None = None
    description: str | None = None
    parameters: Any = None


class InteractionGenerationConfig(SamplingConfig):
    """`generation_config`: the shared sampling knobs, and `tool_choice` (`auto` | `any` |
    `none` | `validated`, or `{allowed_tools: {mode, tools}}`): read by `parse_tool_choice`."""

    tool_choice: Any = None


class ResponseFormat(Wire):
    """`{type: "text", mime_type, schema}`: the schema is standard JSON Schema."""

    type: str = "text"
    mime_type: str | None = None
    schema_: Any = Field(
        default=None, validation_alias=AliasChoices("schema", "json_schema", "jsonSchema")
    )


class InteractionRequest(Wire):
    model: str | None = None
    agent: Any = None
    input: Any = None  # four shapes: read by `parse_input`
    system_instruction: str | None = None
    generation_config: InteractionGenerationConfig | None = None
    tools: list[Any] | None = None  # each read by `parse_tools`
    response_format: Any = None  # one ResponseFormat or a list: read by `parse_formats`
    response_mime_type: str | None = None  # deprecated
    response_modalities: list[str] | None = None  # deprecated; text only here
    stream: bool | None = None
    store: bool | None = None
    background: bool | None = None
    previous_interaction_id: str | None = None


@dataclass(frozen=True)
class WireStep:
    type: str  # user_input | model_output | thought
    content: tuple[tuple[Block, str], ...]  # each block with where it was in the request


@dataclass(frozen=True)
class ParsedInteraction:
    request: InteractionRequest
    steps: tuple[WireStep, ...]
    formats: tuple[tuple[ResponseFormat, str], ...]  # each with where it was
    tools: tuple[tuple[FunctionTool, str], ...] = ()  # each with where it was


def parse_interaction(payload: Any) -> ParsedInteraction:
    """A `POST /interactions` body, type-checked; InvalidArgument names the first bad field."""
    request = parse_model(InteractionRequest, payload)
    return ParsedInteraction(
        request,
        parse_input(request.input),
        parse_formats(request.response_format),
        parse_tools(request.tools),
    )


def parse_tools(raw: list[Any] | None) -> tuple[tuple[FunctionTool, str], ...]:
    """`tools`: functions only; another kind (google_search, code_execution, ...) is refused by
    name, since this server cannot run it."""
    out: list[tuple[FunctionTool, str]] = []
    for i, item in enumerate(raw or []):
        where = f"tools[{i}]"
        tool = parse_model(FunctionTool, item, where)
        if tool.type != "function":
            raise errors.InvalidArgument(
                f"Tool type {tool.type!r} is not supported by this server; declare functions "
                '({"type": "function", "name", "description", "parameters"}) instead.',
                field=f"{where}.type",
            )
        out.append((tool, where))
    return tuple(out)


def _is_step(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    if isinstance(kind, str):
        return kind in STEP_TYPES or kind in SKIPPED_STEPS
    return kind is None and "role" in item


def _block(item: Any, where: str) -> Block:
    if isinstance(item, str):
        return Block(type=TEXT_BLOCK, text=item)
    return parse_model(Block, item, where)


def _blocks(content: Any, where: str) -> list[tuple[Block, str]]:
    """A step's `content` (nothing, a string, a block, or a list of strings and blocks)."""
    if content is None:
        return []
    if isinstance(content, str | dict):
        return [(_block(content, where), where)]
    if isinstance(content, list):
        return [(_block(c, f"{where}[{j}]"), f"{where}[{j}]") for j, c in enumerate(content)]
    raise errors.InvalidArgument(
        f"Invalid value at '{where}': content must be a string, a block or a list.", field=where
    )


def _step(item: dict[str, Any], where: str) -> WireStep:
    kind = item.get("type")
    if kind is None:  # the older Turn shape {role, content}
        role = item.get("role")
        if not isinstance(role, str):
            raise errors.InvalidArgument(
                f"Invalid value at '{where}.role': expected a string.", field=f"{where}.role"
            )
        kind = "model_output" if role.lower() in ("model", "assistant") else "user_input"
    if kind in SKIPPED_STEPS:
        return WireStep(kind, ())
    if kind in FUNCTION_STEPS:  # the step is its own one block
        return WireStep(kind, ((parse_model(Block, item, where), where),))
    return WireStep(kind, tuple(_blocks(item.get("content"), f"{where}.content")))


def parse_input(raw: Any) -> tuple[WireStep, ...]:
    """Any accepted `input` shape → steps; loose blocks gather into user_input steps."""
    if raw is None:
        raise errors.InvalidArgument("input is required", field="input")
    if isinstance(raw, str):
        return (WireStep("user_input", ((_block(raw, "input"), "input"),)),)
    if isinstance(raw, dict):
        if _is_step(raw):
            return (_step(raw, "input"),)
        return (WireStep("user_input", ((_block(raw, "input"), "input"),)),)
    if not isinstance(raw, list) or not raw:
        raise errors.InvalidArgument(
            "Invalid value at 'input': expected a string, a block or a non-empty list.",
            field="input",
        )
    steps: list[WireStep] = []
    pending: list[tuple[Block, str]] = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if _is_step(item):
            if pending:
                steps.append(WireStep("user_input", tuple(pending)))
                pending = []
            steps.append(_step(item, where))
        elif isinstance(item, str | dict):
            pending.append((_block(item, where), where))
        elif isinstance(item, list):  # a nested list of blocks
            pending.extend(_blocks(item, where))
        else:
            raise errors.InvalidArgument(
                f"Invalid value at '{where}': expected a string, a content block or a step.",
                field=where,
            )
    if pending:
        steps.append(WireStep("user_input", tuple(pending)))
    return tuple(steps)


def parse_formats(raw: Any) -> tuple[tuple[ResponseFormat, str], ...]:
    """`response_format`: nothing, one format object, or a list of them."""
    if raw is None:
        return ()
    if isinstance(raw, list):
        return tuple(
            (parse_model(ResponseFormat, f, f"response_format[{i}]"), f"response_format[{i}]")
            for i, f in enumerate(raw)
        )
    return ((parse_model(ResponseFormat, raw, "response_format"), "response_format"),)
