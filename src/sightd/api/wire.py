"""Wire models of the generateContent family, lenient the way protobuf JSON parsers are, and
the pieces the Interactions wire (`sightd.api.interactions_wire`) shares with it.

Every field is accepted in camelCase or snake_case (the Python SDK mixes them), integers may
arrive as `40.0` or `"40"`, durations as `"12.5s"`, a missing `role` means user, and unknown
fields are ignored. Wrong types and out-of-range values (see `sightd.api.scalars`) are a 400
naming the field in snake_case. Responses are built as plain dicts in camelCase by the routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from sightd import errors
from sightd.api.scalars import (
    DurationS,
    Finite,
    Int32,
    Int64,
    Penalty,
    PositiveInt32,
    Probability,
    StopSequences,
    Temperature,
    TopK,
    TopLogprobs,
    duration_seconds,
)

M = TypeVar("M", bound=BaseModel)


class Wire(BaseModel):
    """Base: either key spelling, extra keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        loc_by_alias=False,  # errors name fields in snake_case, whichever spelling came
        extra="ignore",
    )


def parse_duration_s(value: Any, field: str = "duration") -> float | None:
    """A protobuf Duration (`"12.5s"`, `"1250s"`), or a bare number of seconds."""
    try:
        return duration_seconds(value)
    except ValueError as exc:
        raise errors.InvalidArgument(f"Invalid duration at '{field}': {exc}", field=field) from exc


class Blob(Wire):
    data: str = ""
    mime_type: str | None = None
    display_name: str | None = None


class FileData(Wire):
    file_uri: str
    mime_type: str | None = None
    display_name: str | None = None


class VideoMetadata(Wire):
    start_offset: DurationS | None = None
    end_offset: DurationS | None = None
    fps: Finite | None = None


class PartMediaResolution(Wire):
    level: str | None = None
    num_tokens: Int32 | None = None


class FunctionCall(Wire):
    name: str = ""
    args: dict[str, Any] | None = None
    id: str | None = None


class FunctionResponse(Wire):
    name: str = ""
    response: dict[str, Any] | None = None
    id: str | None = None


class Part(Wire):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    video_metadata: VideoMetadata | None = None
    media_resolution: PartMediaResolution | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    executable_code: dict[str, Any] | None = None
    code_execution_result: dict[str, Any] | None = None


class Content(Wire):
    role: str | None = None
    parts: list[Part] = []


class ThinkingConfig(Wire):
    thinking_budget: Int32 | None = None
    include_thoughts: bool | None = None
    thinking_level: str | None = None


class SamplingConfig(Wire):
    """The sampling knobs both APIs' generation config share, with Gemini's ranges."""

    temperature: Temperature | None = None
    top_p: Probability | None = None
    top_k: TopK | None = None  # 0 means unset
    max_output_tokens: PositiveInt32 | None = None
    stop_sequences: StopSequences | None = None
    seed: Int64 | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None


class GenerationConfig(SamplingConfig):
    candidate_count: Int32 | None = None
    response_logprobs: bool | None = None
    logprobs: TopLogprobs | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: Any = None
    response_modalities: list[str] | None = None
    media_resolution: str | None = None
    thinking_config: ThinkingConfig | None = None


class FunctionDeclaration(Wire):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parameters_json_schema: Any = None
    response: dict[str, Any] | None = None
    response_json_schema: Any = None
    behavior: str | None = None


# Tool kinds besides functions, named so that a request using one is refused by name.
OTHER_TOOLS = (
    "google_search",
    "google_search_retrieval",
    "code_execution",
    "url_context",
    "retrieval",
    "computer_use",
    "file_search",
    "google_maps",
    "enterprise_web_search",
)


class Tool(Wire):
    function_declarations: list[FunctionDeclaration] | None = None
    google_search: Any = None
    google_search_retrieval: Any = None
    code_execution: Any = None
    url_context: Any = None
    retrieval: Any = None
    computer_use: Any = None
    file_search: Any = None
    google_maps: Any = None
    enterprise_web_search: Any = None


class FunctionCallingConfig(Wire):
    mode: str | None = None
    allowed_function_names: list[str] | None = None


class ToolConfig(Wire):
    function_calling_config: FunctionCallingConfig | None = None


class GenerateContentRequest(Wire):
    model: str | None = None
    contents: list[Content] = []
    system_instruction: Content | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: list[dict[str, Any]] | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None
    cached_content: str | None = None

    @field_validator("system_instruction", mode="before")
    @classmethod
    def _system_as_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"parts": [{"text": value}]}
        return value

    @field_validator("contents", mode="before")
    @classmethod
    def _single_content(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [value]
        return value


class CountTokensRequest(Wire):
    contents: list[Content] | None = None
    generate_content_request: GenerateContentRequest | None = None

    def as_generate(self) -> GenerateContentRequest:
        if self.generate_content_request is not None:
            return self.generate_content_request
        return GenerateContentRequest(contents=self.contents or [])


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """A pydantic error location as the request field: `contents[0].parts[1].text`."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_model(cls: type[M], payload: Any, where: str = "") -> M:
    """Validate `payload` as `cls` (found at `where` in the request), turning pydantic errors
    into an INVALID_ARGUMENT that names the first bad field."""
    if not isinstance(payload, dict):
        what = f"'{where}'" if where else "the request body"
        raise errors.InvalidArgument(f"Invalid value at {what}: expected an object.", field=where)
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = field_path(first["loc"], where)
        message = f"Invalid value at '{loc}': {first['msg']}" if loc else first["msg"]
        raise errors.InvalidArgument(message, field=loc) from exc
