"""`:generateContent`, `:streamGenerateContent` (SSE) and `:countTokens` on `/models/{model}`."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from sightd import errors
from sightd.api import deps
from sightd.api.auth import Caller, caller
from sightd.api.body import parse_json_body, read_capped
from sightd.api.convert import to_generate_input
from sightd.api.disconnect import unless_disconnected
from sightd.api.errors import error_body
from sightd.api.json import json_response, sse_event
from sightd.api.logprobs import candidate_logprobs, chunk_logprobs
from sightd.api.wire import CountTokensRequest, GenerateContentRequest, parse_model
from sightd.engine.base import Completion
from sightd.prompt import FunctionCallPart
from sightd.services.generate import (
    CandidateDelta,
    CandidateDone,
    GenerateResult,
    StreamItem,
    StreamStart,
)
from sightd.services.materialize import TokenUsage

router = APIRouter()

MODEL_PROMPT_TOKENS_HEADER = "x-sightd-model-prompt-tokens"
"""generateContent's response header: the prompt's length in the served model's own tokens."""
MODEL_PROMPT_TOKENS_FIELD = "sightdModelPromptTokenCount"
"""The same count in `usageMetadata` (every response that knows it, streamed ones on each
candidate's last event): an extension field. Gemini's `promptTokenCount` keeps Gemini's rule
(what `countTokens` says); this is what the model actually read, chat template and image/video
tokens at the size the model saw them. The Python SDK drops unknown fields (it reads the
header through `sdk_http_response.headers`); the JS SDK keeps `usageMetadata` whole."""

_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


@router.post("/models/{target:path}")
async def model_method(target: str, request: Request, who: Caller = Depends(caller)) -> Response:
    model, _, method = target.partition(":")
    if method not in _METHODS:
        raise errors.NotFound(f"Unknown method {method!r} on models/{model}.")
    deps.catalog(request).resolve(model)  # unknown model → 404 before reading media
    raw = await read_capped(request, deps.settings(request).max_request_bytes)
    payload = parse_json_body(raw)
    service = deps.generate_service(request)
    if method == "countTokens":
        req = parse_model(CountTokensRequest, payload).as_generate()
        usage = await service.count_tokens(who.owner, to_generate_input(req, model))
        return json_response({"totalTokens": usage.total, "promptTokensDetails": usage.details()})
    inp = to_generate_input(parse_model(GenerateContentRequest, payload), model)
    if method == "generateContent":
        result = await unless_disconnected(request, service.generate(who.owner, inp))
        headers = None
        if result.model_prompt_tokens is not None:
            headers = {MODEL_PROMPT_TOKENS_HEADER: str(result.model_prompt_tokens)}
        return json_response(response_json(result, _response_id()), headers)
    items = await service.stream(who.owner, inp)
    return StreamingResponse(_sse(items, _response_id()), media_type="text/event-stream")


def _response_id() -> str:
    return secrets.token_urlsafe(16)


def usage_json(
    usage: TokenUsage, output_tokens: int | None, model_prompt_tokens: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "promptTokenCount": usage.total,
        "totalTokenCount": usage.total + (output_tokens or 0),
        "promptTokensDetails": usage.details(),
    }
    if output_tokens is not None:
        body["candidatesTokenCount"] = output_tokens
        body["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": output_tokens}]
    if model_prompt_tokens is not None:
        body[MODEL_PROMPT_TOKENS_FIELD] = model_prompt_tokens
    return body


def _candidate(
    index: int, text: str, finish: str | None, calls: tuple[FunctionCallPart, ...] = ()
) -> dict[str, Any]:
    """One candidate: its text (a part even when empty, unless it only calls functions),
    then a `functionCall` part per call."""
    parts: list[dict[str, Any]] = [{"text": text}] if text or not calls else []
    parts += [
        {"functionCall": {"id": c.id, "name": c.name, "args": json.loads(c.args_json)}}
        for c in calls
    ]
    cand: dict[str, Any] = {
        "content": {"parts": parts, "role": "model"},
        "index": index,
    }
    if finish:
        cand["finishReason"] = finish
    return cand


def response_json(result: GenerateResult, response_id: str) -> dict[str, Any]:
    return {
        "candidates": [
            _candidate(i, c.text, c.finish_reason, c.calls) | candidate_logprobs(c.logprobs)
            for i, c in enumerate(result.candidates)
        ],
        "usageMetadata": usage_json(result.usage, result.output_tokens, result.model_prompt_tokens),
        "modelVersion": result.model_version,
        "responseId": response_id,
    }


async def _sse(items: AsyncIterator[StreamItem], response_id: str) -> AsyncIterator[bytes]:
    """Each event a whole GenerateContentResponse carrying only new text (wire §5).

    One delta is held back so the candidate's last event can carry its finishReason; an error
    mid-stream becomes a single `{"error": …}` event and ends the stream.
    """
    usage = TokenUsage()
    version = ""
    produced = 0
    held: CandidateDelta | None = None
    sent: dict[int, int] = {}  # per candidate, how many tokens' logprobs went out already

    def event(index: int, text: str, done: Completion | None, extra: dict[str, Any]) -> bytes:
        body: dict[str, Any] = {
            "candidates": [
                _candidate(
                    index, text, done.finish_reason if done else None, done.calls if done else ()
                )
                | extra
            ],
            "usageMetadata": usage_json(
                usage, produced if done else None, done.model_prompt_tokens if done else None
            ),
            "modelVersion": version,
            "responseId": response_id,
        }
        return sse_event(body)

    try:
        async for item in items:
            if isinstance(item, StreamStart):
                usage, version = item.usage, item.model_version
            elif isinstance(item, CandidateDelta):
                if held is not None:
                    steps = held.delta.logprobs
                    sent[held.index] = sent.get(held.index, 0) + len(steps)
                    yield event(held.index, held.delta.text, None, chunk_logprobs(steps))
                held = item
            elif isinstance(item, CandidateDone):
                produced += item.completion.output_tokens
                text = held.delta.text if held is not None else ""
                whole = item.completion.logprobs  # the held text's tokens and any after it
                rest = whole[sent.get(item.index, 0) :] if whole is not None else None
                yield event(item.index, text, item.completion, candidate_logprobs(rest, whole))
                held = None
    except errors.SightdError as exc:
        yield sse_event(error_body(exc))
    except Exception as exc:  # the stream has started: report in-band, never drop silently
        yield sse_event(error_body(errors.Internal(f"Internal error: {type(exc).__name__}")))
