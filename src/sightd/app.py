"""`create_app(settings)`: the FastAPI application with every route under `/v1`, `/v1beta` and
`/v1alpha` (and again under the configured path prefix). The lifespan builds the services onto
`app.state` — database, files, engine (loading in the background so the server answers at
once), generation and interactions — and stops them on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from sightd import __version__
from sightd.api import files as files_api
from sightd.api import generate as generate_api
from sightd.api import interactions as interactions_api
from sightd.api import models as models_api
from sightd.api import upload as upload_api
from sightd.api.errors import install_error_handlers
from sightd.engine.loading import EngineHandle
from sightd.media.probe import probe_file
from sightd.services.files import FileService
from sightd.services.generate import GenerateService
from sightd.services.interactions import InteractionService
from sightd.services.materialize import Materializer
from sightd.services.models import ModelCatalog
from sightd.services.runner import ModelRunner
from sightd.services.spatial import SpatialService
from sightd.services.video import VideoPipeline
from sightd.settings import Settings
from sightd.storage.db import create_db, init_schema
from sightd.storage.interactions import InteractionStore

log = logging.getLogger("sightd")

API_VERSIONS = ("v1", "v1beta", "v1alpha")


def create_app(settings: Settings, engine: EngineHandle | None = None) -> FastAPI:
    """The app for `settings`; pass `engine` to share an already-loaded model (tests, `ask`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = create_db(settings.effective_database_url)
        await asyncio.to_thread(init_schema, db)
        files = FileService(
            settings, db, partial(probe_file, max_image_pixels=settings.max_image_pixels)
        )
        await files.start()
        handle = engine or EngineHandle(settings)
        if engine is None:
            handle.start()
        catalog = ModelCatalog(settings.model)
        video = VideoPipeline(settings)
        files.on_delete.append(video.forget)
        generate = GenerateService(
            handle,
            catalog,
            Materializer(settings, files, video),
            ModelRunner(settings.max_queue),
            SpatialService(settings),
        )
        app.state.db = db
        app.state.files = files
        app.state.engine = handle
        app.state.catalog = catalog
        app.state.generate = generate
        app.state.interactions = InteractionService(InteractionStore(db), generate)
        try:
            yield
        finally:
            await files.stop()
            db.dispose()

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
    install_error_handlers(app)
    prefixes = [""] + ([settings.path_prefix] if settings.path_prefix else [])
    for prefix in prefixes:
        for version in API_VERSIONS:
            base = f"{prefix}/{version}"
            app.include_router(models_api.router, prefix=base)
            app.include_router(generate_api.router, prefix=base)
            app.include_router(files_api.router, prefix=base)
            app.include_router(interactions_api.router, prefix=base)
        app.include_router(upload_api.router, prefix=prefix)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        handle: EngineHandle = app.state.engine
        return {"status": "ok", "model": handle.progress.stage, "detail": handle.progress.message}

    return app
