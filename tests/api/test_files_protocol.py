"""The upload protocol and Files routes over raw HTTP: lenient start bodies, chunk rules, the
`x-goog-upload-status` header on every chunk reply (errors included), one-request uploads, auth
and owner scoping, and the error envelope."""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any

import httpx
import pytest
from PIL import Image

KEY = {"x-goog-api-key": "test"}


def start(
    server: Any,
    size: int,
    body: str | bytes = "{}",
    mime: str = "image/png",
    headers: dict[str, str] | None = None,
    version: str = "v1",
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/upload/{version}/files",
        headers={
            **KEY,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime,
            "Content-Type": "application/json",
            **(headers or {}),
        },
        content=body,
    )


def chunk(url: str, offset: int | None, data: bytes, command: str = "upload") -> httpx.Response:
    headers = {"X-Goog-Upload-Command": command, "Content-Type": "application/json"}
    if offset is not None:
        headers["X-Goog-Upload-Offset"] = str(offset)
    return httpx.post(url, headers=headers, content=data, timeout=30)


def assert_error(resp: httpx.Response, code: int, status: str) -> dict[str, Any]:
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "display_name"),
    [
        ('{"file": {"display_name": "snake", "mime_type": "image/png", "size_bytes": 4}}', "snake"),
        ('{"file": {"displayName": "camel", "mimeType": "image/png", "sizeBytes": "4"}}', "camel"),
        ("{'file': {'display_name': 'single quoted'}}", "single quoted"),
        ("{}", None),
        ("", None),
        ("this is not json at all {", None),
    ],
)
def test_start_body_is_lenient(files_server: Any, body: str, display_name: str | None) -> None:
    resp = start(files_server, 4, body)
    assert resp.status_code == 200, resp.text
    raw_names = [k for k, _ in resp.headers.raw]
    assert b"x-goog-upload-url" in raw_names  # exact lowercase: aiohttp keeps server case
    url = resp.headers["x-goog-upload-url"]
    assert " " not in url
    assert url.startswith(f"{files_server.url}/upload/v1/files?upload_id=")
    assert url.endswith("&upload_protocol=resumable")
    assert resp.headers["x-goog-upload-status"] == "active"
    assert resp.headers["x-goog-upload-chunk-granularity"] == "8388608"
    done = chunk(url, 0, b"abcd", "upload, finalize")
    assert done.status_code == 200
    assert done.headers["x-goog-upload-status"] == "final"
    file = done.json()["file"]
    assert file.get("displayName") == display_name
    assert file["sizeBytes"] == "4"
    assert file["mimeType"] == "image/png"


def noise_png() -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", (24, 24), os.urandom(24 * 24 * 3)).save(buf, format="PNG")
    return buf.getvalue()


def test_chunks_resend_query_and_finalize(files_server: Any) -> None:
    data = noise_png()
    assert len(data) > 1000
    url = start(files_server, len(data)).headers["x-goog-upload-url"]
    first = chunk(url, 0, data[:400])
    assert first.status_code == 200 and first.text == ""
    assert first.headers["x-goog-upload-status"] == "active"
    again = chunk(url, 0, data[:400])  # the SDK re-sends when it misses the status header
    assert again.headers["x-goog-upload-status"] == "active"
    assert again.headers["x-goog-upload-size-received"] == "400"
    query = chunk(url, None, b"", "query")
    assert query.headers["x-goog-upload-size-received"] == "400"
    assert chunk(url, 300, data[300:700]).headers["x-goog-upload-size-received"] == "700"
    done = chunk(url, 700, data[700:], "upload, finalize")
    assert done.status_code == 200, done.text
    assert done.headers["x-goog-upload-status"] == "final"
    file = done.json()["file"]
    assert file["state"] == "ACTIVE" and file["source"] == "UPLOADED"
    assert set(file) >= {
        "name",
        "uri",
        "mimeType",
        "sizeBytes",
        "state",
        "createTime",
        "updateTime",
        "expirationTime",
        "sha256Hash",
        "source",
    }
    got = httpx.get(f"{files_server.url}/v1beta/{file['name']}", headers=KEY).json()
    assert got["sha256Hash"] == file["sha256Hash"]
    assert got["uri"].endswith(f"/v1beta/{file['name']}")
    assert chunk(url, None, b"", "finalize").status_code == 404  # the session is spent


@pytest.mark.parametrize(
    ("offset", "data", "command", "code", "status"),
    [
        (500, b"x" * 10, "upload", 400, "INVALID_ARGUMENT"),  # gap
        (0, b"x" * 101, "upload", 400, "INVALID_ARGUMENT"),  # past the declared size
        (0, b"x" * 50, "upload, finalize", 400, "INVALID_ARGUMENT"),  # finalize short
        (None, b"x", "upload", 400, "INVALID_ARGUMENT"),  # no offset
        (0, b"x", "explode", 400, "INVALID_ARGUMENT"),  # unknown command
    ],
)
def test_chunk_errors_are_final(
    files_server: Any, offset: int | None, data: bytes, command: str, code: int, status: str
) -> None:
    url = start(files_server, 100).headers["x-goog-upload-url"]
    resp = chunk(url, offset, data, command)
    assert resp.headers["x-goog-upload-status"] == "final"
    assert_error(resp, code, status)


