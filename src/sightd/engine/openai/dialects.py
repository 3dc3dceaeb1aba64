"""How each OpenAI-compatible server wants the parts of a request OpenAI's API leaves open.

Every server here takes `/v1/chat/completions` with text and `image_url` data URLs, `stop`,
`seed`, `max_tokens` and `stream` (+ `stream_options.include_usage`). They differ in sampling
extras, structured outputs and video — one row per server, written from their documentation
(vLLM and SGLang cannot run on sightd's CI machine; llama.cpp's server and `transformers serve`
are exercised by the test suite):

| server | top_k | JSON schema | video |
|---|---|---|---|
| vLLM | top-level `top_k` | `response_format` json_schema | `video_url` data URL (1) |
| SGLang | top-level `top_k` | `response_format` json_schema | `video_url` data URL |
| llama.cpp | top-level `top_k` | `response_format` json_schema (GBNF) | none |
| Ollama | not in its OpenAI API | `response_format` json_schema | none |
| transformers serve | `generation_config` | none (free text, validated after) | none |
| other OpenAI | none | `response_format` json_schema | none |

(1) with `mm_processor_kwargs.fps` and `media_io_kwargs.video.num_frames`, so vLLM takes every
frame sightd sampled and knows their rate.

`text/x.enum` is a JSON schema too (a string enum): every server that enforces schemas then
enforces the choice, and sightd unwraps the quoted string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sightd.engine.base import ChoiceOutput, JsonOutput, OutputConstraint, SamplingParams

Kind = Literal["vllm", "sglang", "llamacpp", "ollama", "transformers", "openai"]


@dataclass(frozen=True)
class Dialect:
    kind: Kind
    top_k: Literal["body", "generation_config", "none"]
    json_schema: bool  # enforces response_format json_schema during decoding
    native_video: bool  # takes `video_url` parts
    fps_kwargs: bool  # vLLM's mm_processor_kwargs / media_io_kwargs for a sampled video

    def sampling_fields(self, params: SamplingParams, max_tokens: int) -> dict[str, Any]:
        """Body fields for the request's sampling knobs (None: the server's default)."""
        body: dict[str, Any] = {"max_tokens": max_tokens}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop_sequences:
            body["stop"] = list(params.stop_sequences)
        if params.top_k is not None and params.top_k > 0:
            if self.top_k == "body":
                body["top_k"] = params.top_k
            elif self.top_k == "generation_config":
                body["generation_config"] = json.dumps({"top_k": params.top_k})
        return body

    def constraint_fields(self, constraint: OutputConstraint | None) -> dict[str, Any]:
        """`response_format` for JSON mode and enums, where the server enforces schemas."""
        if constraint is None or not self.json_schema:
            return {}
        return {"response_format": response_format(constraint)}

    def video_fields(self, fps: float, n_frames: int) -> dict[str, Any]:
        """Tell the server the clip was already sampled: take all `n_frames`, at `fps`."""
        if not self.fps_kwargs:
            return {}
        return {
            "mm_processor_kwargs": {"fps": fps},
            "media_io_kwargs": {"video": {"num_frames": n_frames}},
        }


def constraint_schema(constraint: OutputConstraint) -> dict[str, Any]:
    """The JSON Schema an answer must satisfy (an enum answer is a JSON string)."""
    if isinstance(constraint, ChoiceOutput):
        return {"type": "string", "enum": list(constraint.choices)}
    assert isinstance(constraint, JsonOutput)
    if constraint.schema_json is None:
        return {}
    schema: dict[str, Any] = json.loads(constraint.schema_json)
    return schema


def response_format(constraint: OutputConstraint) -> dict[str, Any]:
    if isinstance(constraint, JsonOutput) and constraint.schema_json is None:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": constraint_schema(constraint), "strict": True},
    }


DIALECTS: dict[str, Dialect] = {
    "vllm": Dialect("vllm", "body", json_schema=True, native_video=True, fps_kwargs=True),
    "sglang": Dialect("sglang", "body", json_schema=True, native_video=True, fps_kwargs=False),
    "llamacpp": Dialect("llamacpp", "body", json_schema=True, native_video=False, fps_kwargs=False),
    "ollama": Dialect("ollama", "none", json_schema=True, native_video=False, fps_kwargs=False),
    "transformers": Dialect(
        "transformers", "generation_config", json_schema=False, native_video=False, fps_kwargs=False
    ),
    "openai": Dialect("openai", "none", json_schema=True, native_video=False, fps_kwargs=False),
}


def detect_kind(models_body: Any, server_header: str | None = None) -> Kind:
    """The server's kind from its `/models` answer (`owned_by`) and `Server` header."""
    owners: set[str] = set()
    if isinstance(models_body, dict):
        for entry in models_body.get("data") or []:
            if isinstance(entry, dict) and isinstance(entry.get("owned_by"), str):
                owners.add(entry["owned_by"].lower())
        if "models" in models_body and any(
            isinstance(m, dict) and "model" in m for m in models_body["models"] or []
        ):
            owners.add("llamacpp")  # llama-server lists {"models": [{"model": ...}]} too
    header = (server_header or "").lower()
    for kind in ("vllm", "sglang", "llamacpp"):
        if kind in owners or kind in header:
            return kind  # type: ignore[return-value]
    if "ollama" in owners or "library" in owners or "ollama" in header:
        return "ollama"
    if "llama.cpp" in header:
        return "llamacpp"
    return "openai"
