"""EngineHandle (background load, 503 messages) and the engine registry."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from sightd.engine.base import Backend, LoadProgress, SamplingParams
from sightd.engine.loading import EngineHandle
from sightd.engine.registry import load_backend
from sightd.errors import InvalidArgument, MissingExtra, Unavailable
from sightd.prompt import Prompt, TextPart, Turn
from sightd.settings import Settings

MODEL = "Qwen/Qwen3-VL-2B-Instruct"
HELLO = Prompt(turns=(Turn("user", (TextPart("Hi"),)),))


def _settings(model: str = MODEL, **kw: Any) -> Settings:
    return Settings(model=model, hub_offline=True, **kw)


def test_require_before_start_says_not_started() -> None:
    handle = EngineHandle(_settings(), loader=lambda s, p: pytest.fail("not started"))
    assert handle.progress.stage == "pending"
    with pytest.raises(Unavailable) as info:
        handle.require()
    assert MODEL in info.value.message
    assert info.value.retry_after_s is not None


def test_progress_while_downloading_then_ready() -> None:
    release, reported = threading.Event(), threading.Event()
    backend: Any = object()

    def loader(settings: Settings, on_progress: Any) -> Any:
        on_progress(
            LoadProgress("downloading", f"Model {settings.model} is downloading (42%)", 0.42)
        )
        reported.set()
        release.wait(10)
        return backend

    handle = EngineHandle(_settings(), loader=loader)
    handle.start()
    handle.start()  # idempotent
    assert reported.wait(10)
    with pytest.raises(Unavailable) as info:
        handle.require()
    assert info.value.message == f"Model {MODEL} is downloading (42%)"
    assert info.value.retry_after_s and info.value.retry_after_s > 0
    assert handle.progress.fraction == 0.42
    assert not handle.wait_ready(0.01)
    release.set()
    assert handle.wait_ready(10)
    assert handle.require() is backend
    assert handle.progress.stage == "ready"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            Unavailable(f"Model {MODEL} is not available: offline"),
            f"Model {MODEL} is not available",
        ),
        (RuntimeError("CUDA out of memory"), f"Model {MODEL} failed to load: RuntimeError: CUDA"),
    ],
)
def test_failed_load_is_reported(error: Exception, message: str) -> None:
    def loader(settings: Settings, on_progress: Any) -> Any:
        raise error

    handle = EngineHandle(_settings(), loader=loader)
    handle.start()
    with pytest.raises(Unavailable):
        handle.wait_ready(10)
    assert handle.progress.stage == "failed"
    with pytest.raises(Unavailable) as info:
        handle.require()
    assert info.value.message.startswith(message)
    assert info.value.retry_after_s is None


def test_offline_hub_model_fails_through_the_real_loader(tmp_path: Path) -> None:
    handle = EngineHandle(_settings(hub_cache_dir=tmp_path))
    handle.start()
    with pytest.raises(Unavailable) as info:
        handle.wait_ready(30)
    assert "sightd models tiny DIR" in info.value.message
    assert handle.settings.model == MODEL


def test_unknown_engine_is_refused() -> None:
    settings = _settings().model_copy(update={"engine": "remote"})
    with pytest.raises(InvalidArgument, match="transformers"):
        load_backend(settings)


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sightd.engine.registry as registry

    real = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(MissingExtra, match=r"sightd\[transformers\]"):
        load_backend(_settings())


def test_engine_handle_loads_a_tiny_model(tiny_dirs: dict[str, Path]) -> None:
    folder = tiny_dirs["smolvlm2"]
    stages: list[str] = []

    def loader(settings: Settings, on_progress: Any) -> Backend:
        def record(progress: LoadProgress) -> None:
            stages.append(progress.stage)
            on_progress(progress)

        return load_backend(settings, record)

    handle = EngineHandle(_settings(str(folder), torch_threads=1), loader=loader)
    handle.start()
    assert handle.wait_ready(60), handle.progress.message
    backend = handle.require()
    assert stages == ["loading"]
    assert backend.info.source == str(folder)
    done = asyncio.run(backend.generate(HELLO, SamplingParams(max_output_tokens=2)))
    assert done.output_tokens == 2