def test_big_chunk_at_wrong_offset_gets_a_clean_400(files_server: Any) -> None:
    """The server answers before reading 9 MiB; the client must still read that answer."""
    size = 9 * 1024 * 1024
    url = start(files_server, 2 * size).headers["x-goog-upload-url"]
    resp = chunk(url, 123, os.urandom(size))
    assert resp.headers["x-goog-upload-status"] == "final"
    assert_error(resp, 400, "INVALID_ARGUMENT")


def test_unknown_upload_id(files_server: Any) -> None:
    resp = chunk(
        f"{files_server.url}/upload/v1/files?upload_id=nope&upload_protocol=resumable",
        0,
        b"abc",
        "upload, finalize",
    )
    assert resp.headers["x-goog-upload-status"] == "final"
    assert_error(resp, 404, "NOT_FOUND")


def test_chosen_name_and_conflict(files_server: Any) -> None:
    body = json.dumps({"file": {"name": "files/mychosen1"}})
    url = start(files_server, 1, body).headers["x-goog-upload-url"]
    assert chunk(url, 0, b"z", "upload, finalize").json()["file"]["name"] == "files/mychosen1"
    assert_error(start(files_server, 1, body), 409, "ALREADY_EXISTS")
    assert_error(
        start(files_server, 1, '{"file": {"name": "files/Bad-Name"}}'), 400, "INVALID_ARGUMENT"
    )


def test_upload_url_follows_forwarded_headers(files_server: Any) -> None:
    resp = start(
        files_server,
        1,
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "files.example.com"},
    )
    assert resp.headers["x-goog-upload-url"].startswith(
        "https://files.example.com/upload/v1/files?upload_id="
    )


def test_media_upload(files_server: Any) -> None:
    data = os.urandom(5000)
    resp = httpx.post(
        f"{files_server.url}/upload/v1beta/files?uploadType=media",
        headers={**KEY, "Content-Type": "video/mp4"},
        content=data,
    )
    assert resp.status_code == 200, resp.text
    file = resp.json()["file"]
    assert file["mimeType"] == "video/mp4" and file["sizeBytes"] == "5000"


@pytest.mark.parametrize("kind", ["related", "form-data"])
def test_multipart_upload(files_server: Any, kind: str) -> None:
    data = os.urandom(70_000) + b"\r\n--not-the-boundary\r\n"
    meta = json.dumps({"file": {"displayName": "multi", "mimeType": "image/webp"}})
    boundary = "b0undary42"
    if kind == "related":
        parts = [
            ("Content-Type: application/json; charset=UTF-8", meta.encode()),
            ("Content-Type: application/octet-stream", data),
        ]
    else:
        parts = [
            (
                'Content-Disposition: form-data; name="metadata"\r\nContent-Type: application/json',
                meta.encode(),
            ),
            (
                'Content-Disposition: form-data; name="file"; filename="x.webp"\r\n'
                "Content-Type: application/octet-stream",
                data,
            ),
        ]
    body = b"preamble\r\n"
    for headers, payload in parts:
        body += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + payload + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    resp = httpx.post(
        f"{files_server.url}/upload/v1beta/files?uploadType=multipart",
        headers={**KEY, "Content-Type": f"multipart/{kind}; boundary={boundary}"},
        content=body,
    )
    assert resp.status_code == 200, resp.text
    file = resp.json()["file"]
    assert file["displayName"] == "multi" and file["mimeType"] == "image/webp"
    assert file["sizeBytes"] == str(len(data))
    stored = [p for p in (files_server.settings.blob_dir / "files").rglob("*") if p.is_file()]
    assert hashlib.sha256(stored[0].read_bytes()).digest() == hashlib.sha256(data).digest()


def test_failed_file_has_error_object(files_server: Any) -> None:
    truncated = noise_png()[:300]
    url = start(files_server, len(truncated)).headers["x-goog-upload-url"]
    file = chunk(url, 0, truncated, "upload, finalize").json()["file"]
    assert file["state"] == "FAILED"
    assert file["error"]["code"] == 400 and file["error"]["message"]


