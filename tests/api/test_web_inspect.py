"""`POST /web/inspect`: the playground's view of `sightd inspect` over HTTP. It needs the API
key, sees only the caller's own files, and names the field it refuses."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.media_factory import image_bytes
from tests.video_factory import make_video

pytestmark = pytest.mark.slow


def _upload(url: str, key: str, name: str, data: bytes, mime: str) -> str:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url))

    stored = client.files.upload(
        file=io.BytesIO(data), config=types.UploadFileConfig(mime_type=mime, display_name=name)
    )
    assert stored.name
    return stored.name


def test_inspect_route(make_server: Any, tmp_path: Path) -> None:
    server = make_server(api_keys="alpha,beta", max_video_frames=3)
    video = make_video(tmp_path / "v.mp4", seconds=6.0, fps=10, size=(160, 120))
    name = _upload(server.url, "alpha", "v.mp4", video.read_bytes(), "video/mp4")
    route = f"{server.url}/web/inspect"

    def post(body: Any, key: str | None = "alpha") -> httpx.Response:
        headers = {"x-goog-api-key": key} if key else {}
        return httpx.post(route, json=body, headers=headers, timeout=60)

    assert post({"file": name}, key=None).status_code == 401
    assert post({"file": name}, key="gamma").status_code == 400
    other = post({"file": name}, key="beta")
    assert other.status_code == 404 and other.json()["error"]["status"] == "NOT_FOUND"

    ok = post({"file": name, "fps": 2, "start": 1, "end": 2, "resolution": "low"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-security-policy"].startswith("default-src 'self'")
    body = ok.json()
    assert [f["mmss"] for f in body["frames"]] == ["00:01", "00:01"]
    assert [f["timeSeconds"] for f in body["frames"]] == pytest.approx([1.0, 1.5], abs=0.06)
    for frame in body["frames"]:
        prefix = "data:image/jpeg;base64,"
        assert frame["image"].startswith(prefix)
        assert base64.b64decode(frame["image"][len(prefix) :])[:2] == b"\xff\xd8"
    assert body["name"] == "v.mp4" and "clipped to 00:01" in body["header"]
    assert body["totalTokens"] == sum(body["tokensByModality"].values()) > 0
    # The sampling's own frame budget bounds what comes back.
    whole = post({"file": name}).json()
    assert len(whole["frames"]) == 3
    # The served model's own count, beside Gemini's: more frames, more of its tokens.
    assert isinstance(body["modelTokens"], int) and whole["modelTokens"] > body["modelTokens"] > 0

    bad: dict[str, list[Any]] = {
        "file": [{"file": "x.mp4"}, {"file": "files/../x"}, {"file": 3}, {}],
        "fps": [{"file": name, "fps": 0}, {"file": name, "fps": "2"}, {"file": name, "fps": 99}],
        "start": [{"file": name, "start": -1}, {"file": name, "start": True}],
        "end": [{"file": name, "start": 3, "end": 2}],
        "resolution": [{"file": name, "resolution": "huge"}],
        "extra": [{"file": name, "extra": 1}],
    }
    for field, bodies in bad.items():
        for b in bodies:
            r = post(b)
            assert r.status_code == 400, (b, r.text)
            assert f"`{field}`" in r.json()["error"]["message"], (b, r.text)
    assert post([1]).status_code == 400
    assert httpx.post(route, content=b"{", headers={"x-goog-api-key": "alpha"}).status_code == 400

    image = _upload(server.url, "alpha", "p.jpg", image_bytes(64, 48), "image/jpeg")
    r = post({"file": image})
    assert r.status_code == 400 and "not a video" in r.json()["error"]["message"]
    assert post({"file": "files/doesnotexist"}).status_code == 404
