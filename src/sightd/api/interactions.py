"""The Interactions API routes: `POST /interactions` (plain or `stream: true` SSE), `GET`,
`DELETE`, and `POST /interactions/{id}/cancel`. Bodies are snake_case; `Api-Revision` is
accepted and ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from sightd import errors
from sightd.api import deps
from sightd.api.auth import Caller, caller
from sightd.api.body import parse_json_body, read_capped
from sightd.api.disconnect import unless_disconnected
from sightd.api.errors import error_body
from sightd.api.interactions_convert import to_interaction_input
from sightd.api.json import json_response, sse_event

router = APIRouter()


@router.post("/interactions")
async def create_interaction(request: Request, who: Caller = Depends(caller)) -> Response:
    raw = await read_capped(request, deps.settings(request).max_interaction_bytes)
    req = to_interaction_input(parse_json_body(raw))
    service = deps.interaction_service(request)
    if req.stream:
        events = await service.stream(who.owner, req)
        return StreamingResponse(_sse(events), media_type="text/event-stream")
    if req.background:  # runs on its own: a hang-up after the reply must not stop it
        return json_response(await service.create(who.owner, req))
    return json_response(await unless_disconnected(request, service.create(who.owner, req)))


async def _sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield sse_event(event)
    except errors.SightdError as exc:
        yield sse_event({"event_type": "error", **error_body(exc)})
    except Exception as exc:
        err = errors.Internal(f"Internal error: {type(exc).__name__}")
        yield sse_event({"event_type": "error", **error_body(err)})
    yield b"data: [DONE]\r\n\r\n"


@router.get("/interactions/{iid}")
async def get_interaction(
    iid: str,
    request: Request,
    who: Caller = Depends(caller),
    include_input: bool = Query(True),
) -> Response:
    service = deps.interaction_service(request)
    return json_response(await service.get(who.owner, iid, include_input))


@router.delete("/interactions/{iid}")
async def delete_interaction(iid: str, request: Request, who: Caller = Depends(caller)) -> Response:
    await deps.interaction_service(request).delete(who.owner, iid)
    return json_response({})


@router.post("/interactions/{iid}/cancel")
async def cancel_interaction(iid: str, request: Request, who: Caller = Depends(caller)) -> Response:
    return json_response(await deps.interaction_service(request).cancel(who.owner, iid))
