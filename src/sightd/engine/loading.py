"""Load the model in the background so the server answers (with 503s) while it downloads.

`EngineHandle` owns the one backend of a server: `start()` loads it on a thread, `progress`
says how far it got, and `require()` either returns the backend or raises `Unavailable` with a
message a client can act on ("Model X is downloading (42%)", or why loading failed) and a
retry hint while loading is still under way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sightd.engine.base import Backend, LoadProgress
from sightd.engine.registry import load_backend
from sightd.errors import SightdError, Unavailable
from sightd.settings import Settings

log = logging.getLogger(__name__)

Loader = Callable[[Settings, Callable[[LoadProgress], None]], Backend]
RETRY_AFTER_S = 5.0


class EngineHandle:
    """The server's model: pending → downloading/loading → ready, or failed."""

    def __init__(self, settings: Settings, loader: Loader = load_backend) -> None:
        self._settings = settings
        self._loader = loader
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._backend: Backend | None = None
        self._progress = LoadProgress(
            stage="pending", message=f"Model {settings.model} has not started loading yet"
        )

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def progress(self) -> LoadProgress:
        with self._lock:
            return self._progress

    @property
    def backend(self) -> Backend | None:
        """The backend once ready, else None (use `require` to get an explanatory error)."""
        return self._backend

    def start(self) -> None:
        """Begin loading on a daemon thread; calling it again does nothing."""
        with self._lock:
            if self._thread is not None:
                return
            self._progress = LoadProgress(
                stage="loading", message=f"Model {self._settings.model} is loading"
            )
            self._thread = threading.Thread(
                target=self._load, name="sightd-model-load", daemon=True
            )
            self._thread.start()

    def require(self) -> Backend:
        """The backend, or `Unavailable` saying how far loading got (with retry_after_s)."""
        backend = self._backend
        if backend is not None:
            return backend
        progress = self.progress
        if progress.stage == "failed":
            raise Unavailable(progress.message, reason="MODEL_LOAD_FAILED")
        raise Unavailable(progress.message, retry_after_s=RETRY_AFTER_S, reason="MODEL_LOADING")

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until loading ends or `timeout` s pass: True when ready, False on timeout.

        Raises the `Unavailable` of `require()` when loading failed, so a waiting loop ends.
        """
        if not self._done.wait(timeout):
            return False
        self.require()
        return True

    async def aclose(self) -> None:
        """Release the backend's connections and threads (a load still running is left to
        finish on its daemon thread)."""
        backend = self._backend
        if backend is not None:
            await backend.aclose()

    def _set_progress(self, progress: LoadProgress) -> None:
        with self._lock:
            if self._progress.stage in ("ready", "failed"):
                return
            self._progress = progress
        log.debug("model load: %s", progress.message)

    def _load(self) -> None:
        model = self._settings.model
        try:
            backend = self._loader(self._settings, self._set_progress)
        except BaseException as e:  # report everything; the thread has no one else to tell
            why = e.message if isinstance(e, SightdError) else f"{type(e).__name__}: {e}"
            log.error(
                "model %s failed to load: %s", model, why, exc_info=not isinstance(e, SightdError)
            )
            if not why.startswith(f"Model {model} "):
                why = f"Model {model} failed to load: {why}"
            with self._lock:
                self._progress = LoadProgress(stage="failed", message=why)
        else:
            with self._lock:
                self._backend = backend
                self._progress = LoadProgress(
                    stage="ready", message=f"Model {model} is ready", fraction=1.0
                )
            log.info("model %s is ready", model)
        finally:
            self._done.set()
