"""How each OpenAI-compatible server wants the parts of a request OpenAI's API leaves open.

Every server here takes `/v1/chat/completions` with text and `image_url` data URLs, `stop`,
`seed`, `max_tokens` and `stream` (+ `stream_options.include_usage`). They differ in sampling
extras, structured outputs and video — one row per server, written from their documentation
(vLLM and SGLang cannot run on sightd's CI machine; llama.cpp's server and `transformers serve`
are exercised by the test suite):

| server | top_k | stop | JSON schema | video |
|---|---|---|---|---|
| vLLM | top-level `top_k` | yes | `response_format` json_schema | `video_url` data URL (1) |
| SGLang | top-level `top_k` | yes | `response_format` json_schema | `video_url` data URL |
| llama.cpp | top-level `top_k` | yes | `response_format` json_schema (GBNF) | none |
| Ollama | not in its OpenAI API | yes | `response_format` json_schema | none |
| transformers serve | no (2) | no (3) | ignored: validated after | paths/URLs only (4) |
| other OpenAI | none | yes | `response_format` json_schema | none |

(1) with `mm_processor_kwargs.fps` and `media_io_kwargs.video.num_frames`, so vLLM takes every
frame sightd sampled and knows their rate.

(2) it refuses unknown fields; `generation_config` would replace the model's whole config.
(3) `stop` fails for VLM processors (transformers 5.24): sightd cuts the text itself, and a
    stream is closed at the stop sequence, which cancels the upstream generation.
(4) a data URL is refused, so videos go to it as frames.

`text/x.enum` uses the server's bare-choice extension (vLLM `structured_outputs.choice`,
SGLang `regex`, llama.cpp `grammar`), elsewhere a string-enum JSON schema whose quoted answer
sightd unwraps.
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
    top_k: bool  # takes a top-level `top_k`
    stop: bool  # applies `stop` itself (else sightd cuts the text)
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
        if params.stop_sequences and self.stop:
            body["stop"] = list(params.stop_sequences)
        if params.top_k is not None and params.top_k > 0 and self.top_k:
            body["top_k"] = params.top_k
        return body

    def constraint_fields(self, constraint: OutputConstraint | None) -> dict[str, Any]:
        """`response_format` for JSON mode, where the server enforces schemas; an enum as the
        server's bare-choice extension where it has one (no quotes, no whitespace to spend
        the token budget on), else as a string-enum schema."""
        if constraint is None or not self.json_schema:
            return {}
        if isinstance(constraint, ChoiceOutput):
            choices = list(constraint.choices)
            if self.kind == "vllm":
                return {"structured_outputs": {"choice": choices}}
            if self.kind == "sglang":
                return {"regex": "|".join(_regex_escape(c) for c in choices)}
            if self.kind == "llamacpp":
                return {"grammar": "root ::= " + " | ".join(_gbnf_string(c) for c in choices)}
        return {"response_format": response_format(constraint)}

    def video_fields(self, fps: float, n_frames: int) -> dict[str, Any]:
        """Tell the server the clip was already sampled: take all `n_frames`, at `fps`."""
        if not self.fps_kwargs:
            return {}
        return {
            "mm_processor_kwargs": {"fps": fps},
            "media_io_kwargs": {"video": {"num_frames": n_frames}},
        }


def _gbnf_string(text: str) -> str:
    """A GBNF string literal (llama.cpp's grammar format)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _regex_escape(text: str) -> str:
    import re

    return re.escape(text)


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


def _dialect(kind: Kind, top_k: bool, stop: bool, json_schema: bool, video: bool) -> Dialect:
    return Dialect(kind, top_k, stop, json_schema, native_video=video, fps_kwargs=kind == "vllm")


DIALECTS: dict[str, Dialect] = {
    "vllm": _dialect("vllm", top_k=True, stop=True, json_schema=True, video=True),
    "sglang": _dialect("sglang", top_k=True, stop=True, json_schema=True, video=True),
    "llamacpp": _dialect("llamacpp", top_k=True, stop=True, json_schema=True, video=False),
    "ollama": _dialect("ollama", top_k=False, stop=True, json_schema=True, video=False),
    "transformers": _dialect(
        "transformers", top_k=False, stop=False, json_schema=False, video=False
    ),
    "openai": _dialect("openai", top_k=False, stop=True, json_schema=True, video=False),
}


def detect_kind(models_body: Any, server_header: str | None = None) -> Kind:
    """The server's kind from its `/models` answer (`owned_by`) and `Server` header."""
    owners: set[str] = set()
    if isinstance(models_body, dict):
        for entry in models_body.get("data") or []:
            if isinstance(entry, dict) and isinstance(entry.get("owned_by"), str):
                owners.add(entry["owned_by"].lower())
                if entry["owned_by"] == "local" and isinstance(entry.get("status"), dict):
                    owners.add("transformers")  # `transformers serve` lists load status
        if "models" in models_body and any(
            isinstance(m, dict) and "model" in m for m in models_body["models"] or []
        ):
            owners.add("llamacpp")  # llama-server lists {"models": [{"model": ...}]} too
    header = (server_header or "").lower()
    for kind in ("vllm", "sglang", "llamacpp", "transformers"):
        if kind in owners or kind in header:
            return kind  # type: ignore[return-value]
    if "ollama" in owners or "library" in owners or "ollama" in header:
        return "ollama"
    if "llama.cpp" in header:
        return "llamacpp"
    return "openai"
