"""Recording HTTP servers between a client library and a Gemini endpoint.

`Recorder` is a stand-in for the Gemini API (capture.py, probe.py): it records every request
(method, path, query, headers, JSON body) and answers with a canned Gemini response chosen by a
`responder`, so a client's whole tool loop (request with tools → model's functionCall → the
client's functionResponse turn → final answer) can be observed without a model.
`streamGenerateContent` is answered as SSE (one chunk per element when the responder returns a
list).

`Proxy` forwards every request unchanged to a live sightd and records the request together
with sightd's status and answer, so the tests can check each exchange on the wire
(checks.py) whatever the client made of it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Recorded:
    """One request as the client sent it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @property
    def streaming(self) -> bool:
        return ":streamGenerateContent" in self.path

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
        }


@dataclass
class Exchange:
    """One request a client sent through the Proxy, and what sightd answered (JSON, or the list
    of SSE chunks for streamGenerateContent)."""

    request: Recorded
    status: int
    response: Any


def parse_sse(text: str) -> list[Any]:
    chunks: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data:
                try:
                    chunks.append(json.loads(data))
                except ValueError:
                    chunks.append(data)
    return chunks


# A responder gets the request and every earlier one, and returns the JSON to answer with
# (a list: one SSE chunk each when the client streams).
Responder = Callable[[Recorded, list[Recorded]], Any]


def text_response(text: str, finish_reason: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 5, "totalTokenCount": 12},
        "modelVersion": "recorder",
    }


def function_call_response(
    calls: list[tuple[str, dict[str, Any]]], with_id: bool = True
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for i, (name, args) in enumerate(calls):
        call: dict[str, Any] = {"name": name, "args": args}
        if with_id:
            call["id"] = f"call_{i}"
        parts.append({"functionCall": call})
    response = text_response("")
    response["candidates"][0]["content"]["parts"] = parts
    return response


def has_function_response(body: Any) -> bool:
    """Whether the request's contents already carry a functionResponse turn."""
    for content in (body or {}).get("contents", []):
        for part in content.get("parts", []):
            if "functionResponse" in part or "function_response" in part:
                return True
    return False


def declared_functions(body: Any) -> list[dict[str, Any]]:
    decls: list[dict[str, Any]] = []
    for tool in (body or {}).get("tools", []) or []:
        decls.extend(tool.get("functionDeclarations") or tool.get("function_declarations") or [])
    return decls


@dataclass
class Recorder:
    """A threaded HTTP server on 127.0.0.1 that records requests; `url` is its base URL."""

    responder: Responder
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                parts = urlsplit(self.path)
                record = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with recorder._lock:
                    earlier = list(recorder.requests)
                    recorder.requests.append(record)
                answer = recorder.responder(record, earlier)
                if record.streaming:
                    chunks = answer if isinstance(answer, list) else [answer]
                    data = b"".join(f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks)
                    ctype = "text/event-stream"
                else:
                    if isinstance(answer, list):
                        answer = answer[-1]
                    data = json.dumps(answer).encode()
                    ctype = "application/json"
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


class Proxy:
    """Forwards every request to `upstream` (a live sightd) and records each exchange."""

    def __init__(self, upstream: str, timeout_s: float = 600.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout_s)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                record = Recorded(self.command, parts.path, parse_qs(parts.query), headers, body)
                upstream = proxy._http.request(
                    self.command,
                    proxy.upstream + self.path,
                    content=raw,
                    headers={k: v for k, v in headers.items() if k not in _HOP_HEADERS},
                )
                data = upstream.content
                ctype = upstream.headers.get("content-type", "application/json")
                text = data.decode("utf-8", "replace")
                answer: Any
                if "event-stream" in ctype:
                    answer = parse_sse(text)
                else:
                    try:
                        answer = json.loads(text) if text else None
                    except ValueError:
                        answer = text
                with proxy._lock:
                    proxy.exchanges.append(Exchange(record, upstream.status_code, answer))
                self.send_response(upstream.status_code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle
            do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
