"""Fixtures for sightd in front of real upstream servers started on 127.0.0.1.

`openai_handle(server, model_dir)` builds the `--engine openai` backend exactly as
`sightd serve --engine openai --upstream-url … --upstream-processor DIR` does; a test module
overrides the shared `engine_handle` fixture with it, and then every live-server test it
imports (the e2e page suites) runs through the upstream instead of the in-process model.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines.transformers_serve import (
    TransformersServe,
    start_transformers_serve,
    suppress_markup_tokens,
)


def openai_handle(url: str, model: str, model_dir: Path, data_dir: Path, **more: Any) -> Any:
    from sightd.engine.loading import EngineHandle
    from sightd.settings import Settings

    settings = Settings(
        engine="openai",
        model=str(model_dir),
        upstream_url=url,
        upstream_model=model,
        upstream_processor=str(model_dir),
        data_dir=data_dir,
        **more,
    )
    handle = EngineHandle(settings)
    handle.start()
    assert handle.wait_ready(30), handle.progress.message
    return handle


@pytest.fixture(scope="session")
def serve_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny Qwen3-VL, with the markup tokens a random model would emit by chance
    suppressed (`transformers serve` parses `<tool_call>`/`<think>` out of Qwen answers)."""
    folder = tmp_path_factory.mktemp("served") / "tiny-qwen3-vl"
    shutil.copytree(tiny_model_dir, folder)
    suppress_markup_tokens(folder)
    return folder


@pytest.fixture(scope="session")
def transformers_serve(
    serve_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TransformersServe]:
    log = tmp_path_factory.mktemp("logs") / "transformers-serve.log"
    server = start_transformers_serve(serve_model_dir, log_path=log)
    yield server
    server.stop()
