"""A bounded, seeded fuzz of every route over real HTTP (issue: Hardening).

Every route of the app (enumerated from `app.routes`: a new route without a fuzzer, or an
explicit exemption with its reason, fails here) gets at least EXAMPLES generated requests: valid
bodies, ids, query parameters and headers with wrong types, NaN/Infinity/huge numbers, deep and
wrong nesting, odd unicode spliced in. Hypothesis (derandomized, no database) fills pools of
odd values; a random.Random with a fixed SEED assembles the requests from them, so a run is
bounded and the same every time. They go 8 at a time over one client to one `sightd serve` on
127.0.0.1 running the tiny model (bodies that reach it ask for at most 2 tokens).

Zero 5xx (in-band stream errors included) and no dropped connection; every 4xx is the Gemini
envelope; every INVALID_ARGUMENT names what was wrong in a google.rpc.BadRequest detail (save
the few known UNNAMED ones). Per-fuzzer and per-route counts and statuses are printed and
recorded as the `fuzz` property (junit XML)."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.media_factory import image_bytes
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.slow

EXAMPLES = 2000  # requests per fuzzed target: each example draws one request for every target
SEED = 20260524  # the fuzzers' random.Random; hypothesis (derandomized) fills the pools
POOL_EXAMPLES = 150  # hypothesis examples per pool, 4 values each
CONCURRENCY = 8  # requests in flight over the one client
KEY = "fuzz-key"
VERSIONS = ("v1", "v1beta", "v1alpha")
PNG_BYTES = image_bytes(16, 16, "PNG")
PNG = base64.b64encode(PNG_BYTES).decode()
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
UNNAMED = re.compile(
    "|".join(
        [
            r"API key not valid",
        ]
    )
)
"""INVALID_ARGUMENT messages that may come without a google.rpc.BadRequest fieldViolation."""
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


def _generate_body(d: Draw) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": "What is this?"}]
    if d.pick(True, False):
        parts.insert(0, {"inlineData": {"data": PNG, "mimeType": "image/png"}})
    if d.one_in(5):  # a file that does not exist: 404 when well formed
        video = {"fileData": {"fileUri": "files/abc123", "mime_type": "video/mp4"}}
        parts.insert(0, {**video, "videoMetadata": {"startOffset": "1s", "fps": 1.0}})
    history: list[dict[str, Any]] = [
        {"role": "user", "parts": [{"text": "Say hi."}]},
        {"role": "model", "parts": [{"text": "hi"}]},
    ]
    return {
        "contents": [*(history if d.pick(True, False) else []), {"parts": parts}],
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


def _interaction_body(d: Draw) -> dict[str, Any]:
    blocks: list[Any] = [{"type": "text", "text": "Describe this picture."}]
    if d.pick(True, False):
        blocks.append({"type": "image", "data": PNG, "mime_type": "image/png"})
    if d.one_in(5):
        blocks.append({"type": "video", "uri": "files/abc123", "resolution": "low"})
    shape = d.pick("string", "blocks", "steps", "turns")
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


NASTY: tuple[Any, ...] = (
    float("nan"), float("inf"), float("-inf"), RAW_HUGE, RAW_DEEP, 2**70, -(2**70), 2**63,
    2**31, -5, -1, 0, 0.5, 1e308, "", "x", "NaN", "Infinity", "-5", "1e400", "12.5s",
    True, False, None, [], {}, [1], [[]], ["a"] * 7, {"seconds": "x"}, {"type": []},
    "\x00", "💥💥", "files/abc123", "ftp://x/y",
)  # fmt: skip
EDGE_TEXT = (
    "%2e%2e/%2e%2e/etc/passwd", "../../pyproject.toml", "a/b", "files/", "//", ".", "~", "%",
    "%zz", " ", "a" * 300, "0" * 50, "files/abc123", "9" * 30, "-0", "1.5", "0x10", "\u202e",
)  # fmt: skip
CHARSETS = (  # for random strings: printable ASCII, id-like, URL syntax, controls, unicode
    "".join(map(chr, range(32, 127))),
    "abcdefghijklmnopqrstuvwxyz0123456789-_",
    "/.%?#&=:;@+ ",
    "".join(map(chr, range(32))) + "\x7f",
    "äö€\u00a0\u200b\u202e\ufeff\ufffd𝕏😀\U0010ffff",
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=8,
)
HEADER_CHARS = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@dataclass(frozen=True)
class Pools:
    """Odd values hypothesis generated (derandomized), for the fuzzers to splice in."""

    values: tuple[Any, ...]  # JSON-ish: nested lists and dicts of odd scalars
    texts: tuple[str, ...]  # any unicode
    headers: tuple[str, ...]  # printable ASCII


def _pools() -> Pools:
    values: list[Any] = []
    texts: list[str] = []
    headers: list[str] = []

    @settings(
        max_examples=POOL_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.lists(JSONISH, min_size=4, max_size=4),
        st.lists(st.text(max_size=30), min_size=4, max_size=4),
    )
    def collect(v: list[Any], t: list[str]) -> None:
        values.extend(v)
        texts.extend(t)

    @settings(
        max_examples=POOL_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(HEADER_CHARS, min_size=4, max_size=4))
    def collect_headers(h: list[str]) -> None:
        headers.extend(h)

    collect()
    collect_headers()
    unique_values = {json.dumps(v): v for v in values}  # hypothesis repeats simple values
    return Pools(
        tuple(unique_values.values()), tuple(dict.fromkeys(texts)), tuple(dict.fromkeys(headers))
    )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Draw:
    """The fuzzers' choices: a seeded random.Random over fixed options and the pools."""

    def __init__(self, seed: int, pools: Pools) -> None:
        self.rng = random.Random(seed)
        self.pools = pools

    def pick(self, *options: Any) -> Any:
        return self.rng.choice(options)

    def one_in(self, n: int) -> bool:
        return self.rng.randrange(n) == 0

    def value(self) -> Any:
        """A value to splice into a body: never shared between bodies."""
        kind = self.rng.randrange(6)
        if kind < 2:
            return copy.deepcopy(self.rng.choice(NASTY))
        if kind < 4:
            return copy.deepcopy(self.rng.choice(self.pools.values))
        if kind == 4:
            return _deep(self.rng.randint(1, 120))
        return self.rng.choice(KEYS)

    def text(self) -> str:
        kind = self.rng.randrange(4)
        if kind == 0:
            return _as_text(self.rng.choice(NASTY))
        if kind == 1:
            return self.rng.choice(EDGE_TEXT)
        if kind == 2:
            return self.rng.choice(self.pools.texts)
        return self.chars(self.rng.choice(CHARSETS))

    def chars(self, charset: str) -> str:
        return "".join(self.rng.choices(charset, k=self.rng.randrange(1, 24)))

    def header(self) -> str:
        """A header value (Req keeps what h11 lets a client send of it)."""
        kind = self.rng.randrange(3)
        if kind == 0:
            return self.rng.choice(self.pools.headers)
        return self.chars(CHARSETS[0]) if kind == 1 else self.text()

    def pick_or_text(self, *options: Any) -> Any:
        return self.text() if self.one_in(2) else self.rng.choice(options)

    def pick_or_header(self, *options: Any) -> Any:
        return self.header() if self.one_in(3) else self.rng.choice(options)

    def media(self) -> bytes:
        return PNG_BYTES if self.one_in(2) else self.rng.randbytes(self.rng.randrange(49))


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*here, i))
    return out


