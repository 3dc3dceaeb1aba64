"""YouTube URLs: recognised here, downloaded with yt-dlp (the `youtube` extra).

yt-dlp opens its own connections, which `media.fetch`'s pinning cannot police, so only URLs
naming a YouTube host reach it, and only its YouTube extractor is enabled. It retries and waits
by default, which on a machine without a route to YouTube turns a request into minutes of
silence: a quick DNS + TCP check runs first, retries are off and socket reads time out, so an
offline server answers UNAVAILABLE in seconds, naming YouTube and the Files API alternative.
The chosen format is the best *single file* (progressive mp4 first) within the size cap, since
merging separate audio/video streams needs an ffmpeg binary this server may not have.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sightd import errors
from sightd.media.fetch import FetchedMedia, Resolver, resolve_with_timeout, system_resolve

HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
        "youtu.be",
    }
)
_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_PATH_ID = re.compile(r"^/(?:shorts|embed|live|v)/([A-Za-z0-9_-]{11})(?:[/?#]|$)")
PRECHECK_HOST = "www.youtube.com"
PRECHECK_TIMEOUT_S = 3.0
SOCKET_TIMEOUT_S = 15.0
_UNREACHABLE = (
    "YouTube is not reachable from this server ({why}). Download the video and upload it with "
    "the Files API instead."
)


def is_youtube(url: str) -> bool:
    """Whether the URL names a YouTube host (whatever its path)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return False
    return host in HOSTS


def video_id(url: str) -> str | None:
    """The 11-character id of a watch, youtu.be, shorts, embed or live URL; None otherwise."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")
    if host not in HOSTS or parts.scheme not in ("http", "https"):
        return None
    if host == "youtu.be":
        candidate = parts.path.strip("/").split("/", 1)[0]
        return candidate if _ID.fullmatch(candidate) else None
    if parts.path.rstrip("/") == "/watch":
        values = parse_qs(parts.query).get("v", [])
        return values[0] if values and _ID.fullmatch(values[0]) else None
    match = _PATH_ID.match(parts.path)
    return match.group(1) if match else None


def precheck(resolve: Resolver = system_resolve, timeout_s: float = PRECHECK_TIMEOUT_S) -> None:
    """Fail in seconds when YouTube cannot be reached (DNS, then a TCP connect to :443)."""
    try:
        addresses = resolve_with_timeout(PRECHECK_HOST, 443, resolve, time.monotonic() + timeout_s)
    except errors.SightdError as exc:
        raise errors.Unavailable(_UNREACHABLE.format(why="its name does not resolve")) from exc
    last: OSError | None = None
    for address in addresses[:2]:
        try:
            with socket.create_connection((address, 443), timeout=timeout_s):
                return
        except OSError as exc:
            last = exc
    raise errors.Unavailable(_UNREACHABLE.format(why=f"connecting failed: {last}"))


def _load() -> Any:
    try:
        import yt_dlp
    except ImportError as exc:
        raise errors.MissingExtra("yt-dlp", "youtube") from exc
    return yt_dlp


class _QuietLogger:
    """yt-dlp prints to stdout by default; a server keeps its log for its own lines."""

    def debug(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        pass


def download(
    url: str,
    dest_dir: Path,
    *,
    max_bytes: int,
    timeout_s: float,
    resolve: Resolver = system_resolve,
) -> FetchedMedia:
    """Download one YouTube video into `dest_dir` as a single file (blocking)."""
    vid = video_id(url)
    if vid is None:
        raise errors.InvalidArgument(
            f"{url} is not a YouTube video URL (watch?v=, youtu.be/, shorts/ or embed/ with an "
            "11-character id)."
        )
    yt_dlp = _load()
    precheck(resolve)
    deadline = time.monotonic() + timeout_s

    def on_progress(status: dict[str, Any]) -> None:
        if time.monotonic() > deadline:
            raise errors.DeadlineExceeded(
                f"Downloading {url} from YouTube took longer than {timeout_s:g} s."
            )

    options: dict[str, Any] = {
        # Progressive (audio+video in one file) formats only: nothing to merge, no ffmpeg.
        "format": f"best[ext=mp4][filesize<=?{max_bytes}]/best[filesize<=?{max_bytes}]",
        "outtmpl": str(dest_dir / "%(id)s.%(ext)s"),
        "paths": {"home": str(dest_dir), "temp": str(dest_dir)},
        "max_filesize": max_bytes,
        "noplaylist": True,
        "allowed_extractors": ["youtube"],
        "socket_timeout": SOCKET_TIMEOUT_S,
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "cachedir": False,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _QuietLogger(),
        "progress_hooks": [on_progress],
        "overwrites": True,
    }
    canonical = f"https://www.youtube.com/watch?v={vid}"
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(canonical, download=True)
    except errors.SightdError:
        raise
    except Exception as exc:  # yt-dlp's DownloadError and whatever its extractors raise
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, errors.SightdError):
            raise cause from exc
        raise errors.Unavailable(
            f"Downloading {url} from YouTube failed: {_clean(exc)}. Download the video and "
            "upload it with the Files API instead."
        ) from exc
    path = _downloaded_path(info, dest_dir, vid)
    if path is None:
        raise errors.InvalidArgument(
            f"YouTube offers no single-file format of {url} within this server's size cap "
            f"({max_bytes} bytes); upload the video with the Files API instead."
        )
    return FetchedMedia(path, None, path.stat().st_size, canonical)


def _downloaded_path(info: Any, dest_dir: Path, vid: str) -> Path | None:
    if isinstance(info, dict):
        for item in info.get("requested_downloads") or ():
            candidate = Path(str(item.get("filepath") or ""))
            if candidate.is_file():
                return candidate
    found = [p for p in dest_dir.glob(f"{vid}.*") if p.suffix not in (".part", ".ytdl")]
    return found[0] if found else None


def _clean(exc: Exception) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).removeprefix("ERROR: ").strip()
