"""Operations endpoints, outside the API versions: `/livez`, `/readyz` and `/metrics` (beside
`/healthz` in app.py).

- `/livez`: 200 while the process answers HTTP; touches neither the model nor the database.
- `/readyz`: 200 only when the model is ready (the in-process model loaded, or the upstream
  server answering) and the metadata database answers `SELECT 1`, and the server is not
  draining; otherwise 503 with the Gemini error envelope saying which (no paths, no hosts).
- `/metrics`: Prometheus text. It needs an API key when keys are configured (header
  `x-goog-api-key` or `?key=`, which Prometheus sends with `params: {key: [...]}`): the counters
  describe every tenant's traffic. The probes never need a key. Stored-file totals come from one
  SQL aggregate per scrape, given DB_TIMEOUT_S; a scrape it misses leaves them out.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine, text

from sightd import errors
from sightd.api import deps
from sightd.api.auth import Caller, caller
from sightd.api.errors import error_response
from sightd.api.metrics import Metrics
from sightd.api.shutdown import Drain

log = logging.getLogger("sightd")

router = APIRouter(include_in_schema=False)

DB_TIMEOUT_S = 2.0
UPSTREAM_TIMEOUT_S = 5.0
EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WAITING_HELP = (
    "Generations queued for the model (in-process) or for an upstream request slot (openai)."
)


def _ping(db: Engine) -> None:
    with db.connect() as conn:
        conn.execute(text("SELECT 1"))


async def database_ready(db: Engine) -> bool:
    """Whether the metadata database answers a trivial query within DB_TIMEOUT_S."""
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, db), DB_TIMEOUT_S)
    except Exception as exc:  # any driver error means "not ready"; the reason goes to the log
        log.warning("readyz: metadata database does not answer: %s", type(exc).__name__)
        return False
    return True


async def model_ready(request: Request) -> str | None:
    """None when the model can serve, else why not (a stage, never the load message)."""
    handle = deps.engine(request)
    backend = handle.backend
    if backend is None:
        return f"the model is not loaded (stage: {handle.progress.stage})"
    try:
        health = await asyncio.wait_for(backend.health(), UPSTREAM_TIMEOUT_S)
    except Exception:  # health never raises by contract; a hang or a bug is "not ready"
        return "the model backend does not answer its health check"
    if health.get("upstream", "ok") != "ok":
        return "the upstream model server is unavailable"
    return None


@router.get("/livez")
async def livez() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    drain: Drain = request.app.state.drain
    problems: list[str] = []
    if drain.draining:
        problems.append("the server is shutting down")
    why_model = await model_ready(request)
    if why_model:
        problems.append(why_model)
    if not await database_ready(request.app.state.db):
        problems.append("the metadata database does not answer")
    if problems:
        return error_response(
            errors.Unavailable("Not ready: " + "; ".join(problems) + ".", reason="NOT_READY")
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
async def metrics(request: Request, _caller: Caller = Depends(caller)) -> Response:
    registry: Metrics = request.app.state.metrics
    handle = deps.engine(request)
    gauges = {
        "sightd_model_ready": (
            "1 when the model is loaded (an upstream's reachability is /readyz's question).",
            1.0 if handle.backend is not None else 0.0,
        ),
        "sightd_draining": (
            "1 while the server is shutting down.",
            1.0 if request.app.state.drain.draining else 0.0,
        ),
    }
    if handle.backend is not None:
        gauges.update(_queue_gauges(handle.backend))
    gauges.update(await _storage_gauges(request))
    return PlainTextResponse(registry.render(gauges), media_type=EXPOSITION_TYPE)


@runtime_checkable
class _Queued(Protocol):
    """A backend that counts its own queue locally (both engines' bounded slots)."""

    def queue_depth(self) -> tuple[int, int]: ...


def _queue_gauges(backend: Any) -> dict[str, tuple[str, float]]:
    """The engine's queue, from local state only: a scrape never waits on an upstream."""
    if isinstance(backend, _Queued):
        running, waiting = backend.queue_depth()
        return {
            "sightd_generations_waiting": (WAITING_HELP, float(waiting)),
            "sightd_generations_running": (
                "Generations the engine is running now (in-process: in the model's batch; "
                "openai: requests sent upstream).",
                float(running),
            ),
        }
    return {}


async def _storage_gauges(request: Request) -> dict[str, tuple[str, float]]:
    """Totals over every key's live files (no per-key series: see api/metrics.py)."""
    try:
        stored, files, keys = await asyncio.wait_for(
            request.app.state.files.stored_totals(), DB_TIMEOUT_S
        )
    except Exception as exc:  # a slow or failing database must not fail the scrape
        log.warning("metrics: stored-file totals unavailable: %s", type(exc).__name__)
        return {}
    return {
        "sightd_stored_bytes": ("Bytes of live (unexpired) files, all keys together.", stored),
        "sightd_stored_files": ("Live (unexpired) files, all keys together.", files),
        "sightd_keys_with_files": ("API keys owning at least one live file.", keys),
    }
