"""Engine name → backend factory, with the heavy imports deferred until a backend is built.

`settings.engine` picks the factory. Each factory checks its optional dependencies first (so a
missing extra fails before a multi-gigabyte download, with the `pip install` line in the
error), then finds the weights and loads them, reporting progress as it goes. A new engine
(e.g. "remote" for an OpenAI-compatible server) is one more entry in `ENGINES`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from sightd.engine.base import Backend, LoadProgress
from sightd.errors import InvalidArgument, MissingExtra
from sightd.settings import Settings

ProgressCallback = Callable[[LoadProgress], None]
BackendFactory = Callable[[Settings, ProgressCallback], Backend]


def _require(extra: str, *modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(module, extra)


def _load_transformers(settings: Settings, on_progress: ProgressCallback) -> Backend:
    _require("transformers", "torch", "transformers", "tokenizers", "safetensors")
    from sightd.engine.transformers.hub import resolve_model

    folder = resolve_model(
        settings.model,
        cache_dir=settings.hub_cache_dir,
        offline=settings.hub_offline,
        on_progress=on_progress,
    )
    on_progress(LoadProgress(stage="loading", message=f"Model {settings.model} is loading"))
    from sightd.engine.transformers.backend import TransformersBackend

    return TransformersBackend(
        folder,
        source=settings.model,
        device=settings.device,
        dtype=settings.dtype,
        torch_threads=settings.torch_threads,
    )


ENGINES: dict[str, BackendFactory] = {"transformers": _load_transformers}


def load_backend(settings: Settings, on_progress: ProgressCallback | None = None) -> Backend:
    """Build the backend `settings.engine` names; blocks while downloading and loading."""
    factory = ENGINES.get(settings.engine)
    if factory is None:
        known = ", ".join(sorted(ENGINES))
        raise InvalidArgument(f"unknown engine {settings.engine!r}; known: {known}", field="engine")
    return factory(settings, on_progress or (lambda _: None))
