"""Upload bodies that stall or carry oversized multipart headers: a chunk that stops sending
is dropped after `upload_idle_timeout_s` (rolled back, its session free for another client,
which is refused at once rather than queued meanwhile), and a huge part header block is a 400."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.test_files_protocol import KEY, assert_error, chunk, start

IDLE_S = 1.0


@contextmanager
def stalled_chunk(url: str, offset: int, declared: int, sent: bytes) -> Iterator[socket.socket]:
    """A raw connection that announces a `declared`-byte chunk, sends `sent`, then stalls."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = (
        f"POST {parts.path}?{parts.query} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "X-Goog-Upload-Command: upload\r\n"
        f"X-Goog-Upload-Offset: {offset}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    try:
        sock.sendall(head.encode() + sent)
        yield sock
    finally:
        sock.close()


def test_stalled_chunk_frees_the_session(make_files_server: Any) -> None:
    server = make_files_server(upload_idle_timeout_s=IDLE_S)
    data = os.urandom(300_000)
    url = start(server, len(data), mime="application/octet-stream").headers["x-goog-upload-url"]
    assert chunk(url, 0, data[:100_000]).headers["x-goog-upload-size-received"] == "100000"

    with stalled_chunk(url, 100_000, 100_000, data[100_000:150_000]) as sock:
        time.sleep(0.3)  # the stalled chunk now holds the session
        began = time.monotonic()
        busy = chunk(url, 100_000, data[100_000:200_000])
        assert time.monotonic() - began < IDLE_S / 2  # refused at once, not queued
        error = assert_error(busy, 409, "ABORTED")
        assert "in flight" in error["message"]
        assert busy.headers["x-goog-upload-status"] == "final"

        # Within the idle timeout (+1 s), the stalled chunk is dropped and rolled back.
        deadline = began + IDLE_S + 1.0
        while True:
            resp = chunk(url, 100_000, data[100_000:], "upload, finalize")
            if resp.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert resp.status_code == 200, resp.text
        stalled_reply = sock.recv(65536)
    assert b" 504 " in stalled_reply.split(b"\r\n", 1)[0]
    assert b"DEADLINE_EXCEEDED" in stalled_reply

    file = resp.json()["file"]
    assert int(file["sizeBytes"]) == len(data)
    # the resource spells the hash as base64 of its lowercase hex, as Google does
    assert base64.b64decode(file["sha256Hash"]).decode() == hashlib.sha256(data).hexdigest()


def test_query_after_stall_reports_committed_offset(make_files_server: Any) -> None:
    server = make_files_server(upload_idle_timeout_s=IDLE_S)
    data = os.urandom(50_000)
    url = start(server, len(data), mime="application/octet-stream").headers["x-goog-upload-url"]
    assert chunk(url, 0, data[:10_000]).status_code == 200
    with stalled_chunk(url, 10_000, 40_000, data[10_000:30_000]) as sock:
        sock.settimeout(IDLE_S + 5)
        reply = sock.recv(65536)  # the server gives up on the stalled chunk and answers
    assert b"DEADLINE_EXCEEDED" in reply
    query = chunk(url, None, b"", "query")
    assert query.headers["x-goog-upload-size-received"] == "10000"


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Padding", "a" * 64 * 1024)],  # one 64 kB header block
        [(f"X-Pad-{i}", "b" * 1000) for i in range(9)],  # many lines past 8 KiB
    ],
)
def test_oversized_multipart_headers_are_refused(files_server: Any, headers: Any) -> None:
    boundary = "b0undary"
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n{extra}\r\n"
        '{"file": {"display_name": "x"}}\r\n'
        f"--{boundary}\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--{boundary}--\r\n"
    ).encode()
    resp = httpx.post(
        f"{files_server.url}/upload/v1beta/files?uploadType=multipart",
        headers={**KEY, "Content-Type": f"multipart/related; boundary={boundary}"},
        content=body,
        timeout=30,
    )
    error = assert_error(resp, 400, "INVALID_ARGUMENT")
    assert "headers are too long" in error["message"]


def test_multipart_header_total_is_bounded(files_server: Any) -> None:
    boundary = "b0undary"
    pad = "X-Pad: " + "c" * 7000 + "\r\n"  # under the per-part bound, 3 of them over the total
    # empty metadata parts: each is read as metadata again, so their headers add up
    parts = "".join(
        f"--{boundary}\r\nContent-Type: application/json\r\n{pad}\r\n{{}}\r\n" for _ in range(3)
    )
    media = f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    body = (parts + media + f"--{boundary}--\r\n").encode()
    resp = httpx.post(
        f"{files_server.url}/upload/v1beta/files?uploadType=multipart",
        headers={**KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
        timeout=30,
    )
    error = assert_error(resp, 400, "INVALID_ARGUMENT")
    assert "headers are too long" in error["message"]
