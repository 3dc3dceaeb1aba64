"""`models.list` and `models.get`."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from sightd import errors
from sightd.api import deps
from sightd.api.auth import Caller, caller
from sightd.api.json import json_response
from sightd.engine.base import ModelInfo
from sightd.services.models import model_resource

router = APIRouter()


def _info(request: Request) -> ModelInfo | None:
    """The loaded model's limits (and where its boxes and masks come from), or None while it
    is still loading."""
    backend = deps.engine(request).backend
    if backend is None:
        return None
    info = backend.info
    spatial = deps.generate_service(request).spatial
    if spatial is None:
        return info
    return dataclasses.replace(info, extras={**info.extras, "spatial": spatial.describe(backend)})


@router.get("/models")
async def list_models(
    request: Request,
    _caller: Caller = Depends(caller),
    page_size: int = Query(50, alias="pageSize"),
    page_token: str = Query("", alias="pageToken"),
) -> Response:
    cat = deps.catalog(request)
    entries = cat.entries()
    try:
        start = int(page_token or 0)
    except ValueError as exc:
        raise errors.InvalidArgument("Invalid page token.", field="pageToken") from exc
    size = max(1, min(page_size or 50, 1000))
    page = entries[start : start + size]
    body: dict[str, object] = {
        "models": [model_resource(e, _info(request), cat.source) for e in page]
    }
    if start + size < len(entries):
        body["nextPageToken"] = str(start + size)
    return json_response(body)


@router.get("/models/{name:path}")
async def get_model(name: str, request: Request, _caller: Caller = Depends(caller)) -> Response:
    cat = deps.catalog(request)
    entry = cat.resolve(name)
    return json_response(model_resource(entry, _info(request), cat.source))
