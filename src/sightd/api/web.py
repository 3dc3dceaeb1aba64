"""The playground page (`sightd.web`): `GET /` and its assets under `/web/`, mounted at the root
and again under the path prefix, every response with a strict Content-Security-Policy.

The page is a client of the Gemini REST API like any other; the only route here that is not
static is `GET /web/model.json`, the load progress and family of the served model, which the
Gemini `Model` resource has no field for (it asks for the API key like `models.list` does).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sightd import errors
from sightd.api import deps
from sightd.api.auth import Caller, caller
from sightd.api.json import json_response

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


@router.get("/web/{path:path}")
async def asset(path: str, request: Request) -> Response:
    return _serve(request, path)
