"""Fixtures for the Files API tests: a live uvicorn server on 127.0.0.1 running only the files
and upload routers (no model), so the official SDK and curl exercise the real HTTP path fast.

`make_files_server(**settings)` builds the app with `files_app(settings)` (the real media probe,
so processing states are the real ones); swapping in `sightd.app.create_app` later only changes
that one function.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI

from tests.live import LiveServer

API_VERSIONS = ("v1", "v1beta", "v1alpha")


def files_app(settings: Any) -> FastAPI:
    """The smallest app that serves the Files API the way app.py mounts it."""
    from sightd.api import files as files_api
    from sightd.api import upload as upload_api
    from sightd.api.errors import install_error_handlers
    from sightd.media.probe import probe_file
    from sightd.services.files import FileService
    from sightd.services.wiring import make_blob_store
    from sightd.storage.db import create_db
    from sightd.storage.metadata import create_tables

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = create_db(settings.effective_database_url)
        create_tables(db)
        files = FileService(settings, db, probe_file, blobs=make_blob_store(settings))
        await files.start()
        app.state.files = files
        try:
            yield
        finally:
            await files.stop()
            db.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None)
    app.state.settings = settings
    install_error_handlers(app)
    for prefix in [""] + ([settings.path_prefix] if settings.path_prefix else []):
        for version in API_VERSIONS:
            app.include_router(files_api.router, prefix=f"{prefix}/{version}")
        app.include_router(upload_api.router, prefix=prefix)
    return app


@pytest.fixture
def make_files_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LiveServer]]:
    """Factory: `make_files_server(**settings)` → a running LiveServer with its own data dir."""
    from sightd.settings import Settings

    servers: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        values: dict[str, Any] = {"data_dir": tmp_path_factory.mktemp("files-data")}
        values.update(overrides)
        server = LiveServer(files_app(Settings(**values)))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def files_server(make_files_server: Callable[..., LiveServer]) -> LiveServer:
    return make_files_server()


@pytest.fixture
def files_client(files_server: LiveServer) -> Any:
    """The official google-genai client pointed at the live files server."""
    from google import genai
    from google.genai import types

    return genai.Client(api_key="test", http_options=types.HttpOptions(base_url=files_server.url))
