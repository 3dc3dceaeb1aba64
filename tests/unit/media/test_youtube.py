"""YouTube URLs: recognition, the yt-dlp options that keep it single-file and YouTube-only,
and failing fast (naming YouTube and the Files API) when there is no route to it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from sightd import errors
from sightd.media import youtube
from tests.fake_ytdlp import FakeYoutubeDL

VID = "9hE5-98ZeCg"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://www.youtube.com/watch?v={VID}", VID),
        (f"https://youtube.com/watch?v={VID}&t=30s", VID),
        (f"https://m.youtube.com/watch?feature=share&v={VID}", VID),
        (f"https://youtu.be/{VID}?si=abc", VID),
        (f"https://www.youtube.com/shorts/{VID}", VID),
        (f"https://www.youtube.com/embed/{VID}?start=3", VID),
        (f"https://www.youtube-nocookie.com/embed/{VID}", VID),
        (f"https://www.youtube.com/live/{VID}", VID),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://www.youtube.com/@channel", None),
        (f"https://evil.example/watch?v={VID}", None),
        (f"https://www.youtube.com.evil.example/watch?v={VID}", None),
        (f"ftp://www.youtube.com/watch?v={VID}", None),
    ],
)
def test_video_id(url: str, expected: str | None) -> None:
    assert youtube.video_id(url) == expected


def test_is_youtube_is_about_the_host() -> None:
    assert youtube.is_youtube("https://www.youtube.com/@channel")
    assert not youtube.is_youtube("https://notyoutube.com/watch?v=" + VID)


def test_download_with_a_stub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import yt_dlp

    monkeypatch.setattr(yt_dlp, "YoutubeDL", FakeYoutubeDL)
    monkeypatch.setattr(youtube, "precheck", lambda resolve=None: None)
    FakeYoutubeDL.calls.clear()
    got = youtube.download(f"https://youtu.be/{VID}", tmp_path, max_bytes=10**8, timeout_s=30)
    assert got.path.is_file() and got.size_bytes == got.path.stat().st_size > 0
    (url, options), *_ = FakeYoutubeDL.calls
    assert url == f"https://www.youtube.com/watch?v={VID}"
    assert options["allowed_extractors"] == ["youtube"]
    assert options["retries"] == 0 and options["socket_timeout"] <= 30
    assert "+" not in options["format"]  # never a merge of separate streams (needs ffmpeg)
    assert options["max_filesize"] == 10**8


def test_offline_fails_fast_and_names_youtube(tmp_path: Path) -> None:
    """The test network guard refuses the connection, as an offline box would."""
    start = time.monotonic()
    with pytest.raises(errors.Unavailable) as caught:
        youtube.download(
            f"https://www.youtube.com/watch?v={VID}", tmp_path, max_bytes=10**8, timeout_s=60
        )
    assert time.monotonic() - start < 8
    assert "YouTube" in caught.value.message and "Files API" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_missing_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    with pytest.raises(errors.MissingExtra, match="youtube"):
        youtube.download(
            f"https://www.youtube.com/watch?v={VID}", tmp_path, max_bytes=10**8, timeout_s=60
        )


def test_not_a_video_url(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="not a YouTube video URL"):
        youtube.download(
            "https://www.youtube.com/@channel", tmp_path, max_bytes=10**8, timeout_s=60
        )
