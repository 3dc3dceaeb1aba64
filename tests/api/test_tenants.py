"""Tenants cannot touch each other (issue: Hardening, "B can neither see, use, delete, cancel,
nor learn the existence of anything of A's, by any route").

Key A stores a file (under a name it chose), a finished interaction and a background one. Key B
then tries every route that takes a file, a file URI or an interaction id, with A's and with
names that never existed: each answer must be the same as for the never-existing one (status,
error status and message with the name swapped), so B learns nothing; and afterwards A's
things are all still there, unchanged.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image

A, B = {"x-goog-api-key": "key-a"}, {"x-goog-api-key": "key-b"}
MODEL = "/v1beta/models/gemini-2.5-flash"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def _upload(server: Any, key: dict[str, str], name: str, data: bytes) -> dict[str, Any]:
    start = httpx.post(
        f"{server.url}/upload/v1beta/files",
        headers={
            **key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "image/png",
            "Content-Type": "application/json",
        },
        content=json.dumps({"file": {"name": name}}),
    )
    assert start.status_code == 200, start.text
    done = httpx.post(
        start.headers["x-goog-upload-url"],
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        content=data,
        timeout=30,
    )
    assert done.status_code == 200, done.text
    file: dict[str, Any] = done.json()["file"]
    return file


def _interaction(server: Any, key: dict[str, str], background: bool) -> str:
    body = {
        "model": "gemini-2.5-flash",
        "input": "Say hi.",
        "background": background,
        "generation_config": {"max_output_tokens": 2 if not background else 400},
    }
    r = httpx.post(f"{server.url}/v1beta/interactions", json=body, headers=key, timeout=60)
    assert r.status_code == 200, r.text
    iid: str = r.json()["id"]
    return iid


def _shape(r: httpx.Response, secret: str, stand_in: str) -> tuple[int, str, str]:
    """What a caller can read from an answer, with `secret` (A's id) written as `stand_in`
    (the never-existing one), so the two can be compared."""
    try:
        error = r.json().get("error", {})
    except ValueError:
        error = {}
    message = str(error.get("message", r.text)).replace(secret, stand_in)
    return r.status_code, str(error.get("status", "")), message


def _id_of(value: str) -> str:
    """The id inside a name or URI: `…/files/abc` → `abc`."""
    return value.rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture
def two_tenants(make_server: Any) -> tuple[Any, dict[str, Any]]:
    server = make_server(api_keys="key-a,key-b")
    file = _upload(server, A, "files/private1", _png())
    assert httpx.get(f"{server.url}/v1beta/{file['name']}", headers=A).json()["state"] == "ACTIVE"
    done = _interaction(server, A, background=False)
    running = _interaction(server, A, background=True)
    return server, {"file": file, "done": done, "running": running}


def test_b_cannot_see_use_delete_cancel_or_learn_of_as_things(
    two_tenants: tuple[Any, dict[str, Any]],
) -> None:
    server, mine = two_tenants
    url = server.url
    file = mine["file"]
    fid = file["name"].removeprefix("files/")
    never_fid = "never1"
    never_uri = file["uri"].replace(fid, never_fid)

    def same(request: Any, secret: str, stand_in: str) -> None:
        theirs, nothing = request(secret), request(stand_in)
        assert theirs.status_code >= 400, f"B used A's {secret}: {theirs.text}"
        hidden, shown = _id_of(secret), _id_of(stand_in)
        assert _shape(theirs, hidden, shown) == _shape(nothing, hidden, shown)

    def image_part(uri: str) -> dict[str, Any]:
        return {"fileData": {"fileUri": uri, "mimeType": "image/png"}}

    def generate(uri: str, route: str = "generateContent") -> httpx.Response:
        body = {"contents": [{"role": "user", "parts": [image_part(uri), {"text": "What?"}]}]}
        return httpx.post(f"{url}{MODEL}:{route}", json=body, headers=B, timeout=60)

    # Files: get, delete, use in generateContent / stream / countTokens / Interactions / web.
    same(lambda f: httpx.get(f"{url}/v1beta/files/{f}", headers=B), fid, never_fid)
    same(lambda f: httpx.delete(f"{url}/v1beta/files/{f}", headers=B), fid, never_fid)
    same(generate, file["uri"], never_uri)
    same(lambda u: generate(u, "streamGenerateContent?alt=sse"), file["uri"], never_uri)
    same(lambda u: generate(u, "countTokens"), file["uri"], never_uri)
    same(
        lambda u: httpx.post(
            f"{url}/v1beta/interactions",
            json={
                "model": "gemini-2.5-flash",
                "input": [{"type": "image", "uri": u, "mime_type": "image/png"}, "What?"],
            },
            headers=B,
            timeout=60,
        ),
        file["uri"],
        never_uri,
    )
    same(
        lambda f: httpx.post(f"{url}/web/inspect", json={"file": f"files/{f}"}, headers=B),
        fid,
        never_fid,
    )
    listed = httpx.get(f"{url}/v1beta/files", headers=B).json()
    assert listed.get("files", []) == []

    # Interactions: get, delete, cancel, continue from, for a finished and a running one.
    never_iid = "v1_" + "x" * 20
    for iid in (mine["done"], mine["running"]):
        same(lambda i: httpx.get(f"{url}/v1beta/interactions/{i}", headers=B), iid, never_iid)
        same(lambda i: httpx.delete(f"{url}/v1beta/interactions/{i}", headers=B), iid, never_iid)
        same(
            lambda i: httpx.post(f"{url}/v1beta/interactions/{i}/cancel", headers=B),
            iid,
            never_iid,
        )
        same(
            lambda i: httpx.post(
                f"{url}/v1beta/interactions",
                json={"model": "gemini-2.5-flash", "input": "And?", "previous_interaction_id": i},
                headers=B,
                timeout=60,
            ),
            iid,
            never_iid,
        )

    # B may take the same file name in its own namespace (no 409, no squatting).
    assert _upload(server, B, "files/private1", b"\x89PNG-not-really")["name"] == "files/private1"

    # A's things are all still there, A's file unchanged, A's background job not cancelled.
    got = httpx.get(f"{url}/v1beta/files/{fid}", headers=A).json()
    assert (got["sizeBytes"], got["sha256Hash"]) == (file["sizeBytes"], file["sha256Hash"])
    for iid in (mine["done"], mine["running"]):
        r = httpx.get(f"{url}/v1beta/interactions/{iid}", headers=A)
        assert r.status_code == 200 and r.json()["status"] != "cancelled", r.text
