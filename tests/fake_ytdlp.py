"""A stand-in for `yt_dlp.YoutubeDL` that 'downloads' by encoding a small test video, so the
YouTube path runs end to end with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.video_factory import make_video


class FakeYoutubeDL:
    """Honours what sightd passes that matters here: outtmpl, allowed_extractors, the URL."""

    calls: list[tuple[str, dict[str, Any]]] = []  # noqa: RUF012  (a test record, shared)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def __enter__(self) -> FakeYoutubeDL:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def extract_info(self, url: str, download: bool = True) -> dict[str, Any]:
        FakeYoutubeDL.calls.append((url, self.options))
        vid = url.rsplit("v=", 1)[-1]
        path = Path(self.options["outtmpl"].replace("%(id)s", vid).replace("%(ext)s", "mp4"))
        make_video(path, 2, 10, (96, 64), "mp4")
        return {"id": vid, "ext": "mp4", "requested_downloads": [{"filepath": str(path)}]}