def test_auth_and_owner_scoping(make_files_server: Any) -> None:
    server = make_files_server(api_keys=["key-a", "key-b"])
    a, b = {"x-goog-api-key": "key-a"}, {"x-goog-api-key": "key-b"}
    url = start(server, 1, headers=a).headers["x-goog-upload-url"]
    name = chunk(url, 0, b"q", "upload, finalize").json()["file"]["name"]  # no key on chunks
    assert httpx.get(f"{server.url}/v1/{name}", headers=a).status_code == 200
    assert httpx.get(f"{server.url}/v1/{name}?key=key-a").status_code == 200
    assert_error(httpx.get(f"{server.url}/v1/{name}", headers=b), 404, "NOT_FOUND")
    assert_error(httpx.delete(f"{server.url}/v1/{name}", headers=b), 404, "NOT_FOUND")
    assert httpx.get(f"{server.url}/v1/files", headers=b).json() == {}
    assert_error(httpx.get(f"{server.url}/v1/{name}"), 401, "UNAUTHENTICATED")
    bad = assert_error(
        httpx.get(f"{server.url}/v1/files", headers={"x-goog-api-key": "nope"}),
        400,
        "INVALID_ARGUMENT",
    )
    assert any(d.get("reason") == "API_KEY_INVALID" for d in bad["details"])
    assert_error(start(server, 1, headers={"x-goog-api-key": "nope"}), 400, "INVALID_ARGUMENT")
    deleted = httpx.delete(f"{server.url}/v1/{name}", headers=a)
    assert deleted.status_code == 200 and deleted.json() == {}


def test_list_paging_and_bad_params(files_server: Any) -> None:
    for _ in range(3):
        url = start(files_server, 1).headers["x-goog-upload-url"]
        chunk(url, 0, b"1", "upload, finalize")
    first = httpx.get(f"{files_server.url}/v1/files?pageSize=2", headers=KEY).json()
    assert len(first["files"]) == 2 and first["nextPageToken"]
    rest = httpx.get(
        f"{files_server.url}/v1/files",
        params={"pageSize": 2, "pageToken": first["nextPageToken"]},
        headers=KEY,
    ).json()
    assert len(rest["files"]) == 1 and "nextPageToken" not in rest
    assert_error(
        httpx.get(f"{files_server.url}/v1/files?pageSize=x", headers=KEY), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        httpx.get(f"{files_server.url}/v1/files?pageToken=%%%", headers=KEY),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(httpx.get(f"{files_server.url}/v1/files/UPPER", headers=KEY), 404, "NOT_FOUND")


def test_zero_byte_file_is_one_empty_finalize(files_server: Any) -> None:
    url = start(files_server, 0, mime="text/plain").headers["x-goog-upload-url"]
    done = chunk(url, 0, b"", "upload, finalize")
    assert done.status_code == 200 and done.headers["x-goog-upload-status"] == "final"
    assert done.json()["file"]["sizeBytes"] == "0"


def test_upload_sessions_per_key_are_capped(make_files_server: Any) -> None:
    """Issue: one key opened 2,000 upload sessions; past the cap it gets 429."""
    server = make_files_server(max_upload_sessions_per_key=2, storage_quota_bytes=100)
    for _ in range(2):
        assert start(server, 1).status_code == 200
    error = assert_error(start(server, 1), 429, "RESOURCE_EXHAUSTED")
    assert "upload sessions" in error["message"]
    other = make_files_server(storage_quota_bytes=100)
    assert start(other, 60).status_code == 200  # declared, nothing sent
    error = assert_error(start(other, 60), 429, "RESOURCE_EXHAUSTED")
    assert "quota of 100 bytes" in error["message"]


def test_abandoned_sessions_expire_in_hours() -> None:
    from sightd.settings import Settings

    assert Settings().upload_session_ttl_s <= 24 * 3600
    assert Settings().max_upload_sessions_per_key <= 256


def test_chosen_names_are_per_key(make_files_server: Any) -> None:
    """Issue: B got 409 for `files/x` because A had it, learning of A's file, and could squat."""
    server = make_files_server(api_keys=["key-a", "key-b"])
    a, b = {"x-goog-api-key": "key-a"}, {"x-goog-api-key": "key-b"}
    body = json.dumps({"file": {"name": "files/shared1"}})

    def create(key: dict[str, str], data: bytes) -> httpx.Response:
        url = start(server, len(data), body, headers=key).headers["x-goog-upload-url"]
        return chunk(url, 0, data, "upload, finalize")

    assert create(b, b"bb").json()["file"]["name"] == "files/shared1"  # B squats first
    made = create(a, b"a").json()["file"]  # A still gets its own name
    assert made["name"] == "files/shared1" and made["uri"].endswith("/files/shared1")
    got_a = httpx.get(f"{server.url}/v1/files/shared1", headers=a).json()
    got_b = httpx.get(f"{server.url}/v1/files/shared1", headers=b).json()
    assert (got_a["sizeBytes"], got_b["sizeBytes"]) == ("1", "2")
    assert_error(start(server, 1, body, headers=a), 409, "ALREADY_EXISTS")  # own name: 409
    assert httpx.delete(f"{server.url}/v1/files/shared1", headers=b).status_code == 200
    assert httpx.get(f"{server.url}/v1/files/shared1", headers=a).status_code == 200
    listed = httpx.get(f"{server.url}/v1/files", headers=a).json()["files"]
    assert [f["name"] for f in listed] == ["files/shared1"]
