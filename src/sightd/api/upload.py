"""`POST /upload/{v}/files`: the resumable protocol the SDKs speak, plus one-request uploads.

- Start (`X-Goog-Upload-Protocol: resumable`, command `start`): the body is lenient (JSON in either
  key case, the docs' single-quoted pseudo-JSON, or nothing; the headers fill the gaps); the reply
  carries `x-goog-upload-url` with an unguessable `upload_id`.
- Chunks (`?upload_id=`): no API key (the token is the credential), a raw body streamed to disk
  and never parsed whatever its Content-Type, and `x-goog-upload-status` on every reply, `final`
  on errors too: without it the SDKs re-send the chunk three times before giving up.
- `uploadType=media` (raw body) and `uploadType=multipart` (JSON metadata part + media part, as
  multipart/related or multipart/form-data): one request, answered `{"file": File}`.
- Every body is read under `upload_idle_timeout_s`: a client that sends part of it and stalls
  gets DEADLINE_EXCEEDED and its chunk is rolled back (see `storage.uploads` for what a second
  chunk sent meanwhile gets); the body of a stalled request is not drained.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sightd import errors
from sightd.api.auth import authenticate
from sightd.api.body import check_json_depth, idle_bounded
from sightd.api.errors import JSON_MEDIA_TYPE, error_response
from sightd.api.files import file_resource
from sightd.api.multipart import MultipartReader, boundary_of, disposition_params, read_limited
from sightd.api.urls import public_base_url
from sightd.services.files import FileService, StoredFile
from sightd.settings import Settings

log = logging.getLogger("sightd.api.upload")

CHUNK_GRANULARITY = 8 * 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
"""After an error, read (and drop) up to this much of the body so the client, still sending,
gets to read our answer instead of a reset connection."""
MAX_DISPLAY_NAME = 512
_VERSION = re.compile(r"v\d+(?:alpha|beta)?\d*")

router = APIRouter()


@router.post("/upload/{version}/files")
async def upload(version: str, request: Request) -> Response:
    """Dispatch on `upload_id` (a chunk) or the upload protocol (a start or a whole upload)."""
    final = {"x-goog-upload-status": "final"}
    try:
        if not _VERSION.fullmatch(version):
            raise errors.NotFound(f"Unknown API version {version!r}.")
        token = request.query_params.get("upload_id")
        if token is not None:
            return await _chunk(request, token, version)
        return await _begin(request, version)
    except errors.SightdError as exc:
        if not isinstance(exc, errors.DeadlineExceeded):  # a stalled client: nothing to drain
            await _drain(request)
        return error_response(exc, headers=final)
    except Exception:
        log.exception("upload failed")
        await _drain(request)
        return error_response(errors.Internal("Internal error during upload."), headers=final)


# --- chunks --------------------------------------------------------------------------------
async def _chunk(request: Request, token: str, version: str) -> Response:
    service = _service(request)
    commands = _commands(request)
    if "cancel" in commands:
        await service.cancel_upload(token)
        return Response(status_code=200, headers={"x-goog-upload-status": "cancelled"})
    if "query" in commands:
        return Response(status_code=200, headers=_active(await service.upload_received(token)))
    unknown = commands - {"upload", "finalize"}
    if not commands or unknown:
        raise errors.InvalidArgument(
            f"Unsupported X-Goog-Upload-Command {request.headers.get('x-goog-upload-command')!r}.",
            field="X-Goog-Upload-Command",
        )
    offset_header = request.headers.get("x-goog-upload-offset")
    received: int | None = None
    if "upload" in commands or offset_header is not None:
        received = await service.upload_chunk(token, _offset(offset_header), _body(request))
    if "finalize" in commands:
        stored = await service.finalize_upload(token)
        return _file_reply(request, stored, version)
    assert received is not None
    return Response(status_code=200, headers=_active(received))


def _commands(request: Request) -> set[str]:
    raw = request.headers.get("x-goog-upload-command", "")
    return {c.strip().lower() for c in raw.split(",") if c.strip()}


def _offset(raw: str | None) -> int:
    if raw is None:
        raise errors.InvalidArgument("Missing X-Goog-Upload-Offset.", field="X-Goog-Upload-Offset")
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise errors.InvalidArgument(
            f"Invalid X-Goog-Upload-Offset {raw!r}.", field="X-Goog-Upload-Offset"
        ) from exc


def _active(received: int) -> dict[str, str]:
    return {"x-goog-upload-status": "active", "x-goog-upload-size-received": str(received)}


# --- start / whole uploads -----------------------------------------------------------------
async def _begin(request: Request, version: str) -> Response:
    settings: Settings = request.app.state.settings
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    owner = authenticate(settings, key).owner
    protocol = (
        (
            request.headers.get("x-goog-upload-protocol")
            or request.query_params.get("uploadType")
            or request.query_params.get("upload_type")
            or ""
        )
        .strip()
        .lower()
    )
    content_type = request.headers.get("content-type", "")
    if protocol == "resumable":
        commands = _commands(request)
        if commands and commands != {"start"}:
            raise errors.InvalidArgument(
                "A resumable upload begins with X-Goog-Upload-Command: start.",
                field="X-Goog-Upload-Command",
            )
        return await _start(request, owner, version)
    if content_type.lower().startswith("multipart/"):
        return await _multipart(request, owner, version, content_type)
    return await _media(request, owner, version)


async def _start(request: Request, owner: str, version: str) -> Response:
    raw = await read_limited(_body(request), MAX_METADATA_BYTES, "Upload metadata")
    meta = _file_meta(raw)
    headers = request.headers
    token = await _service(request).start_upload(
        owner,
        size_bytes=_size(headers.get("x-goog-upload-header-content-length"), meta),
        mime_type=headers.get("x-goog-upload-header-content-type") or _mime(meta, None),
        display_name=_display_name(meta),
        file_id=_chosen_id(meta),
    )
    base = public_base_url(request, request.app.state.settings)
    url = f"{base}/upload/{version}/files?upload_id={token}&upload_protocol=resumable"
    return JSONResponse(
        {},
        media_type=JSON_MEDIA_TYPE,
        headers={
            "x-goog-upload-url": url,
            "x-goog-upload-control-url": url,
            "x-goog-upload-status": "active",
            "x-goog-upload-chunk-granularity": str(CHUNK_GRANULARITY),
        },
    )


async def _media(request: Request, owner: str, version: str) -> Response:
    headers = request.headers
    declared = headers.get("x-goog-upload-header-content-length") or headers.get("content-length")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("", "application/x-www-form-urlencoded"):  # curl --data-binary default
        content_type = "application/octet-stream"
    stored = await _service(request).upload_whole(
        owner,
        _body(request),
        size_bytes=_size(declared, {}),
        mime_type=headers.get("x-goog-upload-header-content-type") or content_type,
    )
    return _file_reply(request, stored, version)


async def _multipart(request: Request, owner: str, version: str, content_type: str) -> Response:
    reader = MultipartReader(_body(request), boundary_of(content_type))
    meta: dict[str, Any] = {}
    stored: StoredFile | None = None
    async for part_headers, body in reader.parts():
        part_type = part_headers.get("content-type", "").split(";")[0].strip().lower()
        params = disposition_params(part_headers.get("content-disposition", ""))
        is_metadata = "filename" not in params and (
            part_type == "application/json" or params.get("name") == "metadata"
        )
        if is_metadata and not meta:
            meta = _file_meta(await read_limited(body, MAX_METADATA_BYTES, "Upload metadata"))
            continue
        stored = await _service(request).upload_whole(
            owner,
            body,
            size_bytes=None,
            mime_type=_mime(meta, part_type),
            display_name=_display_name(meta),
            file_id=_chosen_id(meta),
        )
        break
    if stored is None:
        raise errors.InvalidArgument("Multipart upload has no media part.")
    await _drain(request)
    return _file_reply(request, stored, version)


def _file_reply(request: Request, stored: StoredFile, version: str) -> JSONResponse:
    base = public_base_url(request, request.app.state.settings)
    return JSONResponse(
        {"file": file_resource(stored, base, version)},
        media_type=JSON_MEDIA_TYPE,
        headers={"x-goog-upload-status": "final"},
    )


# --- lenient metadata ----------------------------------------------------------------------
def _file_meta(raw: bytes) -> dict[str, Any]:
    """The `file` object of a start/metadata body; `{}` when there is nothing usable."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return {}
    check_json_depth(raw)  # json.loads and literal_eval below recurse
    parsed: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        try:  # the docs' curl sends {'file': {'display_name': 'VIDEO'}}
            parsed = ast.literal_eval(text)
        except Exception:
            log.info("unparseable upload metadata ignored; using the headers")
            return {}
    if not isinstance(parsed, dict):
        return {}
    inner = parsed.get("file", parsed)
    return inner if isinstance(inner, dict) else {}


