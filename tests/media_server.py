"""A tiny HTTP server on 127.0.0.1 for URL-fetch tests: fixed routes, redirects, slow bodies,
and a record of the Host header each request carried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    location: str | None = None
    content_length: int | None = None  # announce another length than the body's
    delay_s: float = 0.0  # before each 1 KiB chunk of the body


@dataclass
class MediaServer:
    port: int
    routes: dict[str, Route]
    hosts: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@contextmanager
def media_server(routes: dict[str, Route]) -> Iterator[MediaServer]:
    state = MediaServer(0, routes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hosts.append(self.headers.get("Host", ""))
            route = state.routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
                return
            self.send_response(route.status)
            if route.location is not None:
                self.send_header("Location", route.location)
            self.send_header("Content-Type", route.content_type)
            length = len(route.body) if route.content_length is None else route.content_length
            self.send_header("Content-Length", str(length))
            self.end_headers()
            try:
                for i in range(0, len(route.body), 1024):
                    if route.delay_s:
                        time.sleep(route.delay_s)
                    self.wfile.write(route.body[i : i + 1024])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
