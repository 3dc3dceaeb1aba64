"""How each OpenAI-compatible server wants the parts of a request OpenAI's API leaves open.

Every server here takes `/v1/chat/completions` with text and `image_url` data URLs, `stop`,
`seed`, `max_tokens` and `stream` (+ `stream_options.include_usage`). They differ in sampling
extras, structured outputs and video — one row per server, written from their documentation
(vLLM and SGLang cannot run on sightd's CI machine; llama.cpp's server and `transformers serve`
are exercised by the test suite):

| server | top_k | stop | JSON schema (json_schema) | video | penalties | logprobs |
|---|---|---|---|---|---|---|
| vLLM | top-level `top_k` | yes | `response_format` | `video_url` data URL (1) | yes | yes |
| SGLang | top-level `top_k` | yes | `response_format` | `video_url` data URL | yes | yes |
| llama.cpp | top-level `top_k` | yes | `response_format` (GBNF) | none | yes | yes |
| Ollama | not in its OpenAI API | yes | `response_format` | none | yes | no (5) |
| transformers serve | no (2) | no (3) | ignored: checked after | URLs (4) | no (6) | no (6) |
| other OpenAI | none | yes | `response_format` | none | yes | yes |

(1) with `mm_processor_kwargs.fps` and `media_io_kwargs.video.num_frames`, so vLLM takes every
frame sightd sampled and knows their rate.

(2) it refuses unknown fields; `generation_config` would replace the model's whole config.
(3) `stop` fails for VLM processors (transformers 5.24): sightd cuts the text itself, and a
    stream is closed at the stop sequence, which cancels the upstream generation.
(4) a data URL is refused, so videos go to it as frames.
(5) not documented for its OpenAI API: a request for logprobs is a 400 rather than a silent drop.
(6) it refuses `logprobs`, `top_logprobs` and `presence_penalty`, and reads `frequency_penalty`
    as a multiplicative repetition penalty: both are a 400 naming the field.

Penalties go upstream as `presence_penalty` / `frequency_penalty` (OpenAI's semantics, which
sightd's in-process engine shares); logprobs as `logprobs: true` + `top_logprobs`, read back from
`choices[].logprobs.content[]` (`logprobs_of`).

`text/x.enum` uses the server's bare-choice extension (vLLM `structured_outputs.choice`,
SGLang `regex`, llama.cpp `grammar`), elsewhere a string-enum JSON schema whose quoted answer
sightd unwraps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sightd.engine.base import (
    ChoiceOutput,
    JsonOutput,
    OutputConstraint,
    SamplingParams,
    StepLogprobs,
    TokenLogprob,
)
from sightd.errors import InvalidArgument

Kind = Literal["vllm", "sglang", "llamacpp", "ollama", "transformers", "openai"]


@dataclass(frozen=True)
class Dialect:
    kind: Kind
    top_k: bool  # takes a top-level `top_k`
    stop: bool  # applies `stop` itself (else sightd cuts the text)
    json_schema: bool  # enforces response_format json_schema during decoding
    native_video: bool  # takes `video_url` parts
    fps_kwargs: bool  # vLLM's mm_processor_kwargs / media_io_kwargs for a sampled video
    penalties: bool = True  # OpenAI's presence_penalty / frequency_penalty
    logprobs: bool = True  # OpenAI's logprobs / top_logprobs on chat completions

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
        for name, value in (
            ("presence_penalty", params.presence_penalty),
            ("frequency_penalty", params.frequency_penalty),
        ):
            if value is None:
                continue
            if not self.penalties:
                if value == 0:
                    continue
                raise InvalidArgument(
                    f"The upstream model server ({self.kind}) cannot apply {name}.",
                    field=f"generation_config.{name}",
                )
            body[name] = value
        if params.logprobs is not None:
            if not self.logprobs:
                raise InvalidArgument(
                    f"The upstream model server ({self.kind}) cannot return log probabilities.",
                    field="generation_config.response_logprobs",
                )
            body["logprobs"] = True
            if params.logprobs > 0:
                body["top_logprobs"] = params.logprobs
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


def logprobs_of(choice: Any, top_n: int) -> list[StepLogprobs]:
    """A chat choice's (or stream chunk's) `logprobs.content[]` as steps: each entry's token and
    `logprob`, its `top_logprobs` best first (at most `top_n`); ids where the server gives them
    (llama.cpp's `id`). Entries that are not well-formed are skipped."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    steps: list[StepLogprobs] = []
    for entry in content if isinstance(content, list) else []:
        chosen = _token_logprob(entry)
        if chosen is None:
            continue
        tops = [t for e in entry.get("top_logprobs") or [] if (t := _token_logprob(e))]
        tops.sort(key=lambda t: t.log_probability, reverse=True)
        steps.append(StepLogprobs(chosen, tuple(tops[:top_n])))
    return steps


def _token_logprob(entry: Any) -> TokenLogprob | None:
    if not isinstance(entry, dict):
        return None
    token, value = entry.get("token"), entry.get("logprob")
    if not isinstance(token, str) or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    token_id = entry.get("id", entry.get("token_id"))
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        token_id = None
    return TokenLogprob(token, token_id, max(float(value), -3.4028234663852886e38))


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
    return Dialect(
        kind,
        top_k,
        stop,
        json_schema,
        native_video=video,
        fps_kwargs=kind == "vllm",
        penalties=kind != "transformers",
        logprobs=kind not in ("transformers", "ollama"),
    )


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
