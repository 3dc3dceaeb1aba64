"""Shared fixtures: no network beyond loopback, a tiny real-architecture model built offline
once per session, and live sightd servers on 127.0.0.1 for the official SDKs to talk to."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer
from tests.postgres import postgres_url  # noqa: F401  (a session fixture shared by all tests)

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
):
    os.environ.pop(_var, None)


def _allowed(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX sockets
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Fail any connection that leaves the machine: tests never reach a hub or the web."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _allowed(address):
            raise ConnectionRefusedError(f"tests may not reach the network: {address!r}")
        return real_connect(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sightd.testing.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "tiny-qwen3-vl", family="qwen3-vl")


@pytest.fixture(scope="session")
def tiny_vision_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny OWLv2 detector and SAM 2.1 segmenter, so live servers never reach for the hub."""
    from sightd.testing.tiny_vision import build_tiny_owlv2, build_tiny_sam2

    root = tmp_path_factory.mktemp("vision")
    return {
        "detector_model": build_tiny_owlv2(root / "tiny-owlv2"),
        "segmenter_model": build_tiny_sam2(root / "tiny-sam2"),
    }


@pytest.fixture(scope="session")
def engine_handle(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from sightd.engine.loading import EngineHandle
    from sightd.settings import Settings

    settings = Settings(
        model=str(tiny_model_dir), torch_threads=1, data_dir=tmp_path_factory.mktemp("engine-data")
    )
    handle = EngineHandle(settings)
    handle.start()
    assert handle.wait_ready(120), handle.progress.message
    return handle


@pytest.fixture
def make_server(
    engine_handle: Any, tiny_vision_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LiveServer]]:
    """Factory: `make_server(**settings)` → a running LiveServer with the tiny model (and the
    tiny detector and segmenter); `engine=` serves another loaded EngineHandle."""
    from sightd.app import create_app
    from sightd.settings import Settings

    servers: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        handle = overrides.pop("engine", engine_handle)
        values: dict[str, Any] = {
            "model": handle.settings.model,
            "data_dir": tmp_path_factory.mktemp("data"),
            "torch_threads": 1,
            **{k: str(v) for k, v in tiny_vision_dirs.items()},
        }
        values.update(overrides)
        server = LiveServer(create_app(Settings(**values), engine=handle))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server()


@pytest.fixture
def client(server: LiveServer) -> Any:
    """The official google-genai client pointed at a live sightd."""
    from google import genai
    from google.genai import types

    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=server.url))
