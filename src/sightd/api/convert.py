"""Wire request → typed `GenerateInput`: roles, parts, base64, durations, generation config.

The same conversion serves generateContent, streamGenerateContent and countTokens; the
Interactions API (`sightd.api.interactions_convert`) shares `sampling_params`. Types and ranges
were checked by the wire models; what is left here is what needs more than one field.
"""

from __future__ import annotations

from sightd import errors
from sightd.api.functions import compact_json, function_decls, tool_choice
from sightd.api.wire import Content, GenerateContentRequest, GenerationConfig, SamplingConfig
from sightd.engine.base import OutputConstraint, SamplingParams
from sightd.engine.constrain import constraint_for
from sightd.media.b64 import decode_base64
from sightd.prompt import Role
from sightd.services.inputs import (
    FunctionCallIn,
    FunctionResponseIn,
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

# "function"/"tool": older clients send function results in a turn of their own.
_ROLES: dict[str, Role] = {
    "user": "user",
    "model": "model",
    "assistant": "model",
    "function": "user",
    "tool": "user",
}


def to_generate_input(req: GenerateContentRequest, model: str) -> GenerateInput:
    turns = tuple(_turn(c, f"contents[{i}]") for i, c in enumerate(req.contents))
    if not turns:
        raise errors.InvalidArgument("contents is not specified", field="contents")
    system = _system_text(req.system_instruction)
    config = req.generation_config or GenerationConfig()
    _refuse_unhonoured(req, config)
    tools = function_decls(req.tools)
    calling = req.tool_config.function_calling_config if req.tool_config else None
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
        tools=tools,
        tool_choice=tool_choice(calling, "tool_config.function_calling_config"),
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
        presence_penalty=config.presence_penalty,
        frequency_penalty=config.frequency_penalty,
        logprobs=_logprobs(config) if isinstance(config, GenerationConfig) else None,
    )


def _logprobs(config: GenerationConfig) -> int | None:
    """`SamplingParams.logprobs`: None unless `responseLogprobs`; then `logprobs` top
    candidates per step (0, the default: the chosen tokens only)."""
    if not config.response_logprobs:
        if config.logprobs is not None:
            raise errors.InvalidArgument(
                "logprobs is only valid with responseLogprobs: true.",
                field="generation_config.logprobs",
            )
        return None
    return config.logprobs or 0


def response_modalities(values: list[str] | None, field: str) -> None:
    """Refuse any output modality but text (this server writes text only); the SDKs send
    `TEXT` (generateContent) or `text` (Interactions), matched case-insensitively."""
    for i, value in enumerate(values or []):
        if str(value).upper() not in ("TEXT", "MODALITY_UNSPECIFIED"):
            raise errors.InvalidArgument(
                f"response modality {value!r} is not supported; this server answers with TEXT "
                "only.",
                field=f"{field}[{i}]",
            )


def _refuse_unhonoured(req: GenerateContentRequest, config: GenerationConfig) -> None:
    """Fields this server cannot honour are an error, never silently dropped."""
    response_modalities(config.response_modalities, "generation_config.response_modalities")
    if req.cached_content:
        # Gemini answers an unknown cache with 403 "CachedContent not found (or permission
        # denied)"; this server has no caches API, so every name is unknown: 404, as for files.
        raise errors.NotFound(
            f"CachedContent {req.cached_content!r} not found: this server has no context "
            "caches (cachedContent is not supported).",
            field="cached_content",
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
        elif part.function_call is not None:
            call = part.function_call
            if not call.name:
                raise errors.InvalidArgument(
                    "A functionCall needs the name of the function.",
                    field=f"{field}.function_call.name",
                )
            parts.append(FunctionCallIn(call.name, compact_json(call.args or {}), call.id))
        elif part.function_response is not None:
            response = part.function_response
            if not response.name:
                raise errors.InvalidArgument(
                    "A functionResponse needs the name of the function.",
                    field=f"{field}.function_response.name",
                )
            body = compact_json(response.response or {})
            parts.append(FunctionResponseIn(response.name, body, response.id))
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
