"""Media by URL through the official SDK against a live sightd: a video on a local HTTP server
(allowlisted) counts VIDEO tokens and is fetched once; the same URL without the allowlist is a
clean 400; YouTube works through a stubbed yt-dlp and fails fast offline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.fake_ytdlp import FakeYoutubeDL
from tests.live import LiveServer
from tests.media_server import MediaServer, Route, media_server
from tests.video_factory import make_video

SHORT = types.GenerateContentConfig(max_output_tokens=2)
YOUTUBE = "https://www.youtube.com/watch?v=9hE5-98ZeCg"


def _client(server: LiveServer) -> Any:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=server.url))


def _details(response: Any) -> dict[str, int]:
    return {d.modality.name: d.token_count for d in response.usage_metadata.prompt_tokens_details}


@pytest.fixture
def media(tmp_path: Path) -> Iterator[MediaServer]:
    video = make_video(tmp_path / "clip.mp4", 3, 10, (96, 64), "mp4").read_bytes()
    routes = {
        "/clip.mp4": Route(video, content_type="video/mp4"),
        "/octet": Route(video),  # no useful Content-Type: the bytes decide
        "/redirect": Route(status=302, location="http://169.254.169.254/latest/meta-data/"),
    }
    with media_server(routes) as server:
        yield server


def test_video_url_generates_and_counts(
    make_server: Callable[..., LiveServer], media: MediaServer
) -> None:
    client = _client(make_server(url_allowlist="127.0.0.1/32"))
    part = types.Part.from_uri(file_uri=media.url("/clip.mp4"), mime_type="video/mp4")
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=[part, "Describe."], config=SHORT
    )
    assert response.text is not None
    assert _details(response)["VIDEO"] == 3 * 258
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents=[part, "Describe."])
    assert counted.total_tokens == response.usage_metadata.prompt_token_count
    assert len(media.hosts) == 1  # fetched once, then served from the URL cache

    untyped = types.Part(file_data=types.FileData(file_uri=media.url("/octet")))
    again = client.models.count_tokens(model="gemini-2.5-flash", contents=[untyped, "Describe."])
    assert again.total_tokens == counted.total_tokens


def test_loopback_url_refused_without_allowlist(
    make_server: Callable[..., LiveServer], media: MediaServer
) -> None:
    client = _client(make_server())
    part = types.Part.from_uri(file_uri=media.url("/clip.mp4"), mime_type="video/mp4")
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents=[part, "x"])
    assert caught.value.code == 400 and "loopback" in str(caught.value.message)
    assert media.hosts == []


def test_redirect_to_metadata_refused(
    make_server: Callable[..., LiveServer], media: MediaServer
) -> None:
    client = _client(make_server(url_allowlist="127.0.0.1"))
    part = types.Part.from_uri(file_uri=media.url("/redirect"), mime_type="video/mp4")
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents=[part, "x"])
    assert caught.value.code == 400 and "169.254.169.254" in str(caught.value.message)


def test_url_fetch_switched_off(make_server: Callable[..., LiveServer], media: MediaServer) -> None:
    client = _client(make_server(url_allowlist="127.0.0.1", url_fetch=False))
    part = types.Part.from_uri(file_uri=media.url("/clip.mp4"), mime_type="video/mp4")
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents=[part, "x"])
    assert caught.value.code == 400 and media.hosts == []


def test_youtube_with_stubbed_ytdlp(
    make_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yt_dlp

    from sightd.media import youtube

    monkeypatch.setattr(yt_dlp, "YoutubeDL", FakeYoutubeDL)
    monkeypatch.setattr(youtube, "precheck", lambda resolve=None: None)
    client = _client(make_server())
    part = types.Part(file_data=types.FileData(file_uri=YOUTUBE))
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=[part, "Summarize."], config=SHORT
    )
    assert _details(response)["VIDEO"] == 2 * 258


def test_youtube_offline_is_a_fast_clean_503(make_server: Callable[..., LiveServer]) -> None:
    import time

    client = _client(make_server())
    part = types.Part(file_data=types.FileData(file_uri=YOUTUBE))
    start = time.monotonic()
    with pytest.raises(genai_errors.ServerError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents=[part, "x"])
    assert time.monotonic() - start < 8
    assert caught.value.code == 503 and "YouTube" in str(caught.value.message)


def test_interactions_uri_block(make_server: Callable[..., LiveServer], media: MediaServer) -> None:
    """An Interactions `video` block with a `uri` goes through the same guarded fetch."""
    import httpx

    server = make_server(url_allowlist="127.0.0.1")
    body = {
        "model": "gemini-2.5-flash",
        "input": [
            {"type": "video", "uri": media.url("/clip.mp4"), "mime_type": "video/mp4"},
            {"type": "text", "text": "Describe."},
        ],
        "generation_config": {"max_output_tokens": 2},
    }
    r = httpx.post(f"{server.url}/v1beta/interactions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("completed", "incomplete") and len(media.hosts) == 1
