"""Function calling as models read and write it: Qwen's hermes `<tool_call>` syntax, the JSON a
grammar holds a call to, and an instruction for models with no tool syntax of their own.

Qwen2.5-VL and Qwen3-VL were trained on the hermes format: the declarations as JSON lines in a
`# Tools` block of the system prompt, each call as `<tool_call>\\n{"name": …, "arguments": …}
\\n</tool_call>`, each result as `<tool_response>\\n…\\n</tool_response>` in a user turn. The
in-process backend lets the model's own chat template render them when it can (Qwen3-VL's
does), and renders the same text itself when the template cannot (Qwen2.5-VL ships one without
tools). Services parse answers with `split_calls` / `ToolCallScanner` and check each call with
`check_call`, so a malformed call never reaches a client.

Pure text and JSON, no torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from sightd.prompt import FunctionCallPart, FunctionDecl, FunctionResponsePart

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def parameters(decl: FunctionDecl) -> dict[str, Any]:
    """The declaration's arguments schema; a function without parameters takes `{}`."""
    if decl.parameters_json is None:
        return dict(_NO_ARGUMENTS)
    schema: dict[str, Any] = json.loads(decl.parameters_json)
    return schema


def tool_json(decl: FunctionDecl) -> dict[str, Any]:
    """One declaration in the OpenAI/transformers tool format chat templates render."""
    function: dict[str, Any] = {"name": decl.name}
    if decl.description:
        function["description"] = decl.description
    function["parameters"] = parameters(decl)
    return {"type": "function", "function": function}


def hermes_tools_block(decls: Sequence[FunctionDecl]) -> str:
    """The `# Tools` block Qwen's templates put in the system prompt, word for word."""
    lines = "".join("\n" + json.dumps(tool_json(d), ensure_ascii=False) for d in decls)
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
        f"{lines}\n</tools>\n\nFor each function call, return a json object with function name "
        "and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def hermes_call(call: FunctionCallPart) -> str:
    """A call as Qwen's template writes it (arguments through jinja's `tojson`)."""
    args = json.dumps(json.loads(call.args_json), ensure_ascii=False)
    return f'{TOOL_CALL_OPEN}\n{{"name": "{call.name}", "arguments": {args}}}\n{TOOL_CALL_CLOSE}'


def hermes_response(response: FunctionResponsePart) -> str:
    return f"<tool_response>\n{response.response_json}\n</tool_response>"


def generic_instruction(decls: Sequence[FunctionDecl]) -> str:
    """Tells a model without a tool syntax which functions exist and how a call is written; the
    grammar then holds it to exactly that."""
    lines = "\n".join(json.dumps(tool_json(d)["function"], ensure_ascii=False) for d in decls)
    return (
        "You can call these functions (JSON Schema of their arguments):\n"
        f"{lines}\n"
        'To call one, answer with a JSON object {"name": <function name>, "arguments": '
        '<arguments object>}; to answer directly instead, with {"text": <your answer>}.'
    )


def call_as_text(call: FunctionCallPart) -> str:
    """A call in a history turn, for a model without a tool syntax: the JSON it was asked for."""
    return f'{{"name": {json.dumps(call.name)}, "arguments": {call.args_json}}}'


def response_as_text(response: FunctionResponsePart) -> str:
    return f"Function {response.name} returned: {response.response_json}"


# The one answer besides a call a grammar may allow (VALIDATED mode on a model without a tool
# syntax): a direct answer, wrapped so the grammar can tell it from a call.
TEXT_ANSWER: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


