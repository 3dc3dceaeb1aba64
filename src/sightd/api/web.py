"""The playground page (`sightd.web`): `GET /` and its assets under `/web/`, mounted at the root
and again under the path prefix, every response with a strict Content-Security-Policy.

The page is a client of the Gemini REST API like any other; the only routes here that are not
static are `GET /web/model.json`, the load progress and family of the served model, which the
Gemini `Model` resource has no field for, and `POST /web/inspect`, what the model sees of one of
the caller's video files (`sightd inspect` in the browser). Both ask for the API key like the
Gemini routes do.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sightd import errors
from sightd.api import deps
from sightd.api.auth import Caller, caller
from sightd.api.body import parse_json_body, read_capped
from sightd.api.json import json_response
from sightd.media import mime as media_mime
from sightd.services import inspect as inspection
from sightd.services.inputs import FileMedia, MediaIn, VideoOptions

INSPECT_BODY_BYTES = 4096
_FILE_NAME = re.compile(r"^files/([a-z0-9]{1,40})$")
_RESOLUTIONS = ("low", "medium", "high")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    """One shipped file: its bytes, content type and strong ETag."""

    body: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every file under `sightd/web/static`, keyed by its relative path (`js/main.js`); read
    once from the package, so a request can only ever name a file that ships."""
    root = resources.files("sightd.web").joinpath("static")
    found: dict[str, Asset] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif child.is_file() and not child.name.startswith("."):
                body = child.read_bytes()
                suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
                media_type = _TYPES.get(suffix) or (
                    mimetypes.guess_type(child.name)[0] or "application/octet-stream"
                )
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                found[name] = Asset(body, media_type, etag)

    walk(root, "")
    return found


def _serve(request: Request, path: str) -> Response:
    asset = assets().get(path)
    if asset is None:
        raise errors.NotFound(f"No playground file {path!r}.")
    headers = {**SECURITY_HEADERS, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/")
async def page(request: Request) -> Response:
    """The playground (`index.html`); its links are relative, so it works under any prefix."""
    return _serve(request, "index.html")


@router.get("/web/model.json")
async def model_status(request: Request, _caller: Caller = Depends(caller)) -> Response:
    """`{"model", "stage", "fraction", "family"}`: the served model's id (never a local path),
    its load stage (pending, downloading, loading, ready, failed), the download fraction when
    known, and its family once loaded."""
    handle = deps.engine(request)
    progress = handle.progress
    backend = handle.backend
    body = {
        "model": deps.catalog(request).served_id,
        "stage": progress.stage,
        "fraction": progress.fraction,
        "family": backend.info.family if backend is not None else None,
    }
    return json_response(body, headers=SECURITY_HEADERS)


def _seconds(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise errors.InvalidArgument(
            f"`{name}` must be a number from {low:g} to {high:g}.", field=name
        )
    return float(value)


def _inspect_request(raw: bytes) -> MediaIn:
    """`{file: "files/<id>", fps?, start?, end?, resolution?}` → the part to materialize."""
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise errors.InvalidArgument("The body must be a JSON object.", field="")
    unknown = sorted(set(body) - {"file", "fps", "start", "end", "resolution"})
    if unknown:
        raise errors.InvalidArgument(f"Unknown field `{unknown[0]}`.", field=unknown[0])
    name = body.get("file")
    match = _FILE_NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise errors.InvalidArgument("`file` must be a File name, `files/<id>`.", field="file")
    fps = _seconds(body, "fps", 0.01, 24.0)
    if fps is not None and fps <= 0:
        raise errors.InvalidArgument("`fps` must be positive.", field="fps")
    start = _seconds(body, "start", 0.0, 1e7)
    end = _seconds(body, "end", 0.0, 1e7)
    if start is not None and end is not None and end <= start:
        raise errors.InvalidArgument("`end` must be after `start`.", field="end")
    resolution = body.get("resolution")
    if resolution is not None and resolution not in _RESOLUTIONS:
        raise errors.InvalidArgument(
            f"`resolution` must be one of {', '.join(_RESOLUTIONS)}.", field="resolution"
        )
    options = VideoOptions(start_s=start, end_s=end, fps=fps)
    return MediaIn(FileMedia(match.group(1), None), "file", options, resolution)


@router.post("/web/inspect")
async def inspect_file(request: Request, who: Caller = Depends(caller)) -> Response:
    """What the model sees of one of the caller's video files, through the Materializer as a
    request would (`sightd inspect` in the browser): header, frames at their times (small JPEG
    data URLs, at most the sampling's frame budget), transcript and token counts. 404 for a
    file the caller does not own."""
    part = _inspect_request(await read_capped(request, INSPECT_BODY_BYTES))
    services = deps.services(request)
    settings = deps.settings(request)
    assert isinstance(part.ref, FileMedia)
    stored = await services.files.get(who.owner, part.ref.file_id)
    if media_mime.kind(media_mime.normalize(stored.mime_type)) != "video":
        raise errors.InvalidArgument(f"{stored.name} is not a video.", field="file")
    prompt, usage = await inspection.materialize(services.materializer, who.owner, part)
    own = await inspection.model_token_count(deps.engine(request).backend, prompt)
    view = await asyncio.to_thread(
        inspection.inspection,
        settings,
        str(stored.display_name or stored.name),
        prompt,
        usage,
        max_frames=settings.max_video_frames,
        model_tokens=own,
    )
    return json_response(inspection.to_json(view), headers=SECURITY_HEADERS)


@router.get("/web/{path:path}")
async def asset(path: str, request: Request) -> Response:
    return _serve(request, path)
