"""Function calling on the Interactions wire → typed: `tools` of type `function`,
`generation_config.tool_choice`, and `function_call` / `function_result` steps (or blocks).

Declarations get the same checks as generateContent's (`sightd.api.functions.declared`), so a
call is validated against exactly what the client declared. The wire, as the SDKs send it:
- `tools: [{type: "function", name, description, parameters}]`, `parameters` JSON Schema;
- `tool_choice`: `"auto" | "any" | "none" | "validated"`, or
  `{allowed_tools: {mode, tools: [names]}}`;
- the model's call: `{type: "function_call", id, name, arguments}`;
- the client's answer: `{type: "function_result", call_id, name?, result, is_error?}`, a step of
  its own (Python SDK) or a block of a `user_input` step (the AI SDK).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sightd import errors
from sightd.api.functions import MAX_FUNCTIONS, compact_json, declared
from sightd.api.interactions_wire import Block, FunctionTool
from sightd.prompt import FunctionDecl
from sightd.services.inputs import BlockIn, FunctionCallIn, FunctionResponseIn, ToolChoice, ToolMode

CHOICE_FIELD = "generation_config.tool_choice"
_MODES: dict[str, ToolMode] = {
    "auto": "AUTO",
    "any": "ANY",
    "none": "NONE",
    "validated": "VALIDATED",
}


def tools_declared(tools: Sequence[tuple[FunctionTool, str]]) -> tuple[FunctionDecl, ...]:
    """The declared functions, each checked; names must be unique."""
    if len(tools) > MAX_FUNCTIONS:
        raise errors.InvalidArgument(
            f"Too many function tools: the limit is {MAX_FUNCTIONS}.", field="tools"
        )
    out: list[FunctionDecl] = []
    seen: set[str] = set()
    for tool, where in tools:
        if not tool.name:
            raise errors.InvalidArgument("A function tool needs a name.", field=f"{where}.name")
        if tool.name in seen:
            raise errors.InvalidArgument(
                f"Function {tool.name!r} is declared twice.", field=f"{where}.name"
            )
        seen.add(tool.name)
        decl = declared(
            tool.name, tool.description or "", None, tool.parameters, where, json_field="parameters"
        )
        out.append(decl)
    return tuple(out)


def tool_choice(
    decls: tuple[FunctionDecl, ...], raw: Any
) -> tuple[tuple[FunctionDecl, ...], ToolChoice]:
    """`tool_choice` → the functions offered and how. `allowed_tools.tools` narrows the
    functions offered in every mode (so `auto` over some of the tools works too)."""
    if raw is None:
        return decls, ToolChoice(field=CHOICE_FIELD)
    allowed: list[str] | None = None
    if isinstance(raw, str):
        mode = _mode(raw, CHOICE_FIELD)
    elif isinstance(raw, dict):
        where = f"{CHOICE_FIELD}.allowed_tools"
        spec = raw.get("allowed_tools", raw.get("allowedTools"))
        if not isinstance(spec, dict):
            raise errors.InvalidArgument(
                'tool_choice must be "auto", "any", "none", "validated" or '
                '{"allowed_tools": {"mode", "tools"}}.',
                field=CHOICE_FIELD,
            )
        mode = _mode(spec.get("mode", "auto"), f"{where}.mode")
        allowed = _names(spec.get("tools"), decls, f"{where}.tools")
    else:
        raise errors.InvalidArgument(
            'tool_choice must be a string or {"allowed_tools": {...}}.', field=CHOICE_FIELD
        )
    if mode in ("ANY", "VALIDATED") and not decls:
        raise errors.InvalidArgument(
            f"tool_choice {mode.lower()} needs tools of type function.", field=CHOICE_FIELD
        )
    if allowed:
        decls = tuple(d for d in decls if d.name in allowed)
    return decls, ToolChoice(mode, field=CHOICE_FIELD)


def _mode(value: Any, where: str) -> ToolMode:
    mode = _MODES.get(value.lower()) if isinstance(value, str) else None
    if mode is None:
        raise errors.InvalidArgument(
            f"Unknown tool_choice mode {value!r}; use auto, any, none or validated.", field=where
        )
    return mode


def _names(value: Any, decls: tuple[FunctionDecl, ...], where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise errors.InvalidArgument("Expected a list of function names.", field=where)
    known = {d.name for d in decls}
    for k, name in enumerate(value):
        if name not in known:
            raise errors.InvalidArgument(
                f"allowed_tools names {name!r}, which is not a declared function tool.",
                field=f"{where}[{k}]",
            )
    return value


def function_block(block: Block, where: str) -> BlockIn:
    """A `function_call` or `function_result` step or block, checked."""
    if block.type == "function_call":
        if not block.name:
            raise errors.InvalidArgument(
                "A function_call needs the name of the function.", field=f"{where}.name"
            )
        args = {} if block.arguments is None else block.arguments
        if not isinstance(args, dict):
            raise errors.InvalidArgument(
                "A function_call's arguments must be an object.", field=f"{where}.arguments"
            )
        call = FunctionCallIn(block.name, compact_json(args), block.id or None)
        return BlockIn("function_call", call=call, where=where)
    if not block.call_id:
        raise errors.InvalidArgument(
            "A function_result needs the call_id of the function_call it answers.",
            field=f"{where}.call_id",
        )
    if block.result is None:
        raise errors.InvalidArgument(
            "A function_result needs a result (an object, a list or a string).",
            field=f"{where}.result",
        )
    result = FunctionResponseIn(block.name or "", compact_json(block.result), block.call_id)
    return BlockIn("function_result", result=result, is_error=bool(block.is_error), where=where)
