"""Each bad input gets its Gemini status and envelope, stores nothing, and the server keeps
serving (issue: foundation, "Done when")."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.media_factory import image_bytes, png_bomb_header


def _post(
    server: Any,
    body: Any,
    *,
    model: str = "gemini-2.5-flash",
    key: str | None = "k",
    raw: bytes | None = None,
) -> httpx.Response:
    headers = {"x-goog-api-key": key} if key else {}
    url = f"{server.url}/v1beta/models/{model}:generateContent"
    if raw is not None:
        return httpx.post(
            url, content=raw, headers={**headers, "content-type": "application/json"}, timeout=60
        )
    return httpx.post(url, json=body, headers=headers, timeout=60)


def _image_body(data: bytes, mime: str) -> dict[str, Any]:
    return {
        "contents": [
            {
                "parts": [
                    {"inlineData": {"data": base64.b64encode(data).decode(), "mimeType": mime}},
                    {"text": "What is this?"},
                ]
            }
        ],
        "generationConfig": {"maxOutputTokens": 2},
    }


def _assert_envelope(r: httpx.Response, code: int, status: str) -> dict[str, Any]:
    assert r.status_code == code, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code and err["status"] == status and err["message"]
    return err


JPEG = image_bytes(64, 48)
CASES = [
    (
        "corrupt image",
        _image_body(b"\xff\xd8\xff\xe0" + b"\x00" * 200, "image/jpeg"),
        400,
        "INVALID_ARGUMENT",
    ),
    ("truncated image", _image_body(JPEG[: len(JPEG) // 2], "image/jpeg"), 400, "INVALID_ARGUMENT"),
    (
        "mime that lies",
        _image_body(b"just some text, not a picture", "image/png"),
        400,
        "INVALID_ARGUMENT",
    ),
    ("bomb", _image_body(png_bomb_header(), "image/png"), 400, "INVALID_ARGUMENT"),
    (
        "invalid base64",
        {"contents": [{"parts": [{"inlineData": {"data": "!!!*", "mimeType": "image/png"}}]}]},
        400,
        "INVALID_ARGUMENT",
    ),
    (
        "unknown file",
        {
            "contents": [
                {
                    "parts": [
                        {"fileData": {"fileUri": "files/doesnotexist1", "mimeType": "image/png"}},
                        {"text": "x"},
                    ]
                }
            ]
        },
        404,
        "NOT_FOUND",
    ),
    ("no contents", {"contents": []}, 400, "INVALID_ARGUMENT"),
    (
        "youtube offline",
        {
            "contents": [
                {
                    "parts": [
                        {"fileData": {"fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}},
                        {"text": "x"},
                    ]
                }
            ]
        },
        503,  # the test network guard refuses the connection: YouTube is unreachable
        "UNAVAILABLE",
    ),
]


@pytest.mark.parametrize(("name", "body", "code", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_requests(server: Any, name: str, body: Any, code: int, status: str) -> None:
    _assert_envelope(_post(server, body), code, status)
    ok = _post(server, _image_body(JPEG, "image/jpeg"))
    assert ok.status_code == 200, ok.text


def test_png_declared_as_jpeg_is_accepted(server: Any) -> None:
    """`Part.from_bytes(mime_type='image/jpeg')` on PNG bytes is a copy-paste slip: sniff it."""
    assert _post(server, _image_body(image_bytes(64, 48, "PNG"), "image/jpeg")).status_code == 200


def test_garbage_json_and_unknown_routes(server: Any) -> None:
    _assert_envelope(_post(server, None, raw=b"{not json"), 400, "INVALID_ARGUMENT")
    _assert_envelope(_post(server, {"contents": "x"}, model="nope"), 404, "NOT_FOUND")
    _assert_envelope(httpx.get(f"{server.url}/v1beta/nothing-here"), 404, "NOT_FOUND")
    _assert_envelope(
        httpx.post(f"{server.url}/v1beta/models/gemini-2.5-flash:explode", json={}),
        404,
        "NOT_FOUND",
    )


def test_body_over_the_limit(make_server: Any) -> None:
    srv = make_server(max_request_bytes=100_000)
    body = _image_body(b"\x00" * 200_000, "image/png")
    err = _assert_envelope(_post(srv, body), 400, "INVALID_ARGUMENT")
    assert "exceeds the limit" in err["message"]
    assert _post(srv, _image_body(JPEG, "image/jpeg")).status_code == 200


def test_keys(make_server: Any) -> None:
    srv = make_server(api_keys="alpha,beta")
    _assert_envelope(_post(srv, _image_body(JPEG, "image/jpeg"), key=None), 401, "UNAUTHENTICATED")
    _assert_envelope(
        _post(srv, _image_body(JPEG, "image/jpeg"), key="gamma"), 400, "INVALID_ARGUMENT"
    )
    assert _post(srv, _image_body(JPEG, "image/jpeg"), key="beta").status_code == 200
    r = httpx.get(f"{srv.url}/v1beta/models", params={"key": "alpha"})
    assert r.status_code == 200 and r.json()["models"]
