"""Function declarations, calling config and function parts, wire → typed, for both APIs.

generateContent sends `tools[].functionDeclarations` (arguments as `parameters` in Gemini's
OpenAPI subset or `parametersJsonSchema`) and `toolConfig.functionCallingConfig`; the
Interactions API sends `tools` of type `function` and `tool_choice`. Both reduce to
`FunctionDecl`s (arguments as canonical JSON Schema, so calls are checked against exactly what
the client declared) and a `ToolChoice`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sightd import errors
from sightd.api.wire import OTHER_TOOLS, FunctionCallingConfig, FunctionDeclaration, Tool
from sightd.engine.constrain import to_json_schema
from sightd.engine.schema import canonical_schema
from sightd.prompt import FunctionDecl
from sightd.services.inputs import ToolChoice, ToolMode

# Gemini: starts with a letter or an underscore; then letters, digits, `_ . : -`; ≤ 64.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,63}")
MAX_FUNCTIONS = 512
_MODES: dict[str, ToolMode] = {
    "AUTO": "AUTO",
    "MODE_UNSPECIFIED": "AUTO",
    "ANY": "ANY",
    "NONE": "NONE",
    "VALIDATED": "VALIDATED",
}


def function_decls(tools: Sequence[Tool] | None, where: str = "tools") -> tuple[FunctionDecl, ...]:
    """Every function declared in `tools`; other tool kinds (search, code execution, ...) are
    refused by name, since this server cannot run them."""
    out: list[FunctionDecl] = []
    for i, tool in enumerate(tools or []):
        for kind in OTHER_TOOLS:
            if getattr(tool, kind) is not None:
                raise errors.InvalidArgument(
                    f"The {kind} tool is not supported by this server; declare functions "
                    "(function_declarations) instead.",
                    field=f"{where}[{i}].{kind}",
                )
        for j, decl in enumerate(tool.function_declarations or []):
            out.append(function_decl(decl, f"{where}[{i}].function_declarations[{j}]"))
    _check_unique(out, where)
    return tuple(out)


def function_decl(decl: FunctionDeclaration, where: str) -> FunctionDecl:
    return declared(
        decl.name,
        decl.description or "",
        decl.parameters,
        decl.parameters_json_schema,
        where,
        json_field="parameters_json_schema",
    )


def declared(
    name: str,
    description: str,
    openapi: Any,
    json_schema: Any,
    where: str,
    *,
    json_field: str,
) -> FunctionDecl:
    """One declaration, its arguments' schema checked (a schema decoding cannot enforce in
    full is fine: calls are also validated against it after decoding)."""
    if not _NAME.fullmatch(name):
        raise errors.InvalidArgument(
            f"Invalid function name {name!r}: it must start with a letter or an underscore and "
            "contain only letters, digits, underscores, dots, colons and dashes (at most 64).",
            field=f"{where}.name",
        )
    if openapi is not None and json_schema is not None:
        raise errors.InvalidArgument(
            f"Set parameters or {json_field}, not both.", field=f"{where}.{json_field}"
        )
    if openapi is None and json_schema is None:
        return FunctionDecl(name, description, None)
    dialect, given, field = (
        ("openapi", openapi, f"{where}.parameters")
        if openapi is not None
        else ("json", json_schema, f"{where}.{json_field}")
    )
    schema = canonical_schema(given, dialect=dialect, where=field)
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise errors.InvalidArgument(
            "A function's parameters must be an object schema.", field=f"{field}.type"
        )
    to_json_schema(schema, dialect="json", where=field)  # what decoding can enforce of it
    text = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    return FunctionDecl(name, description, text)


def _check_unique(decls: list[FunctionDecl], where: str) -> None:
    if len(decls) > MAX_FUNCTIONS:
        raise errors.InvalidArgument(
            f"Too many function declarations: the limit is {MAX_FUNCTIONS}.", field=where
        )
    seen: set[str] = set()
    for decl in decls:
        if decl.name in seen:
            raise errors.InvalidArgument(
                f"Function {decl.name!r} is declared twice.", field=f"{where}.name"
            )
        seen.add(decl.name)


def tool_choice(config: FunctionCallingConfig | None, where: str) -> ToolChoice:
    """`functionCallingConfig` as a `ToolChoice` (no config: AUTO, as Gemini)."""
    if config is None:
        return ToolChoice()
    raw = (config.mode or "AUTO").upper()
    mode = _MODES.get(raw)
    if mode is None:
        raise errors.InvalidArgument(
            f"Unknown function calling mode {config.mode!r}; use AUTO, ANY, NONE or VALIDATED.",
            field=f"{where}.mode",
        )
    return ToolChoice(mode, tuple(config.allowed_function_names or ()))


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
