"""Builders shared by the storage tests: an `UploadStore` over a local blob folder with small
limits, and a started `FileService` around one scenario."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from sightd.media.probe import ProbeResult
from sightd.services.files import FileService
from sightd.settings import Settings
from sightd.storage.blobs import LocalBlobStore
from sightd.storage.uploads import UploadStore

T = TypeVar("T")
Probe = Callable[[Path, str], ProbeResult]


def upload_store(db: Engine, root: Path, **overrides: Any) -> UploadStore:
    """An UploadStore whose blobs live under `root` (one folder can stand in for a shared
    object store between replicas); `overrides` replace the small default limits."""
    blobs = LocalBlobStore(root)
    blobs.ensure_dirs()
    kwargs: dict[str, Any] = {
        "max_file_bytes": 1000,
        "quota_bytes": 10_000,
        "session_ttl_s": 3600,
        "file_ttl_s": 7200,
    }
    kwargs.update(overrides)
    return UploadStore(db, blobs, **kwargs)


def with_service(
    db: Engine,
    tmp_path: Path,
    probe: Probe,
    scenario: Callable[[FileService], Coroutine[Any, Any, T]],
    *,
    service: dict[str, Any] | None = None,
    **settings: Any,
) -> T:
    """Run `scenario` on a started FileService (`settings` for its Settings, `service` for
    its own keyword arguments: replica, lease…), stopping it afterwards."""

    async def main() -> T:
        files = FileService(Settings(data_dir=tmp_path, **settings), db, probe, **(service or {}))
        await files.start()
        try:
            return await scenario(files)
        finally:
            await files.stop()

    return asyncio.run(main())