def _pick(meta: dict[str, Any], snake: str, camel: str) -> Any:
    value = meta.get(camel)
    return meta.get(snake) if value is None else value


def _size(header: str | None, meta: dict[str, Any]) -> int | None:
    raw = header if header is not None else _pick(meta, "size_bytes", "sizeBytes")
    if raw is None or raw == "":
        return None
    try:
        return int(str(raw).strip())
    except ValueError as exc:
        raise errors.InvalidArgument(
            f"Invalid upload size {raw!r}.", field="file.sizeBytes"
        ) from exc


def _mime(meta: dict[str, Any], fallback: str | None) -> str:
    value = _pick(meta, "mime_type", "mimeType")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return fallback or "application/octet-stream"


def _display_name(meta: dict[str, Any]) -> str | None:
    value = _pick(meta, "display_name", "displayName")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_DISPLAY_NAME:
        raise errors.InvalidArgument(
            f"displayName must be a string of at most {MAX_DISPLAY_NAME} characters.",
            field="file.displayName",
        )
    return value


def _chosen_id(meta: dict[str, Any]) -> str | None:
    value = meta.get("name")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.InvalidArgument("file.name must be a string.", field="file.name")
    return value.removeprefix("files/")


# --- helpers -------------------------------------------------------------------------------
def _service(request: Request) -> FileService:
    service: FileService = request.app.state.files
    return service


def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body, dropped with DeadlineExceeded when it stalls for the idle timeout."""
    settings: Settings = request.app.state.settings
    return idle_bounded(request.stream(), settings.upload_idle_timeout_s)


async def _drain(request: Request) -> None:
    """Read and drop what is left of the body (bounded in size and idle time); never raises."""
    seen = 0
    with contextlib.suppress(Exception):
        async for piece in _body(request):
            seen += len(piece)
            if seen > DRAIN_LIMIT_BYTES:
                break
