"""`create_app(settings)`: the FastAPI application with every route under `/v1`, `/v1beta` and
`/v1alpha` (and again under the configured path prefix). The lifespan builds the services onto
`app.state` — database, files, engine (loading in the background so the server answers at
once), generation and interactions — and stops them on shutdown. Beside them: the access
middleware (request ids, access log, `app.state.metrics`), the probes `/healthz`, `/livez`,
`/readyz`, `/metrics` and the drain state (`app.state.drain`, see api/shutdown.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sightd import __version__
from sightd.api import files as files_api
from sightd.api import generate as generate_api
from sightd.api import interactions as interactions_api
from sightd.api import models as models_api
from sightd.api import ops as ops_api
from sightd.api import upload as upload_api
from sightd.api import web as web_api
from sightd.api.errors import install_error_handlers
from sightd.api.metrics import Metrics
from sightd.api.middleware import AccessMiddleware
from sightd.api.shutdown import Drain
from sightd.engine.loading import EngineHandle
from sightd.services.wiring import open_services
from sightd.settings import Settings

log = logging.getLogger("sightd")

API_VERSIONS = ("v1", "v1beta", "v1alpha")


def create_app(settings: Settings, engine: EngineHandle | None = None) -> FastAPI:
    """The app for `settings`; pass `engine` to share an already-loaded model (tests, `ask`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, engine, observer=metrics) as services:
            app.state.services = services
            app.state.db = services.db
            app.state.files = services.files
            app.state.engine = services.engine
            app.state.catalog = services.catalog
            app.state.generate = services.generate
            app.state.interactions = services.interactions
            yield
            # Shutdown: background interactions get what the drain left of its deadline
            # (uvicorn already drained the HTTP requests), then are cancelled and failed.
            drain.begin()
            await services.interactions.stop(drain.remaining_s())

    app = FastAPI(
        title="sightd",
        version=__version__,
        description="Gemini API for image and video understanding on open-weight models.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    metrics = Metrics()
    drain = Drain(settings.drain_timeout_s)
    app.state.metrics = metrics
    app.state.drain = drain
    app.add_middleware(AccessMiddleware, metrics=metrics, drain=drain, settings=settings)
    install_error_handlers(app)
    app.include_router(ops_api.router)  # /livez, /readyz, /metrics
    prefixes = [""] + ([settings.path_prefix] if settings.path_prefix else [])
    for prefix in prefixes:
        for version in API_VERSIONS:
            base = f"{prefix}/{version}"
            app.include_router(models_api.router, prefix=base)
            app.include_router(generate_api.router, prefix=base)
            app.include_router(files_api.router, prefix=base)
            app.include_router(interactions_api.router, prefix=base)
        app.include_router(upload_api.router, prefix=prefix)
        app.include_router(web_api.router, prefix=prefix)  # the playground page at {prefix}/

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        handle: EngineHandle = app.state.engine
        # Unauthenticated: the load stage only, never its message (it names the model's path).
        body = {"status": "ok", "model": handle.progress.stage}
        backend = handle.backend
        if backend is not None:
            body.update(await backend.health())
        return body

    return app
