"""A bounded, seeded fuzz of the request parsers over real HTTP: valid bodies of each route with
wrong types, NaN/Infinity/huge numbers, deep and wrong nesting spliced in. Zero 5xx (in-band
stream errors included), and every 4xx is the Gemini envelope; every INVALID_ARGUMENT names
what was wrong in a google.rpc.BadRequest detail (issue: Hardening)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.media_factory import image_bytes

pytestmark = pytest.mark.slow

EXAMPLES = 2200  # one request each
PNG = base64.b64encode(image_bytes(16, 16, "PNG")).decode()
RAW_HUGE, RAW_DEEP = "\x00huge\x00", "\x00deep\x00"  # spliced in after json.dumps
STATUSES = {
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "OUT_OF_RANGE",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "ABORTED",
    "RESOURCE_EXHAUSTED",
    "CANCELLED",
}
KEYS = [
    "topK", "top_k", "topP", "top_p", "temperature", "seed", "maxOutputTokens",
    "max_output_tokens", "stopSequences", "stop_sequences", "candidateCount", "videoMetadata",
    "video_metadata", "startOffset", "end_offset", "fps", "inlineData", "inline_data", "data",
    "mimeType", "mime_type", "fileData", "fileUri", "text", "parts", "role", "contents",
    "generationConfig", "generation_config", "systemInstruction", "system_instruction",
    "input", "type", "content", "uri", "resolution", "response_format", "schema",
    "responseSchema", "responseMimeType", "thinkingConfig", "thinkingBudget",
    "previous_interaction_id", "stream", "store", "model", "agent", "mediaResolution",
    "generateContentRequest", "data_omitted", "seconds", "nanos",
]  # fmt: skip


def _generate_body(data: st.DataObject) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": "What is this?"}]
    if data.draw(st.booleans()):
        parts.insert(0, {"inlineData": {"data": PNG, "mimeType": "image/png"}})
    if data.draw(st.integers(0, 4)) == 0:  # a file that does not exist: 404 when well formed
        video = {"fileData": {"fileUri": "files/abc123", "mime_type": "video/mp4"}}
        parts.insert(0, {**video, "videoMetadata": {"startOffset": "1s", "fps": 1.0}})
    history: list[dict[str, Any]] = [
        {"role": "user", "parts": [{"text": "Say hi."}]},
        {"role": "model", "parts": [{"text": "hi"}]},
    ]
    return {
        "contents": [*(history if data.draw(st.booleans()) else []), {"parts": parts}],
        "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
        "generationConfig": {
            "maxOutputTokens": 1,
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40.0,
            "seed": 7,
            "stopSequences": ["\n\n"],
            "candidateCount": 1,
            "responseMimeType": "text/plain",
            "mediaResolution": "MEDIA_RESOLUTION_LOW",
            "thinkingConfig": {"thinking_budget": 0},
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    }


def _interaction_body(data: st.DataObject) -> dict[str, Any]:
    blocks: list[Any] = [{"type": "text", "text": "Describe this picture."}]
    if data.draw(st.booleans()):
        blocks.append({"type": "image", "data": PNG, "mime_type": "image/png"})
    if data.draw(st.integers(0, 4)) == 0:
        blocks.append({"type": "video", "uri": "files/abc123", "resolution": "low"})
    shape = data.draw(st.sampled_from(["string", "blocks", "steps", "turns"]))
    if shape == "string":
        given: Any = "Describe this picture."
    elif shape == "blocks":
        given = blocks
    elif shape == "turns":
        given = [{"role": "user", "content": blocks}]
    else:
        given = [
            {"type": "user_input", "content": blocks},
            {"type": "model_output", "content": [{"type": "text", "text": "A square."}]},
            {"type": "user_input", "content": "And?"},
        ]
    return {
        "model": "gemini-2.5-flash",
        "input": given,
        "system_instruction": "Be brief.",
        "generation_config": {
            "max_output_tokens": 1,
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 3,
            "seed": 1,
            "stop_sequences": ["x"],
            "thinking_level": "low",
        },
        "response_format": {"type": "text", "mime_type": "text/plain"},
        "store": False,
    }


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


NASTY = st.sampled_from(
    [
        float("nan"), float("inf"), float("-inf"), RAW_HUGE, RAW_DEEP, 2**70, -(2**70), 2**63,
        2**31, -5, -1, 0, 0.5, 1e308, "", "x", "NaN", "Infinity", "-5", "1e400", "12.5s",
        True, False, None, [], {}, [1], [[]], ["a"] * 7, {"seconds": "x"}, {"type": []},
        "\x00", "💥💥", "files/abc123", "ftp://x/y",
    ]
)  # fmt: skip
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=8,
)
VALUES = st.one_of(
    NASTY, NASTY, JSONISH, st.integers(1, 120).map(_deep), st.sampled_from(KEYS)
).map(copy.deepcopy)  # never share a mutable sample between bodies


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*here, i))
    return out


def _mutate(data: st.DataObject, body: Any) -> Any:
    """Replace, drop, wrap or add one value somewhere in `body`."""
    path = data.draw(st.sampled_from(_paths(body)))
    op = data.draw(st.sampled_from(["replace", "replace", "drop", "wrap", "add"]))
    if not path:
        return data.draw(VALUES) if op in ("replace", "drop") else [body]
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "replace":
        parent[last] = data.draw(VALUES)
    elif op == "drop":
        del parent[last]
    elif op == "wrap":
        parent[last] = data.draw(st.sampled_from([[parent[last]], {"a": parent[last]}]))
    elif isinstance(parent[last], dict):
        parent[last][data.draw(st.sampled_from(KEYS))] = data.draw(VALUES)
    elif isinstance(parent[last], list):
        parent[last].append(data.draw(VALUES))
    else:
        parent[last] = data.draw(VALUES)
    return body


def _cheap(body: Any, camel: bool) -> Any:
    """Keep generation cheap: at most 2 output tokens wherever a generation config is a dict."""
    key, config_keys = (
        ("maxOutputTokens", ("generationConfig", "generation_config"))
        if camel
        else ("max_output_tokens", ("generation_config", "generationConfig"))
    )
    if isinstance(body, dict):
        for name in config_keys:
            config = body.get(name)
            if isinstance(config, dict):
                for k in ("maxOutputTokens", "max_output_tokens"):
                    value = config.get(k)
                    if k in config and isinstance(value, int | float) and value > 2:
                        config[k] = 2
                config.setdefault(key, 2)
            elif name == config_keys[0] and name not in body:
                body[name] = {key: 2}
    return body


def _encode(body: Any) -> bytes:
    text = json.dumps(body)  # NaN/Infinity as the literals a lenient client might send
    text = text.replace(json.dumps(RAW_HUGE), "1e400")
    text = text.replace(json.dumps(RAW_DEEP), "[" * 5000 + "]" * 5000)
    return text.encode()


def _check(r: httpx.Response, what: str, problems: list[str]) -> None:
    def bad(why: str) -> None:
        problems.append(f"{what} -> {r.status_code} {why}: {r.text[:300]}")

    if r.status_code >= 500:
        return bad("5xx")
    if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/event-stream"):
        for line in r.text.splitlines():
            if line.startswith("data: {") and '"error"' in line:
                error = json.loads(line[len("data: ") :]).get("error", {})
                if not isinstance(error.get("code"), int) or error["code"] >= 500:
                    return bad("in-band 5xx")
        return None
    if r.status_code < 400:
        return None
    if not r.headers.get("content-type", "").startswith("application/json"):
        return bad("non-JSON error")
    error = r.json().get("error")
    if not isinstance(error, dict) or error.get("code") != r.status_code:
        return bad("no envelope")
    if not (isinstance(error.get("message"), str) and error["message"]):
        return bad("no message")
    if error.get("status") not in STATUSES:
        return bad("unknown status")
    if error["status"] == "INVALID_ARGUMENT" and "API key" not in error["message"]:
        requests = [d for d in error.get("details", []) if "BadRequest" in d.get("@type", "")]
        violations = requests[0]["fieldViolations"] if requests else []
        if not violations or not all(v.get("description") for v in violations):
            return bad("no fieldViolations")
    return None


def _routes(client: httpx.Client) -> list[tuple[int, Callable[[st.DataObject], httpx.Response]]]:
    model = "/v1beta/models/gemini-2.5-flash"

    def mutated(data: st.DataObject, template: Callable[[st.DataObject], Any]) -> Any:
        body = template(data)
        for _ in range(data.draw(st.integers(0, 3))):
            body = _mutate(data, body)
        return body

    def post(path: str, body: Any, data: st.DataObject) -> httpx.Response:
        raw = _encode(body)
        if data.draw(st.integers(0, 40)) == 0:  # now and then, not JSON at all
            raw = data.draw(st.sampled_from([raw[: len(raw) // 2], b"\xff\xfe", b"nul", b"[]"]))
        return client.post(path, content=raw, headers={"content-type": "application/json"})

    def count(data: st.DataObject) -> httpx.Response:
        body = mutated(data, _generate_body)
        if data.draw(st.booleans()):
            body = {"generateContentRequest": body}
        return post(f"{model}:countTokens", body, data)

    def generate(data: st.DataObject) -> httpx.Response:
        body = _cheap(mutated(data, _generate_body), camel=True)
        return post(f"{model}:generateContent", body, data)

    def stream(data: st.DataObject) -> httpx.Response:
        body = _cheap(mutated(data, _generate_body), camel=True)
        return post(f"{model}:streamGenerateContent?alt=sse", body, data)

    def interactions(data: st.DataObject) -> httpx.Response:
        body = _cheap(mutated(data, _interaction_body), camel=False)
        if isinstance(body, dict) and data.draw(st.integers(0, 4)) == 0:
            body["stream"] = True
        return post("/v1beta/interactions", body, data)

    def files(data: st.DataObject) -> httpx.Response:
        value = data.draw(st.one_of(NASTY, st.text(max_size=30)))
        text = json.dumps(value) if not isinstance(value, str) else value
        text = text.replace("\x00", "")
        kind = data.draw(st.sampled_from(["pageSize", "pageToken", "get"]))
        if kind == "get":
            return client.get(f"/v1beta/files/{quote(text, safe='')}")
        return client.get("/v1beta/files", params={kind: text})

    return [(8, count), (4, interactions), (3, generate), (2, stream), (3, files)]


def test_fuzzed_requests_never_get_a_5xx(make_server: Callable[..., Any]) -> None:
    srv = make_server(url_fetch=False)
    problems: list[str] = []
    sent = 0
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        weighted = [fn for weight, fn in _routes(client) for _ in range(weight)]

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def fuzz(data: st.DataObject) -> None:
            nonlocal sent
            route = data.draw(st.sampled_from(weighted))
            sent += 1
            try:
                response = route(data)
            except httpx.TransportError as exc:  # a crash that dropped the connection
                problems.append(f"{route.__name__}: {type(exc).__name__} {exc}")
                return
            _check(response, f"{route.__name__} {response.request.url}", problems)

        fuzz()
    assert sent >= 2000
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems[:20])
    assert httpx.get(f"{srv.url}/healthz").status_code == 200  # and it still serves
