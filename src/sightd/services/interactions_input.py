"""Interactions API input → typed turns.

`input` comes in four shapes (wire contract §8): a string, one content block, a list of content
blocks (JS, curl), or a list of steps (what the Python SDK sends). All normalise to a list of
steps; steps then become `TurnIn`s. Pure functions, table-tested.
"""

from __future__ import annotations

from typing import Any

from sightd import errors
from sightd.engine.base import OutputConstraint, SamplingParams
from sightd.engine.constrain import constraint_for
from sightd.media.b64 import decode_base64
from sightd.services.inputs import InlineMedia, MediaIn, PartIn, TextIn, TurnIn, media_ref_for_uri

STEP_TYPES = {"user_input": "user", "model_output": "model"}
SKIPPED_STEPS = {"thought"}
MEDIA_BLOCKS = {"image", "video", "audio", "document"}


def _is_step(item: Any) -> bool:
    return isinstance(item, dict) and (
        item.get("type") in STEP_TYPES or item.get("type") in SKIPPED_STEPS or "role" in item
    )


def _as_blocks(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, dict):
        return [content]
    if isinstance(content, list):
        return [{"type": "text", "text": c} if isinstance(c, str) else c for c in content]
    raise errors.InvalidArgument("content must be a string, a block or a list", field="input")


def _step(item: dict[str, Any]) -> dict[str, Any]:
    if "role" in item and "type" not in item:  # the older Turn shape {role, content}
        kind = "model_output" if item["role"] in ("model", "assistant") else "user_input"
        return {"type": kind, "content": _as_blocks(item.get("content"))}
    return {**item, "content": _as_blocks(item.get("content"))}


def normalize_input(raw: Any) -> list[dict[str, Any]]:
    """Any accepted `input` shape → a list of steps with block lists as content."""
    if raw is None:
        raise errors.InvalidArgument("input is required", field="input")
    if isinstance(raw, str):
        return [{"type": "user_input", "content": _as_blocks(raw)}]
    if isinstance(raw, dict):
        return [_step(raw)] if _is_step(raw) else [{"type": "user_input", "content": [raw]}]
    if not isinstance(raw, list) or not raw:
        raise errors.InvalidArgument(
            "input must be a string, a block or a non-empty list", field="input"
        )
    steps: list[dict[str, Any]] = []
    pending: list[Any] = []
    for item in raw:
        if _is_step(item):
            if pending:
                steps.append({"type": "user_input", "content": pending})
                pending = []
            steps.append(_step(item))
        else:
            pending.extend(_as_blocks(item))
    if pending:
        steps.append({"type": "user_input", "content": pending})
    return steps


def _block_part(block: Any, field: str) -> PartIn | None:
    if not isinstance(block, dict):
        raise errors.InvalidArgument("content blocks must be objects", field=field)
    kind = block.get("type")
    if kind == "text":
        return TextIn(str(block.get("text", "")))
    if kind in MEDIA_BLOCKS:
        mime = block.get("mime_type") or block.get("mimeType")
        resolution = block.get("resolution")
        if block.get("data"):
            data = decode_base64(block["data"], f"{field}.data")
            return MediaIn(InlineMedia(data, mime), field, None, resolution)
        if block.get("data_omitted"):
            return None  # stored history whose large inline media were not kept
        if block.get("uri"):
            return MediaIn(media_ref_for_uri(block["uri"], mime), field, None, resolution)
        raise errors.InvalidArgument(f"a {kind} block needs `data` or `uri`", field=field)
    if kind in ("thought", "thought_summary", "thought_signature"):
        return None
    raise errors.InvalidArgument(f"content block type {kind!r} is not supported", field=field)


def steps_to_turns(steps: list[dict[str, Any]]) -> tuple[TurnIn, ...]:
    turns: list[TurnIn] = []
    for i, step in enumerate(steps):
        kind = step.get("type")
        if kind in SKIPPED_STEPS:
            continue
        role = STEP_TYPES.get(str(kind))
        if role is None:
            raise errors.InvalidArgument(
                f"step type {kind!r} is not supported", field=f"input[{i}]"
            )
        parts = [
            p
            for j, b in enumerate(step.get("content", []))
            if (p := _block_part(b, f"input[{i}].content[{j}]")) is not None
        ]
        if parts:
            turns.append(TurnIn("user" if role == "user" else "model", tuple(parts)))
    if not turns or turns[-1].role != "user":
        raise errors.InvalidArgument("input must end with user content", field="input")
    return tuple(turns)


def sampling_from_config(config: dict[str, Any] | None) -> SamplingParams:
    """`generation_config` (snake_case) → SamplingParams; thinking knobs are accepted and unused."""
    c = config or {}
    stops = c.get("stop_sequences") or []
    top_k = c.get("top_k")
    return SamplingParams(
        max_output_tokens=_opt_int(c.get("max_output_tokens"), "max_output_tokens"),
        temperature=c.get("temperature"),
        top_p=c.get("top_p"),
        top_k=_opt_int(top_k, "top_k"),
        seed=_opt_int(c.get("seed"), "seed"),
        stop_sequences=tuple([stops] if isinstance(stops, str) else stops),
    )


def _opt_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError) as exc:
        raise errors.InvalidArgument(
            f"generation_config.{name} must be a number", field=f"generation_config.{name}"
        ) from exc


def compact_for_storage(steps: list[dict[str, Any]], keep_bytes: int) -> list[dict[str, Any]]:
    """Steps with inline `data` over `keep_bytes` (base64 chars) dropped, to keep rows small."""
    out = []
    for step in steps:
        blocks = []
        for block in step.get("content", []):
            if isinstance(block, dict) and len(str(block.get("data") or "")) > keep_bytes:
                block = {k: v for k, v in block.items() if k != "data"}
                block["data_omitted"] = True
            blocks.append(block)
        out.append({**step, "content": blocks})
    return out


def constraint_from_format(response_format: Any, mime_type: Any = None) -> OutputConstraint | None:
    """`response_format` (`{type: "text", mime_type, schema}` or a list of them; the schema is
    JSON Schema) → the decoding constraint, like generateContent's responseMimeType/Schema.

    The deprecated top-level `response_mime_type` is used when no format gives one.
    """
    if response_format is None:
        return constraint_for(mime_type if isinstance(mime_type, str) else None, field="")
    formats = response_format if isinstance(response_format, list) else [response_format]
    texts = []
    for i, fmt in enumerate(formats):
        where = f"response_format[{i}]" if isinstance(response_format, list) else "response_format"
        if not isinstance(fmt, dict):
            raise errors.InvalidArgument("response_format entries must be objects", field=where)
        if fmt.get("type", "text") != "text":
            raise errors.InvalidArgument(
                f"response_format type {fmt.get('type')!r} is not supported; only text",
                field=f"{where}.type",
            )
        texts.append((where, fmt))
    if len(texts) != 1:
        raise errors.InvalidArgument(
            "give exactly one text response_format", field="response_format"
        )
    where, fmt = texts[0]
    mime = fmt.get("mime_type") or fmt.get("mimeType") or mime_type
    schema = fmt.get("schema", fmt.get("json_schema"))
    return constraint_for(
        mime if isinstance(mime, str) else None,
        None,
        schema,
        field=where,
        schema_field=f"{where}.schema",
    )
