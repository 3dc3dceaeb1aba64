"""An interaction's timeline: typed steps → the turns a generation sees, and steps ⇄ the JSON
stored in the interaction's record (what GET returns and `previous_interaction_id` continues).

The API layer parses and checks the wire (`sightd.api.interactions_wire`); this module only
reads back records this service wrote (or an earlier version of it), tolerantly: anything it
cannot use in stored history is skipped, never an error of the new request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from sightd import errors
from sightd.engine.base import Completion
from sightd.media.b64 import decode_base64
from sightd.prompt import FunctionCallPart
from sightd.services.inputs import (
    BlockIn,
    FunctionCallIn,
    FunctionResponseIn,
    InlineMedia,
    MediaIn,
    PartIn,
    StepIn,
    StepKind,
    TextIn,
    TurnIn,
    media_ref_for_uri,
)

_ROLE_OF: dict[str, Any] = {
    "user_input": "user",
    "model_output": "model",
    "function_call": "model",
    "function_result": "user",
}
_FUNCTION_STEPS = ("function_call", "function_result")


def steps_to_turns(history: Sequence[StepIn], steps: Sequence[StepIn]) -> tuple[TurnIn, ...]:
    """Turns for the generation: the stored history, then this call's steps (which must leave
    the conversation ending with user content).

    Function calls join the model turn before them (text then calls, as one answer); function
    results join a user turn of results before them. Every function_result must
    answer a function_call made earlier in the conversation (by its `call_id`)."""
    turns: list[TurnIn] = []
    calls: dict[str, str] = {}  # call id → function name, of the calls so far
    for prefix, timeline in (("previous_interaction_id", history), ("input", steps)):
        for i, step in enumerate(timeline):
            parts = [
                part
                for j, block in enumerate(step.content)
                if (part := _part(block, block.where or _where(prefix, i, j), calls)) is not None
            ]
            if not parts:
                continue
            role = _ROLE_OF[step.type]
            if turns and turns[-1].role == role and _joins(parts, turns[-1]):
                turns[-1] = TurnIn(role, turns[-1].parts + tuple(parts))
            else:
                turns.append(TurnIn(role, tuple(parts)))
    if not turns or turns[-1].role != "user":
        raise errors.InvalidArgument("input must end with user content", field="input")
    return tuple(turns)


def _joins(parts: list[PartIn], before: TurnIn) -> bool:
    """Calls join the model turn before them; results join a turn of results."""
    if all(isinstance(p, FunctionCallIn) for p in parts):
        return True
    return all(isinstance(p, FunctionResponseIn) for p in (*parts, *before.parts))


def _where(prefix: str, i: int, j: int) -> str:
    return prefix if prefix != "input" else f"input[{i}].content[{j}]"


def _part(block: BlockIn, field: str, calls: dict[str, str]) -> PartIn | None:
    if block.call is not None:
        if block.call.id:
            calls[block.call.id] = block.call.name
        return block.call
    if block.result is not None:
        return _result(block.result, block.is_error, field, calls)
    if block.type == "text":
        return TextIn(block.text or "")
    if block.data is not None:
        return MediaIn(InlineMedia(block.data, block.mime_type), field, None, block.resolution)
    if block.uri:
        ref = media_ref_for_uri(block.uri, block.mime_type)
        return MediaIn(ref, field, None, block.resolution)
    return None  # stored history whose large inline media were not kept


def _result(
    result: FunctionResponseIn, is_error: bool, field: str, calls: dict[str, str]
) -> FunctionResponseIn:
    """A function_result as the model reads it: named after its call; an error as
    `{"error": result}` (Gemini's convention for a function response)."""
    name = calls.get(result.id or "")
    if name is None:
        raise errors.InvalidArgument(
            f"function_result call_id {result.id!r} matches no function_call earlier in the "
            "conversation.",
            field=f"{field}.call_id",
        )
    body = _compact({"error": json.loads(result.response_json)}) if is_error else None
    return FunctionResponseIn(result.name or name, body or result.response_json, result.id)


def output_steps(completion: Completion) -> list[dict[str, Any]]:
    """An answer's output steps: a model_output step with its text (unless it only calls
    functions), then a function_call step per call."""
    steps: list[dict[str, Any]] = []
    if completion.text or not completion.calls:
        steps.append(
            {"type": "model_output", "content": [{"type": "text", "text": completion.text}]}
        )
    return steps + [call_json(call) for call in completion.calls]


def call_json(call: FunctionCallIn | FunctionCallPart) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function_call", "name": call.name}
    if call.id:
        out["id"] = call.id
    out["arguments"] = json.loads(call.args_json)
    return out


def call_events(calls: Sequence[FunctionCallPart], first_index: int) -> list[dict[str, Any]]:
    """SSE events for calls, as the AI SDK reads them: `step.start` of a function_call step
    (id, name), its arguments as one `arguments_delta` (a JSON string), `step.stop`."""
    events: list[dict[str, Any]] = []
    for index, call in enumerate(calls, first_index):
        step = call_json(call) | {"arguments": {}}
        delta = {"type": "arguments_delta", "arguments": call.args_json}
        events += [
            {"event_type": "step.start", "index": index, "step": step},
            {"event_type": "step.delta", "index": index, "delta": delta},
            {"event_type": "step.stop", "index": index},
        ]
    return events


def steps_json(steps: Sequence[StepIn], keep_chars: int) -> list[dict[str, Any]]:
    """Steps as stored and shown: inline data as standard base64, or `data_omitted: true` when
    its base64 would pass `keep_chars` (to keep rows small). A function step is its block."""
    return [
        _block_json(step.content[0], keep_chars)
        if step.type in _FUNCTION_STEPS and step.content
        else {"type": step.type, "content": [_block_json(b, keep_chars) for b in step.content]}
        for step in steps
    ]


def _block_json(block: BlockIn, keep_chars: int) -> dict[str, Any]:
    if block.call is not None:
        return call_json(block.call)
    if block.result is not None:
        result: dict[str, Any] = {"type": "function_result", "call_id": block.result.id}
        if block.result.name:
            result["name"] = block.result.name
        result["result"] = json.loads(block.result.response_json)
        return result | ({"is_error": True} if block.is_error else {})
    if block.type == "text":
        return {"type": "text", "text": block.text or ""}
    out: dict[str, Any] = {"type": block.type}
    if block.data is not None and 4 * -(-len(block.data) // 3) <= keep_chars:
        out["data"] = base64.b64encode(block.data).decode("ascii")
    elif block.data is not None or block.data_omitted:
        out["data_omitted"] = True
    if block.uri:
        out["uri"] = block.uri
    if block.mime_type:
        out["mime_type"] = block.mime_type
    if block.resolution:
        out["resolution"] = block.resolution
    return out


def steps_from_json(stored: Any) -> list[StepIn]:
    """Stored steps back as typed steps; what is not a usable step or block is skipped."""
    steps: list[StepIn] = []
    for item in stored if isinstance(stored, list) else []:
        if not isinstance(item, dict) or item.get("type") not in _ROLE_OF:
            continue  # thought steps, and anything unreadable
        kind: StepKind = item["type"]
        if kind in _FUNCTION_STEPS:
            block = _stored(item)
            if block is not None:
                steps.append(StepIn(kind, (block,)))
            continue
        content = item.get("content")
        blocks = [
            b for raw in (content if isinstance(content, list) else []) if (b := _stored(raw))
        ]
        steps.append(StepIn(kind, tuple(blocks)))
    return steps


def _stored(raw: Any) -> BlockIn | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    kind = raw["type"]
    if kind == "text":
        text = raw.get("text")
        return BlockIn("text", text=text) if isinstance(text, str) else None
    if kind in _FUNCTION_STEPS:
        return _stored_function(raw)
    if kind not in ("image", "video", "audio", "document"):
        return None
    data = _b64(raw.get("data"))
    uri, mime, level = (_str(raw.get(k)) for k in ("uri", "mime_type", "resolution"))
    mime = mime or _str(raw.get("mimeType"))
    if data is None and uri is None:
        return BlockIn(kind, data_omitted=True, mime_type=mime)
    return BlockIn(kind, data=data, uri=uri, mime_type=mime, resolution=level)


def _stored_function(raw: dict[str, Any]) -> BlockIn | None:
    name = _str(raw.get("name"))
    if raw["type"] == "function_call":
        args = raw.get("arguments")
        if name is None or not isinstance(args, dict):
            return None
        call = FunctionCallIn(name, _compact(args), _str(raw.get("id")))
        return BlockIn("function_call", call=call)
    call_id, result = _str(raw.get("call_id")), raw.get("result")
    if call_id is None or result is None:
        return None
    response = FunctionResponseIn(name or "", _compact(result), call_id)
    return BlockIn("function_result", result=response, is_error=raw.get("is_error") is True)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return decode_base64(value, "data")
    except errors.InvalidArgument:
        return None
