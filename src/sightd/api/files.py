"""Files API routes under `/{v}`: get, list and delete, plus the File JSON they all return.

Mounted once per API version (v1, v1beta, v1alpha), with and without the configured path prefix;
the version a client used is read back from the path so the `uri` it gets matches its own calls.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sightd import errors
from sightd.api.auth import Caller, caller
from sightd.api.errors import JSON_MEDIA_TYPE
from sightd.api.scalars import to_int
from sightd.api.urls import public_base_url
from sightd.services.files import FileService, StoredFile
from sightd.settings import Settings

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
_VERSION_IN_PATH = re.compile(r"/(v\d+(?:alpha|beta)?\d*)/files(?:/|$)")

router = APIRouter()


def rfc3339(when: datetime) -> str:
    """`2026-05-21T10:15:30.123456Z`: UTC, microseconds, Z (what the SDKs parse)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_resource(f: StoredFile, base_url: str, version: str) -> dict[str, Any]:
    """The File JSON of the wire contract §3.3 (camelCase, int64 as string)."""
    out: dict[str, Any] = {"name": f.name}
    if f.display_name:
        out["displayName"] = f.display_name
    out.update(
        {
            "mimeType": f.mime_type,
            "sizeBytes": str(f.size_bytes),
            "createTime": rfc3339(f.create_time),
            "updateTime": rfc3339(f.update_time),
            "expirationTime": rfc3339(f.expire_time),
            "sha256Hash": base64.b64encode(f.sha256_hex.lower().encode()).decode(),
            "uri": f"{base_url.rstrip('/')}/{version}/files/{f.id}",
            "state": f.state,
            "source": "UPLOADED",
        }
    )
    if f.state == "FAILED":
        out["error"] = {"code": 400, "message": f.error or "processing failed", "details": []}
    if f.video_metadata:
        out["videoMetadata"] = f.video_metadata
    return out


def version_of(request: Request) -> str:
    """The API version segment the client used (`v1`, `v1beta`, ...)."""
    found = _VERSION_IN_PATH.findall(request.url.path)
    return found[-1] if found else "v1beta"


def file_id_of(raw: str) -> str:
    """`abc`, `files/abc` → `abc`; anything that cannot be an id is simply not found."""
    file_id = raw.removeprefix("files/")
    if not re.fullmatch(r"[a-z0-9]{1,40}", file_id):
        raise errors.NotFound(f"File {raw} not found.")
    return file_id


def _page_size(request: Request) -> int:
    """`pageSize`: default when absent or ≤ 0, clamped to MAX_PAGE_SIZE; not a number is a 400."""
    raw = request.query_params.get("pageSize") or request.query_params.get("page_size")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = to_int(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(
            f"Invalid value at 'pageSize': {exc}.", field="pageSize"
        ) from exc
    if size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=JSON_MEDIA_TYPE)


def _service(request: Request) -> FileService:
    service: FileService = request.app.state.files
    return service


def _base(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return public_base_url(request, settings)


@router.get("/files")
async def list_files(request: Request, who: Annotated[Caller, Depends(caller)]) -> JSONResponse:
    """`{"files": [...], "nextPageToken": ...}`, newest first; `{}` when there are none."""
    token = request.query_params.get("pageToken") or request.query_params.get("page_token")
    files, next_token = await _service(request).list(who.owner, _page_size(request), token)
    base, version = _base(request), version_of(request)
    body: dict[str, Any] = {}
    if files:
        body["files"] = [file_resource(f, base, version) for f in files]
    if next_token:
        body["nextPageToken"] = next_token
    return _json(body)


@router.get("/files/{file_id:path}")
async def get_file(
    file_id: str, request: Request, who: Annotated[Caller, Depends(caller)]
) -> JSONResponse:
    """The bare File (not wrapped in `{"file": ...}`)."""
    found = await _service(request).get(who.owner, file_id_of(file_id))
    return _json(file_resource(found, _base(request), version_of(request)))


@router.delete("/files/{file_id:path}")
async def delete_file(
    file_id: str, request: Request, who: Annotated[Caller, Depends(caller)]
) -> JSONResponse:
    """200 with `{}`: the SDK raises on 204."""
    await _service(request).delete(who.owner, file_id_of(file_id))
    return _json({})
