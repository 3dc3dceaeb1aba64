"""An interaction's timeline: typed steps → the turns a generation sees, and steps ⇄ the JSON
stored in the interaction's record (what GET returns and `previous_interaction_id` continues).

The API layer parses and checks the wire (`sightd.api.interactions_wire`); this module only
reads back records this service wrote (or an earlier version of it), tolerantly: anything it
cannot use in stored history is skipped, never an error of the new request.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from sightd import errors
from sightd.media.b64 import decode_base64
from sightd.services.inputs import (
    BlockIn,
    InlineMedia,
    MediaIn,
    PartIn,
    StepIn,
    StepKind,
    TextIn,
    TurnIn,
    media_ref_for_uri,
)

_ROLE_OF: dict[str, Any] = {"user_input": "user", "model_output": "model"}


def steps_to_turns(history: Sequence[StepIn], steps: Sequence[StepIn]) -> tuple[TurnIn, ...]:
    """Turns for the generation: the stored history, then this call's steps (which must leave
    the conversation ending with user content)."""
    turns: list[TurnIn] = []
    for prefix, timeline in (("previous_interaction_id", history), ("input", steps)):
        for i, step in enumerate(timeline):
            parts = [
                part
                for j, block in enumerate(step.content)
                if (part := _part(block, _where(prefix, i, j))) is not None
            ]
            if parts:
                turns.append(TurnIn(_ROLE_OF[step.type], tuple(parts)))
    if not turns or turns[-1].role != "user":
        raise errors.InvalidArgument("input must end with user content", field="input")
    return tuple(turns)


def _where(prefix: str, i: int, j: int) -> str:
    return prefix if prefix != "input" else f"input[{i}].content[{j}]"


def _part(block: BlockIn, field: str) -> PartIn | None:
    if block.type == "text":
        return TextIn(block.text or "")
    if block.data is not None:
        return MediaIn(InlineMedia(block.data, block.mime_type), field, None, block.resolution)
    if block.uri:
        ref = media_ref_for_uri(block.uri, block.mime_type)
        return MediaIn(ref, field, None, block.resolution)
    return None  # stored history whose large inline media were not kept


def steps_json(steps: Sequence[StepIn], keep_chars: int) -> list[dict[str, Any]]:
    """Steps as stored and shown: inline data as standard base64, or `data_omitted: true` when
    its base64 would pass `keep_chars` (to keep rows small)."""
    return [
        {"type": step.type, "content": [_block_json(b, keep_chars) for b in step.content]}
        for step in steps
    ]


def _block_json(block: BlockIn, keep_chars: int) -> dict[str, Any]:
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
        kind: StepKind = "user_input" if item["type"] == "user_input" else "model_output"
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
    if kind not in ("image", "video", "audio", "document"):
        return None
    data = _b64(raw.get("data"))
    uri, mime, level = (_str(raw.get(k)) for k in ("uri", "mime_type", "resolution"))
    mime = mime or _str(raw.get("mimeType"))
    if data is None and uri is None:
        return BlockIn(kind, data_omitted=True, mime_type=mime)
    return BlockIn(kind, data=data, uri=uri, mime_type=mime, resolution=level)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return decode_base64(value, "data")
    except errors.InvalidArgument:
        return None