def call_schema(decls: Sequence[FunctionDecl], *, allow_text: bool = False) -> dict[str, Any]:
    """A JSON Schema whose instances are exactly the valid calls of `decls`:
    `{"name": <one of them>, "arguments": <valid under its parameters>}` (and, with
    `allow_text`, a direct answer `{"text": …}`).

    Each function's `$defs` (pydantic's nested models) move to the root, renamed per function,
    with their `$ref`s rewritten, since a `$ref` points from the document's root.
    """
    defs: dict[str, Any] = {}
    branches = []
    for i, decl in enumerate(decls):
        args = _hoist(parameters(decl), f"f{i}_", defs)
        branches.append(
            {
                "type": "object",
                "properties": {"name": {"const": decl.name}, "arguments": args},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    if allow_text:
        branches.append(dict(TEXT_ANSWER))
    schema: dict[str, Any] = branches[0] if len(branches) == 1 else {"anyOf": branches}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


def _hoist(schema: dict[str, Any], prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    local = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            fixed = {k: rewrite(v) for k, v in node.items()}
            ref = fixed.get("$ref")
            if isinstance(ref, str):
                if ref == "#":
                    fixed["$ref"] = f"#/$defs/{prefix}root"
                    out.setdefault(f"{prefix}root", root)
                for head in ("#/$defs/", "#/definitions/"):
                    if ref.startswith(head):
                        fixed["$ref"] = f"#/$defs/{prefix}{ref[len(head) :]}"
            return fixed
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    root: dict[str, Any] = {}
    root.update(rewrite(body))
    for name, sub in local.items():
        out[f"{prefix}{name}"] = rewrite(sub)
    return root


def split_calls(text: str) -> tuple[str, list[str]]:
    """The answer's text before its first `<tool_call>`, and the bodies of its tool-call
    blocks (the last may lack its closing tag when the model stopped right after it)."""
    head, sep, rest = text.partition(TOOL_CALL_OPEN)
    if not sep:
        return text, []
    blocks = []
    for chunk in rest.split(TOOL_CALL_OPEN):
        body, _, _ = chunk.partition(TOOL_CALL_CLOSE)
        blocks.append(body.strip())
    return head.rstrip(), blocks


def check_call(
    raw: str | Mapping[str, Any], decls: Iterable[FunctionDecl]
) -> tuple[str, dict[str, Any]]:
    """(name, args) of one call — JSON text or an already parsed object — if it names one of
    `decls` and its arguments validate against that function's schema; ValueError saying why
    otherwise. Arguments given as a JSON string holding an object are accepted (some models
    write them so)."""
    if isinstance(raw, str):
        try:
            call = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e}") from e
    else:
        call = raw
    if not isinstance(call, Mapping):
        raise ValueError("a call must be a JSON object")
    name = call.get("name")
    by_name = {d.name: d for d in decls}
    if not isinstance(name, str) or name not in by_name:
        raise ValueError(f"{name!r} is not a declared function")
    args = call.get("arguments", call.get("args", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError as e:
            raise ValueError(f"arguments are not JSON: {e}") from e
    if not isinstance(args, dict):
        raise ValueError("arguments must be a JSON object")
    error = first_violation(args, parameters(by_name[name]))
    if error is not None:
        raise ValueError(f"arguments of {name}: {error}")
    return name, args


def first_violation(instance: Any, schema: Mapping[str, Any]) -> str | None:
    """Why `instance` is not valid under `schema` (JSON Schema 2020-12), or None."""
    try:
        validator = Draft202012Validator(schema)
        error = next(iter(validator.iter_errors(instance)), None)
    except (SchemaError, RecursionError) as e:  # checked at parse time; defensive
        return f"the schema cannot be checked: {e}"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" at {where}" if where else "")


class ToolCallScanner:
    """Streams the text of an answer that may turn into tool calls: text is passed on as it
    comes, except a tail that could be the start of `<tool_call>`; from the first `<tool_call>`
    on, everything is kept back for `split_calls` at the end."""

    def __init__(self) -> None:
        self._pending = ""
        self.tail = ""  # from the first `<tool_call>` on
        self.calling = False

    def feed(self, text: str) -> str:
        if self.calling:
            self.tail += text
            return ""
        self._pending += text
        at = self._pending.find(TOOL_CALL_OPEN)
        if at >= 0:
            out, self.tail = self._pending[:at].rstrip(), self._pending[at:]
            self._pending, self.calling = "", True
            return out
        keep = _partial_suffix(self._pending, TOOL_CALL_OPEN)
        # Whitespace before a possible call is held too: it is dropped if a call follows.
        stripped = self._pending[: len(self._pending) - keep]
        body = stripped.rstrip()
        keep += len(stripped) - len(body)
        cut = len(self._pending) - keep
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def finish(self) -> str:
        """Text still held back when the answer ended without a call."""
        out, self._pending = self._pending, ""
        return out


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
