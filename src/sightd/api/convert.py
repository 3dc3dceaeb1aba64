"""Wire request → typed `GenerateInput`: roles, parts, base64, durations, generation config.

The same conversion serves generateContent, streamGenerateContent and countTokens; the
Interactions API (`sightd.api.interactions_convert`) shares `sampling_params`. Types and ranges
were checked by the wire models; what is left here is what needs more than one field.
"""

from __future__ import annotations

from sightd import errors
from sightd.api.wire import Content, GenerateContentRequest, GenerationConfig, SamplingConfig
from sightd.engine.base import OutputConstraint, SamplingParams
from sightd.engine.constrain import constraint_for
from sightd.media.b64 import decode_base64
from sightd.prompt import Role
from sightd.services.inputs import (
    GenerateInput,
    InlineMedia,
    MediaIn,
    PartIn,
    TextIn,
    TurnIn,
    VideoOptions,
    media_ref_for_uri,
    resolution_level,
)

_ROLES: dict[str, Role] = {"user": "user", "model": "model", "assistant": "model"}


def to_generate_input(req: GenerateContentRequest, model: str) -> GenerateInput:
    turns = tuple(_turn(c, f"contents[{i}]") for i, c in enumerate(req.contents))
    if not turns:
        raise errors.InvalidArgument("contents is not specified", field="contents")
    system = _system_text(req.system_instruction)
    config = req.generation_config or GenerationConfig()
    if req.tools:
        raise errors.InvalidArgument(
            "tools (function calling, search, code execution) are not supported by this server.",
            field="tools",
        )
    return GenerateInput(
        model=model,
        turns=turns,
        system=system,
        params=sampling_params(
            config,
            constraint_for(
                config.response_mime_type, config.response_schema, config.response_json_schema
            ),
        ),
        candidate_count=config.candidate_count or 1,
        response_mime_type=config.response_mime_type,
        response_schema=config.response_schema,
        media_resolution=resolution_level(config.media_resolution),
    )


def sampling_params(
    config: SamplingConfig, constraint: OutputConstraint | None = None
) -> SamplingParams:
    """The engine's sampling knobs from either API's (already range-checked) config."""
    return SamplingParams(
        max_output_tokens=config.max_output_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        seed=config.seed,
        stop_sequences=tuple(s for s in (config.stop_sequences or []) if s),
        constraint=constraint,
    )


def _system_text(content: Content | None) -> str | None:
    if content is None:
        return None
    texts = [p.text for p in content.parts if p.text]
    return "\n".join(texts) or None


def _turn(content: Content, where: str) -> TurnIn:
    role_name = (content.role or "user").lower()
    role = _ROLES.get(role_name)
    if role is None:
        raise errors.InvalidArgument(
            f"Please use a valid role: user, model (got {content.role!r}).", field=f"{where}.role"
        )
    if not content.parts:
        raise errors.InvalidArgument(f"{where}.parts must not be empty", field=f"{where}.parts")
    parts: list[PartIn] = []
    for j, part in enumerate(content.parts):
        field = f"{where}.parts[{j}]"
        if part.thought:
            continue  # earlier turns' thoughts are context for Gemini only
        if part.text is not None:
            parts.append(TextIn(part.text))
        elif part.inline_data is not None:
            data = decode_base64(part.inline_data.data, f"{field}.inline_data.data")
            parts.append(
                MediaIn(
                    InlineMedia(data, part.inline_data.mime_type),
                    f"{field}.inline_data",
                    _video(part, field),
                    _part_resolution(part),
                )
            )
        elif part.file_data is not None:
            parts.append(
                MediaIn(
                    media_ref_for_uri(part.file_data.file_uri, part.file_data.mime_type),
                    f"{field}.file_data",
                    _video(part, field),
                    _part_resolution(part),
                )
            )
        elif part.function_call or part.function_response:
            raise errors.InvalidArgument(
                "function calling is not supported by this server.", field=field
            )
        else:
            raise errors.InvalidArgument(
                "Part must have one data field: text, inline_data or file_data.", field=field
            )
    return TurnIn(role, tuple(parts))


def _video(part: object, field: str) -> VideoOptions | None:
    meta = getattr(part, "video_metadata", None)
    if meta is None:
        return None
    fps = meta.fps
    if fps is not None and not 0 < fps <= 24:
        raise errors.InvalidArgument(
            f"fps must be in (0, 24], got {fps}.", field=f"{field}.video_metadata.fps"
        )
    return VideoOptions(start_s=meta.start_offset, end_s=meta.end_offset, fps=fps)


def _part_resolution(part: object) -> str | None:
    res = getattr(part, "media_resolution", None)
    return resolution_level(res.level) if res is not None else None
