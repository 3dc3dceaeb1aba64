"""sightd's side of the contract, checked on the wire for any client.

For each exchange the Proxy recorded: the request's function declarations (`parameters` in
Gemini's OpenAPI subset, or `parametersJsonSchema` / `parameters_json_schema`, in
`functionDeclarations` or `function_declarations`), its `toolConfig` mode and allowed names, and
its `responseJsonSchema` / `responseSchema`. Then every `functionCall` sightd answered must name
an allowed function, with `args` (a JSON object) valid against that function's schema, and come
with finishReason STOP (the AI SDK runs no tool otherwise); an ANY-mode answer must carry at
least one call; a JSON answer must validate against the response schema. All against the schema
*as sent*: what a client dropped on the way (its own pydantic model) is the tests' other half."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from tests.frameworks.recorder import Exchange


def _get(d: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in d:
            return d[name]
    return None


def openapi_to_jsonschema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset Schema (upper-case `type`, `nullable`) as JSON Schema."""
    if isinstance(schema, list):
        return [openapi_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key in ("properties", "$defs", "defs"):
            out[key] = {k: openapi_to_jsonschema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "any_of", "oneOf", "allOf"):
            out[{"any_of": "anyOf"}.get(key, key)] = openapi_to_jsonschema(value)
        elif key in ("propertyOrdering", "property_ordering", "nullable", "title"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def declarations(body: Any) -> dict[str, dict[str, Any]]:
    """Declared function name → the JSON Schema its args must satisfy."""
    found: dict[str, dict[str, Any]] = {}
    for tool in (body or {}).get("tools") or []:
        for decl in _get(tool, "functionDeclarations", "function_declarations") or []:
            json_schema = _get(decl, "parametersJsonSchema", "parameters_json_schema")
            openapi = decl.get("parameters")
            if json_schema is not None:
                schema = json_schema
            elif openapi is not None:
                schema = openapi_to_jsonschema(openapi)
            else:
                schema = {"type": "object", "maxProperties": 0}
            found[decl["name"]] = schema
    return found


def calling_config(body: Any) -> tuple[str, list[str] | None]:
    config = _get(body or {}, "toolConfig", "tool_config") or {}
    fcc = _get(config, "functionCallingConfig", "function_calling_config") or {}
    mode = str(fcc.get("mode") or "AUTO").upper()
    allowed = _get(fcc, "allowedFunctionNames", "allowed_function_names")
    return mode, allowed


def response_schema(body: Any) -> Any:
    config = _get(body or {}, "generationConfig", "generation_config") or {}
    schema = _get(config, "responseJsonSchema", "response_json_schema")
    if schema is not None:
        return schema
    openapi = _get(config, "responseSchema", "response_schema")
    return openapi_to_jsonschema(openapi) if openapi is not None else None


def _answer_parts(response: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """(parts, finish reasons) of the first candidate, SSE chunks joined."""
    chunks = response if isinstance(response, list) else [response]
    parts: list[dict[str, Any]] = []
    reasons: list[str] = []
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        for cand in chunk.get("candidates") or []:
            parts.extend((cand.get("content") or {}).get("parts") or [])
            if cand.get("finishReason"):
                reasons.append(cand["finishReason"])
    return parts, reasons


def exchange_problems(ex: Exchange) -> list[str]:
    """What is wrong with sightd's answer to this request (empty when all is well)."""
    if not ex.request.path.endswith(("generateContent", "streamGenerateContent")):
        return []
    where = f"{ex.request.path}"
    if ex.status != 200:
        message = ex.response
        if isinstance(ex.response, dict):
            message = (ex.response.get("error") or {}).get("message", ex.response)
        return [f"{where}: HTTP {ex.status}: {str(message)[:300]}"]
    body = ex.request.body or {}
    declared = declarations(body)
    mode, allowed = calling_config(body)
    names = set(allowed) if allowed else set(declared)
    parts, reasons = _answer_parts(ex.response)
    problems: list[str] = []
    calls = [_get(p, "functionCall", "function_call") for p in parts]
    calls = [c for c in calls if c is not None]
    for call in calls:
        name, args = call.get("name"), call.get("args", {})
        if name not in names:
            problems.append(f"{where}: call of {name!r}, allowed {sorted(names)}")
            continue
        if not isinstance(args, dict):
            problems.append(f"{where}: {name} args not an object: {args!r}"[:300])
            continue
        errors = sorted(Draft202012Validator(declared[name]).iter_errors(args), key=str)
        if errors:
            problems.append(f"{where}: {name} args {json.dumps(args)[:200]}: {errors[0].message}")
    if declared and mode == "ANY" and not calls:
        text = "".join(p.get("text", "") for p in parts)
        problems.append(f"{where}: mode ANY but no functionCall (text {text[:100]!r})")
    if calls and not reasons:
        problems.append(f"{where}: functionCall answer without finishReason")
    elif calls and reasons[-1] != "STOP":
        # The AI SDK maps anything but STOP to "length"/"other" and then does not run the tool.
        problems.append(f"{where}: functionCall answer with finishReason {reasons[-1]}")
    schema = response_schema(body)
    if schema is not None and not calls:
        text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
        try:
            value = json.loads(text)
        except ValueError:
            problems.append(f"{where}: JSON answer does not parse: {text[:200]!r}")
        else:
            errors = sorted(Draft202012Validator(schema).iter_errors(value), key=str)
            if errors:
                problems.append(f"{where}: JSON answer {text[:200]}: {errors[0].message}")
    return problems


def wire_problems(exchanges: list[Exchange]) -> list[str]:
    return [p for ex in exchanges for p in exchange_problems(ex)]


def assert_all_valid(runs: int, client_failures: list[str], exchanges: list[Exchange]) -> None:
    """The issue's bar: every one of `runs` seeded calls valid, for the client and on the wire."""
    wire = wire_problems(exchanges)
    if client_failures or wire:
        lines = [
            f"{runs - len(client_failures)}/{runs} runs valid for the client; "
            f"{len(wire)} wire problem(s) in {len(exchanges)} exchange(s)"
        ]
        lines += [f"client: {f}" for f in client_failures[:5]]
        lines += [f"wire: {w}" for w in wire[:5]]
        raise AssertionError("\n".join(lines))
