"""Typed access to the services that the app's lifespan put on `app.state`."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import Request

if TYPE_CHECKING:
    from sightd.engine.loading import EngineHandle
    from sightd.services.generate import GenerateService
    from sightd.services.interactions import InteractionService
    from sightd.services.models import ModelCatalog
    from sightd.services.wiring import Services
    from sightd.settings import Settings


def settings(request: Request) -> Settings:
    return cast("Settings", request.app.state.settings)


def services(request: Request) -> Services:
    """Every service the lifespan built (the Materializer and FileService among them)."""
    return cast("Services", request.app.state.services)


def generate_service(request: Request) -> GenerateService:
    return cast("GenerateService", request.app.state.generate)


def interaction_service(request: Request) -> InteractionService:
    return cast("InteractionService", request.app.state.interactions)


def catalog(request: Request) -> ModelCatalog:
    return cast("ModelCatalog", request.app.state.catalog)


def engine(request: Request) -> EngineHandle:
    return cast("EngineHandle", request.app.state.engine)


def api_version(request: Request) -> str:
    """`v1`, `v1beta` or `v1alpha`: the segment the client used (echoed in URIs)."""
    for segment in request.url.path.split("/"):
        if segment in ("v1", "v1beta", "v1alpha"):
            return segment
    return "v1beta"
