"""Wire models of the generateContent family, lenient the way protobuf JSON parsers are.

Every field is accepted in camelCase or snake_case (the Python SDK mixes them), integers may
arrive as `40.0` or `"40"`, durations as `"12.5s"`, a missing `role` means user, and unknown
fields are ignored. Responses are built as plain dicts in camelCase by the routes.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from sightd import errors

M = TypeVar("M", bound=BaseModel)


class Wire(BaseModel):
    """Base: either key spelling, extra keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
    )


_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d*)?|-?\.\d+)\s*s?\s*$")


def parse_duration_s(value: Any, field: str = "duration") -> float | None:
    """A protobuf Duration (`"12.5s"`, `"1250s"`), or a bare number of seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):  # {"seconds": .., "nanos": ..}
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1))
    raise errors.InvalidArgument(f"Invalid duration at '{field}': {value!r}", field=field)


class Blob(Wire):
    data: str = ""
    mime_type: str | None = None
    display_name: str | None = None


class FileData(Wire):
    file_uri: str
    mime_type: str | None = None
    display_name: str | None = None


class VideoMetadata(Wire):
    start_offset: Any = None
    end_offset: Any = None
    fps: float | None = None


class PartMediaResolution(Wire):
    level: str | None = None
    num_tokens: int | None = None


class Part(Wire):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    video_metadata: VideoMetadata | None = None
    media_resolution: PartMediaResolution | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    function_call: dict[str, Any] | None = None
    function_response: dict[str, Any] | None = None
    executable_code: dict[str, Any] | None = None
    code_execution_result: dict[str, Any] | None = None


class Content(Wire):
    role: str | None = None
    parts: list[Part] = []


class ThinkingConfig(Wire):
    thinking_budget: int | None = None
    include_thoughts: bool | None = None
    thinking_level: str | None = None


class GenerationConfig(Wire):
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_logprobs: bool | None = None
    logprobs: int | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: Any = None
    response_modalities: list[str] | None = None
    media_resolution: str | None = None
    thinking_config: ThinkingConfig | None = None

    @field_validator("stop_sequences", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class GenerateContentRequest(Wire):
    model: str | None = None
    contents: list[Content] = []
    system_instruction: Content | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_config: dict[str, Any] | None = None
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


def parse_json_body(raw: bytes) -> Any:
    """Strict JSON, with the error a Gemini client expects on garbage."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.InvalidArgument(f"Invalid JSON payload received. {exc}") from exc


def parse_model(cls: type[M], payload: Any) -> M:
    """Validate `payload` as `cls`, turning pydantic errors into INVALID_ARGUMENT."""
    if not isinstance(payload, dict):
        raise errors.InvalidArgument("Invalid JSON payload received. Expected an object.")
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise errors.InvalidArgument(
            f"Invalid value at '{loc}': {first['msg']}", field=loc
        ) from exc