def _mutate(d: Draw, body: Any) -> Any:
    """Replace, drop, wrap or add one value somewhere in `body`."""
    path = d.pick(*_paths(body))
    op = d.pick("replace", "replace", "drop", "wrap", "add")
    if not path:
        return d.value() if op in ("replace", "drop") else [body]
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "replace":
        parent[last] = d.value()
    elif op == "drop":
        del parent[last]
    elif op == "wrap":
        parent[last] = d.pick([parent[last]], {"a": parent[last]})
    elif isinstance(parent[last], dict):
        parent[last][d.pick(*KEYS)] = d.value()
    elif isinstance(parent[last], list):
        parent[last].append(d.value())
    else:
        parent[last] = d.value()
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
    if error["status"] == "INVALID_ARGUMENT" and not UNNAMED.match(error["message"]):
        requests = [d for d in error.get("details", []) if "BadRequest" in d.get("@type", "")]
        violations = requests[0]["fieldViolations"] if requests else []
        if not violations or not all(v.get("description") for v in violations):
            return bad("no fieldViolations")
    return None


# --- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Req:
    """One generated request: what it fuzzes, and what goes on the wire (header values as h11
    lets a client send them: printable ASCII, trimmed; malformed HTTP is uvicorn's business)."""

    target: str
    method: str
    url: str  # path and query, already percent-encoded
    headers: dict[str, str]
    content: bytes = b""

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            self.headers[name] = "".join(c for c in value if " " <= c <= "~").strip()

    def describe(self) -> str:
        return f"{self.target}: {self.method} {self.url} {self.headers} {self.content[:200]!r}"


