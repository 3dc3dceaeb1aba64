"""Engine test fixtures: tiny real-architecture models, built once per session.

HF_HUB_OFFLINE is set before anything imports huggingface_hub (it reads the variable once); the
root conftest also refuses every non-loopback connection, so a stray hub call fails loudly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

FAMILIES = ("qwen3-vl", "qwen2.5-vl", "smolvlm2")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny model folder per family."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from sightd.testing.tiny import build_tiny

    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build_tiny(root / f"tiny-{family}", family, seed=0) for family in FAMILIES}


@pytest.fixture(scope="session")
def backends(tiny_dirs: dict[str, Path]) -> Iterator[dict[str, Any]]:
    """TransformersBackend per family, loaded on first use and shared by the session."""
    from sightd.engine.transformers.backend import TransformersBackend

    class Lazy(dict[str, Any]):
        def __missing__(self, family: str) -> Any:
            self[family] = TransformersBackend(tiny_dirs[family], source=str(tiny_dirs[family]))
            return self[family]

    yield Lazy()
