"""Interactions wire (`sightd.api.interactions_wire`) → typed `InteractionInput`: steps of text and
media blocks (base64 decoded), the sampling knobs shared with generateContent, and the decoding
constraint of `response_format`."""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_camel

from sightd import errors
from sightd.api.convert import response_modalities, sampling_params
from sightd.api.interactions_functions import function_block, tool_choice, tools_declared
from sightd.api.interactions_wire import (
    FUNCTION_STEPS,
    MEDIA_BLOCKS,
    SKIPPED_BLOCKS,
    SKIPPED_STEPS,
    TEXT_BLOCK,
    Block,
    ParsedInteraction,
    ResponseFormat,
    WireStep,
    parse_interaction,
)
from sightd.api.wire import SamplingConfig
from sightd.engine.base import OutputConstraint
from sightd.engine.constrain import constraint_for
from sightd.media.b64 import decode_base64
from sightd.services.inputs import BlockIn, InteractionInput, StepIn, StepKind, resolution_level
from sightd.services.models import strip_models_prefix

ECHOED = (
    "system_instruction",
    "generation_config",
    "previous_interaction_id",
    "response_format",
    "tools",
)
"""Request fields the Interaction repeats back as they came."""


def to_interaction_input(payload: Any) -> InteractionInput:
    """A `POST /interactions` body → InteractionInput; InvalidArgument names the bad field."""
    parsed = parse_interaction(payload)
    req = parsed.request
    if req.agent and not req.model:
        raise errors.InvalidArgument("agents are not supported by this server", field="agent")
    if not req.model:
        raise errors.InvalidArgument("model is required", field="model")
    response_modalities(req.response_modalities, "response_modalities")
    steps = tuple(step for ws in parsed.steps if (step := _step(ws)) is not None)
    constraint = constraint_from_formats(parsed, req.response_mime_type)
    config = req.generation_config
    tools, choice = tool_choice(
        tools_declared(parsed.tools), config.tool_choice if config else None
    )
    return InteractionInput(
        model=strip_models_prefix(req.model),
        steps=steps,
        system=req.system_instruction or None,
        params=sampling_params(req.generation_config or SamplingConfig(), constraint),
        previous_interaction_id=req.previous_interaction_id or None,
        stream=bool(req.stream),
        background=bool(req.background),
        store=req.store is not False,
        echo=_echo(payload),
        tools=tools,
        tool_choice=choice,
    )


def _echo(payload: dict[str, Any]) -> dict[str, Any]:
    """The ECHOED fields as the client sent them (either key spelling)."""
    out = {}
    for key in ECHOED:
        value = payload.get(key, payload.get(to_camel(key)))
        if value is not None:
            out[key] = value
    return out


_KINDS: dict[str, StepKind] = {
    "model_output": "model_output",
    "function_call": "function_call",
    "function_result": "function_result",
}


def _step(step: WireStep) -> StepIn | None:
    if step.type in SKIPPED_STEPS:
        return None
    kind: StepKind = _KINDS.get(step.type, "user_input")
    blocks = tuple(b for block, where in step.content if (b := _block(block, where)) is not None)
    return StepIn(kind, blocks)


def _block(block: Block, where: str) -> BlockIn | None:
    kind = block.type
    if kind == TEXT_BLOCK:
        return BlockIn(TEXT_BLOCK, text=block.text or "")
    if kind in MEDIA_BLOCKS:
        mime, level = block.mime_type or None, resolution_level(block.resolution)
        if block.data:
            data = decode_base64(block.data, f"{where}.data")
            return BlockIn(kind, data=data, mime_type=mime, resolution=level)
        if block.data_omitted:
            return None  # stored history whose large inline media were not kept
        if block.uri:
            return BlockIn(kind, uri=block.uri, mime_type=mime, resolution=level)
        raise errors.InvalidArgument(f"a {kind} block needs `data` or `uri`", field=where)
    if kind in FUNCTION_STEPS:
        return function_block(block, where)
    if kind in SKIPPED_BLOCKS:
        return None
    raise errors.InvalidArgument(
        f"content block type {kind!r} is not supported; use text, {', '.join(MEDIA_BLOCKS)}, "
        f"{', '.join(FUNCTION_STEPS)}",
        field=f"{where}.type",
    )


def constraint_from_formats(
    parsed: ParsedInteraction, mime_type: str | None = None
) -> OutputConstraint | None:
    """`response_format` (`{type: "text", mime_type, schema}` or a list of them; the schema is
    JSON Schema) → the decoding constraint, like generateContent's responseMimeType/Schema.

    The deprecated top-level `response_mime_type` is used when no format gives one.
    """
    if not parsed.formats:
        if parsed.request.response_format is not None:  # an empty list
            raise errors.InvalidArgument(
                "give exactly one text response_format", field="response_format"
            )
        return constraint_for(mime_type, field="")
    texts: list[tuple[ResponseFormat, str]] = []
    for fmt, where in parsed.formats:
        if fmt.type != "text":
            raise errors.InvalidArgument(
                f"response_format type {fmt.type!r} is not supported; only text",
                field=f"{where}.type",
            )
        texts.append((fmt, where))
    if len(texts) != 1:
        raise errors.InvalidArgument(
            "give exactly one text response_format", field="response_format"
        )
    fmt, where = texts[0]
    return constraint_for(
        fmt.mime_type or mime_type,
        None,
        fmt.schema_,
        field=where,
        schema_field=f"{where}.schema",
    )