Wire = tuple[str, str, dict[str, str], bytes]  # method, url, headers, body
Build = Callable[[Draw], Wire]


AUTH_MODES = ("key",) * 36 + ("none", "query", "wrong", "noise")
BODY_FORMS = ("json",) * 36 + (
    "half", b"\xff\xfe", b"nul", b"[]", b"", "text/plain", "application/x-www-form-urlencoded"
)  # fmt: skip
INCLUDE_INPUT = ("true", "false", "0", "1", "yes", "no", "", "ja", "2")
MODEL_NAMES = ("gemini-2.5-flash", "models/gemini-x", "qwen")
ASSETS = ("index.html", "app.css", "js/", "%2e%2e/%2e%2e/etc/passwd", ".")


def _url(path: str, query: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _segment(d: Draw, *options: str) -> str:
    """A fuzzed path segment, now and then with its slashes left in (`{name:path}` routes)."""
    value = d.pick_or_text(*options) if options else d.text()
    return quote(value, safe="/" if len(value) % 3 == 1 else "")


def _auth(d: Draw) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Mostly the right key in the header; sometimes in `?key=`, missing, or wrong."""
    headers, query = {"x-goog-api-key": KEY}, []
    mode = d.pick(*AUTH_MODES)
    if mode == "none":
        headers = {}
    elif mode == "query":
        headers, query = {}, [("key", KEY)]
    elif mode == "wrong":
        headers = {"x-goog-api-key": d.header()}
    elif mode == "noise":  # a parameter a client might add
        query.append((d.pick(*KEYS, "alt", "$fields"), d.text()))
    return headers, query


def _version(d: Draw) -> str:
    return str(d.pick(*VERSIONS))


def _mutated(d: Draw, body: Any) -> Any:
    for _ in range(d.pick(0, 1, 2, 3)):
        body = _mutate(d, body)
    return body


def _json_body(d: Draw, body: Any) -> tuple[dict[str, str], bytes]:
    """`body` as JSON; now and then not JSON at all, or sent as another content type."""
    raw, content_type = _encode(body), "application/json"
    form = d.pick(*BODY_FORMS)
    if form == "half":
        raw = raw[: len(raw) // 2]
    elif isinstance(form, bytes):
        raw = form
    elif form != "json":
        content_type = str(form)
    return {"content-type": content_type}, raw


def _post_json(d: Draw, path: str, body: Any, query: list[tuple[str, str]] | None = None) -> Wire:
    headers, auth_query = _auth(d)
    content_headers, raw = _json_body(d, body)
    return "POST", _url(path, [*auth_query, *(query or [])]), headers | content_headers, raw


def _get(d: Draw, method: str, path: str, query: list[tuple[str, str]]) -> Wire:
    headers, auth_query = _auth(d)
    return method, _url(path, [*auth_query, *query]), headers, b""


def _page_query(d: Draw) -> list[tuple[str, str]]:
    names = ["pageSize", "pageToken", "page_size", "page_token"]
    chosen = names[: d.pick(0, 1, 1, 2)] if d.pick(True, False) else names[2:]
    return [(name, d.text()) for name in chosen]


# --- the fuzzers, one or more per route --------------------------------------------------------
def _model_method(method: str) -> Build:
    def build(d: Draw) -> Wire:
        model = "gemini-2.5-flash"
        if d.one_in(10):
            model = _segment(d)
        body = _mutated(d, _generate_body(d))
        query: list[tuple[str, str]] = []
        if method == "countTokens":
            if d.pick(True, False):
                body = {"generateContentRequest": body}
        else:
            body = _cheap(body, camel=True)
        if method == "streamGenerateContent":
            alt = d.pick("sse", "sse", "sse", "json", "", None)
            query = [] if alt is None else [("alt", alt)]
        return _post_json(d, f"/{_version(d)}/models/{model}:{method}", body, query)

    return build


def _create_interaction(d: Draw) -> Wire:
    body = _cheap(_mutated(d, _interaction_body(d)), camel=False)
    if isinstance(body, dict) and d.one_in(5):
        body["stream"] = True
    return _post_json(d, f"/{_version(d)}/interactions", body)


def _interaction_id(d: Draw, real: dict[str, list[str]], pool: str = "interactions") -> str:
    if real[pool] and d.one_in(5):
        return str(d.pick(*real[pool]))
    return quote(d.text(), safe="")


def _file_id(d: Draw, real: dict[str, list[str]], pool: str = "files") -> str:
    if real[pool] and d.one_in(5):
        return str(d.pick(*real[pool]))
    return _segment(d)


def _upload_start(d: Draw) -> Wire:
    """The resumable start: lenient metadata (JSON, the docs' Python-literal form, or nothing)
    and the X-Goog-Upload-* headers that fill its gaps."""
    headers, query = _auth(d)
    version = _segment(d) if d.one_in(20) else _version(d)
    protocol = d.pick(*["resumable"] * 8, "query", "fuzz")
    if protocol == "query":
        query.append(("uploadType", "resumable"))
    else:
        headers["x-goog-upload-protocol"] = "resumable" if protocol == "resumable" else d.header()
    command = d.pick(*["start"] * 8, None, "start, upload", "upload", "query", "fuzz")
    if command is not None:
        headers["x-goog-upload-command"] = command if command != "fuzz" else d.header()
    length = d.pick_or_header("1024", "0", "-1", "1e3", " 12 ", str(2**63), str(2**70), None)
    if length is not None:
        headers["x-goog-upload-header-content-length"] = length
    mime = d.pick_or_header("video/mp4", "image/png", "text/plain", "", None)
    if mime is not None:
        headers["x-goog-upload-header-content-type"] = mime
    meta: dict[str, Any] = {"display_name": "clip", "mimeType": "video/mp4", "sizeBytes": "1024"}
    if d.one_in(5):
        meta["name"] = d.pick("files/fuzzed1", "fuzzed2", "files/")
    body = _mutated(d, meta if d.one_in(5) else {"file": meta})
    form = d.pick(*["json"] * 7, "python", "empty", "raw")
    if form == "python":  # the docs' curl sends {'file': {'display_name': 'VIDEO'}}
        raw = repr(body).encode()
    elif form == "empty":
        raw = b""
    elif form == "raw":
        raw = d.media()
    else:
        raw = _encode(body)
    headers["content-type"] = "application/json"
    return "POST", _url(f"/upload/{version}/files", query), headers, raw


def _upload_send(d: Draw, real: dict[str, list[str]]) -> Wire:
    """Everything else the upload route takes: chunks (to live and made-up upload ids),
    `uploadType=media` and multipart uploads."""
    kind = d.pick("chunk", "chunk", "media", "multipart")
    version = _version(d)
    media = d.media()
    if kind == "chunk":
        token = str(d.pick(*real["uploads"])) if real["uploads"] and d.one_in(2) else d.text()
        headers: dict[str, str] = {}
        command = d.pick_or_header(
            "upload", "upload, finalize", "finalize", "query", "cancel", None
        )
        if command is not None:
            headers["x-goog-upload-command"] = command
        offset = d.pick_or_header("0", "0", "16", "-1", str(2**70), "x", None)
        if offset is not None:
            headers["x-goog-upload-offset"] = offset
        query = [("upload_id", token), ("upload_protocol", "resumable")]
        return "POST", _url(f"/upload/{version}/files", query), headers, media
    headers, query = _auth(d)
    if kind == "media":
        query.append(("uploadType", "media"))
        headers["content-type"] = d.pick_or_header("image/png", "application/octet-stream", "")
        return "POST", _url(f"/upload/{version}/files", query), headers, media
    boundary = d.pick(*["b0undary"] * 4, "", '"quoted"')
    meta = _mutated(d, {"file": {"display_name": "pic", "mime_type": "image/png"}})
    parts = [
        b"--b0undary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + _encode(meta),
        b"--b0undary\r\nContent-Type: image/png\r\n\r\n" + media,
        b"--b0undary--\r\n",
    ]
    raw = b"\r\n".join(parts[: d.pick(3, 3, 0, 1, 2)])
    headers["content-type"] = f"multipart/related; boundary={boundary}"
    headers["x-goog-upload-protocol"] = "multipart"
    return "POST", _url(f"/upload/{version}/files", query), headers, raw


def _inspect(d: Draw, real: dict[str, list[str]]) -> Wire:
    names = ["files/abc123", *(f"files/{f}" for f in real["files"])]
    body = {"file": d.pick(*names), "fps": 1.0, "start": 0, "end": 2}
    body["resolution"] = "low"
    return _post_json(d, "/web/inspect", _mutated(d, body))


def _probe(path: str) -> Build:
    """A route that takes no input: fuzzed query parameters and headers all the same."""

    def build(d: Draw) -> Wire:
        method, url, headers, raw = _get(d, "GET", path, _page_query(d))
        if d.pick(True, False):
            headers["if-none-match"] = d.header()
        return method, url, headers, raw

    return build


def _fuzzers(real: dict[str, list[str]]) -> dict[str, tuple[str, str, Build]]:
    """Every fuzzer: its name, the route it covers (method, path with `/{v}` for the version),
    and how to build one request."""

    def base(d: Draw) -> str:
        return f"/{_version(d)}"

    def interaction(d: Draw, pool: str = "interactions") -> str:
        return f"{base(d)}/interactions/{_interaction_id(d, real, pool)}"

    def get_interaction(d: Draw) -> Wire:
        value = d.pick_or_text(*INCLUDE_INPUT)
        return _get(d, "GET", interaction(d), [("include_input", value)])

    def delete_interaction(d: Draw) -> Wire:
        return _get(d, "DELETE", interaction(d, "doomed_interactions"), [])

    def cancel_interaction(d: Draw) -> Wire:
        return _post_json(d, f"{interaction(d)}/cancel", _mutated(d, {}))

    def list_files(d: Draw) -> Wire:
        return _get(d, "GET", f"{base(d)}/files", _page_query(d))

    def get_file(d: Draw) -> Wire:
        return _get(d, "GET", f"{base(d)}/files/{_file_id(d, real)}", [])

    def delete_file(d: Draw) -> Wire:
        return _get(d, "DELETE", f"{base(d)}/files/{_file_id(d, real, 'doomed_files')}", [])

    def list_models(d: Draw) -> Wire:
        return _get(d, "GET", f"{base(d)}/models", _page_query(d))

    def get_model(d: Draw) -> Wire:
        return _get(d, "GET", f"{base(d)}/models/{_segment(d, *MODEL_NAMES)}", [])

    def asset(d: Draw) -> Wire:
        return _get(d, "GET", "/web/" + _segment(d, *ASSETS), [])

    v, model = "/{v}", "/{v}/models/{target:path}"
    return {
        "countTokens": ("POST", model, _model_method("countTokens")),
        "generateContent": ("POST", model, _model_method("generateContent")),
        "streamGenerateContent": ("POST", model, _model_method("streamGenerateContent")),
        "interactions.create": ("POST", f"{v}/interactions", _create_interaction),
        "interactions.get": ("GET", f"{v}/interactions/{{iid}}", get_interaction),
        "interactions.delete": ("DELETE", f"{v}/interactions/{{iid}}", delete_interaction),
        "interactions.cancel": ("POST", f"{v}/interactions/{{iid}}/cancel", cancel_interaction),
        "upload.start": ("POST", "/upload/{version}/files", _upload_start),
        "upload.send": ("POST", "/upload/{version}/files", lambda d: _upload_send(d, real)),
        "files.list": ("GET", f"{v}/files", list_files),
        "files.get": ("GET", f"{v}/files/{{file_id:path}}", get_file),
        "files.delete": ("DELETE", f"{v}/files/{{file_id:path}}", delete_file),
        "models.list": ("GET", f"{v}/models", list_models),
        "models.get": ("GET", f"{v}/models/{{name:path}}", get_model),
        "web.inspect": ("POST", "/web/inspect", lambda d: _inspect(d, real)),
        "web.asset": ("GET", "/web/{path:path}", asset),
        "web.page": ("GET", "/", _probe("/")),
        "web.model": ("GET", "/web/model.json", _probe("/web/model.json")),
        "livez": ("GET", "/livez", _probe("/livez")),
        "readyz": ("GET", "/readyz", _probe("/readyz")),
        "healthz": ("GET", "/healthz", _probe("/healthz")),
        "metrics": ("GET", "/metrics", _probe("/metrics")),
    }


EXEMPT: dict[tuple[str, str], str] = {}
"""Routes deliberately not fuzzed, each with the reason: (method, path) → why."""


# --- the app's routes --------------------------------------------------------------------------
def _normalize(path: str) -> str:
    return re.sub(r"^/v1(?:alpha|beta)?(?=/)", "/{v}", path)


def _app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, the API version folded into `/{v}`."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI keeps include_router nodes
            if inner is not None:
                walk(inner.routes, prefix + route.include_context.prefix)
                continue
            path = getattr(route, "path", None)
            if path is None:
                found.add(("?", repr(route)))  # something this walk cannot read: fails below
                continue
            if hasattr(route, "routes") and route.routes:  # a Mount
                walk(route.routes, prefix + path)
                continue
            methods = set(getattr(route, "methods", None) or {"*"})
            for method in methods - ({"HEAD"} if "GET" in methods else set()):
                found.add((method, _normalize(prefix + path)))

    walk(app.routes, "")
    return found


# --- setup and sending -------------------------------------------------------------------------
def _real_resources(url: str) -> dict[str, list[str]]:
    """A few files, pending resumable uploads and stored interactions the fuzzers may hit
    (the deletes have their own, so the others' stay there to be found)."""
    real: dict[str, list[str]] = {"uploads": []}
    auth = {"x-goog-api-key": KEY}
    with httpx.Client(base_url=url, timeout=60, headers=auth) as client:
        for pool in ("files", "doomed_files"):
            for _ in range(3):
                r = client.post(
                    "/upload/v1beta/files?uploadType=media",
                    content=PNG_BYTES,
                    headers={"content-type": "image/png"},
                )
                assert r.status_code == 200, r.text
                real.setdefault(pool, []).append(r.json()["file"]["name"].removeprefix("files/"))
        for i in range(8):
            r = client.post(
                "/upload/v1beta/files",
                json={"file": {"display_name": f"pending {i}"}},
                headers={
                    "x-goog-upload-protocol": "resumable",
                    "x-goog-upload-command": "start",
                    "x-goog-upload-header-content-length": str(len(PNG_BYTES)),
                    "x-goog-upload-header-content-type": "image/png",
                },
            )
            assert r.status_code == 200, r.text
            token = httpx.URL(r.headers["x-goog-upload-url"]).params["upload_id"]
            real["uploads"].append(token)
        body = {
            "model": "gemini-2.5-flash",
            "input": "Hi.",
            "generation_config": {"max_output_tokens": 1},
        }
        for pool in ("interactions", "doomed_interactions"):
            for _ in range(3):
                r = client.post("/v1beta/interactions", json=body)
                assert r.status_code == 200, r.text
                real.setdefault(pool, []).append(r.json()["id"])
    return real


async def _send_all(url: str, requests: list[Req], problems: list[str]) -> Counter[str]:
    """Send every request, CONCURRENCY at a time over one client; check each reply."""
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    pending = iter(requests)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for req in pending:
                try:
                    r = await client.request(
                        req.method, req.url, headers=req.headers, content=req.content or None
                    )
                except httpx.TransportError as exc:  # a crash that dropped the connection
                    problems.append(f"{req.describe()} -> {type(exc).__name__} {exc}")
                    continue
                statuses[f"{req.target} {r.status_code}"] += 1
                _check(r, req.describe(), problems)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


def _generate(fuzzers: dict[str, tuple[str, str, Build]], pools: Pools) -> list[Req]:
    """EXAMPLES requests for every fuzzer, interleaved."""
    d = Draw(SEED, pools)
    return [
        Req(name, *build(d)) for _ in range(EXAMPLES) for name, (_, _, build) in fuzzers.items()
    ]


@pytest.fixture
def fuzz_server(
    tiny_model_dir: Path,
    tiny_vision_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, Any, int]]:
    """`sightd serve` with the tiny model in its own process (the fuzz is CPU-bound on both
    ends: a server thread beside the client would share one interpreter lock), and the app
    it serves, built here only to list its routes."""
    from sightd.app import create_app
    from sightd.settings import Settings

    monkeypatch.setenv("SIGHTD_URL_FETCH", "false")  # a bool setting has no --no- flag
    flags = {
        "model": str(tiny_model_dir),
        "api_keys": KEY,
        "torch_threads": "1",
        **{name: str(path) for name, path in tiny_vision_dirs.items()},
    }
    server = ServeProcess(tmp_path, ready_path="/readyz", timeout_s=180, **flags)
    try:
        app = create_app(Settings(data_dir=tmp_path / "routes", **flags))
        yield server.url, app, server.proc.pid
    finally:
        server.stop()


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_every_route_is_fuzzed_without_a_5xx(
    fuzz_server: tuple[str, Any, int], record_property: Callable[[str, object], None]
) -> None:
    url, app, pid = fuzz_server
    fuzzers = _fuzzers(_real_resources(url))
    routes = _app_routes(app)
    covered = {(method, path) for method, path, _ in fuzzers.values()}
    assert not routes - covered - EXEMPT.keys(), "routes with no fuzzer and no exemption"
    assert not (covered | EXEMPT.keys()) - routes, "fuzzers or exemptions for no route"

    started = time.monotonic()
    requests = _generate(fuzzers, _pools())
    generated = time.monotonic()
    problems: list[str] = []
    cpu, server_cpu = time.process_time(), _cpu_s(pid)  # where the time goes, for the report
    statuses = asyncio.run(_send_all(url, requests, problems))
    sent = time.monotonic()
    cpu, server_cpu = time.process_time() - cpu, _cpu_s(pid) - server_cpu

    per_fuzzer = Counter(req.target for req in requests)
    per_route: Counter[tuple[str, str]] = Counter()
    for name, (method, path, _) in fuzzers.items():
        per_route[(method, path)] += per_fuzzer[name]
    report = {
        "generate_s": round(generated - started, 1),
        "send_s": round(sent - generated, 1),
        "send_cpu_s": {"client": round(cpu, 1), "server": round(server_cpu, 1)},
        "per_fuzzer": dict(per_fuzzer),
        "per_route": {f"{m} {p}": n for (m, p), n in sorted(per_route.items())},
        "statuses": dict(sorted(statuses.items())),
    }
    record_property("fuzz", json.dumps(report))
    print(json.dumps(report, indent=1))
    assert min(per_fuzzer.values()) >= EXAMPLES, report
    assert all(per_route[route] >= EXAMPLES for route in routes - EXEMPT.keys()), report
    kinds = Counter(re.sub(r"\d+", "N", p.partition(" -> ")[2])[:160] for p in problems)
    summary = "\n".join(f"{n:6} x {kind}" for kind, n in kinds.most_common(30))
    assert not problems, (
        f"{len(problems)} of {len(requests)}; the first 20:\n"
        + "\n".join(problems[:20])
        + f"\nby kind:\n{summary}"
    )
    assert httpx.get(f"{url}/healthz").status_code == 200  # and it still serves
