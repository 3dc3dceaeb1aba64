"""A loopback HTTP server that drip-feeds its answers, for URL-fetch deadline tests.

`/headers` sends the status line, then one byte of a header every `interval_s`; `/body` sends
whole headers (Content-Length 1000), then one byte of body every `interval_s`. Either goes on
for `for_s`, then closes the connection. Each connection gets its own thread.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class DripServer:
    port: int
    connections: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def drip_server(interval_s: float = 0.1, for_s: float = 8.0) -> Iterator[DripServer]:
    state = DripServer(0)
    closing = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            state.connections += 1
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(4096)
                if not data:
                    return
                head += data
            path = head.split(b" ", 2)[1].decode()
            if path == "/body":
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1000\r\n\r\n"
                )
                drip = b"x"
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                drip = b"a"
            end = time.monotonic() + for_s
            try:
                while time.monotonic() < end and not closing.is_set():
                    sock.sendall(drip)
                    time.sleep(interval_s)
            except OSError:
                pass  # the client cut the connection: what the deadline should do

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        state.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield state
        finally:
            closing.set()
            server.shutdown()
