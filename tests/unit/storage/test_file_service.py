"""FileService: processing states, waiting for PROCESSING files, owner scoping, paging, expiry;
on SQLite and PostgreSQL (see conftest.db)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from sightd import errors
from sightd.media.probe import ProbeResult
from sightd.services import files as files_module
from sightd.services.files import FileService, StoredFile
from sightd.storage.metadata import FILES, UPLOAD_SESSIONS, utcnow
from tests.unit.storage.stores import with_service


def ok_probe(path: Path, mime: str) -> ProbeResult:
    if mime == "video/mp4":
        return ProbeResult(mime, video_metadata={"videoDuration": "3s"})
    return ProbeResult("image/png" if mime == "image/jpeg" else mime)  # "sniffed"


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(
    service: FileService,
    owner: str = "alice",
    data: bytes = b"\x89PNG....",
    mime: str = "image/png",
    name: str | None = None,
) -> StoredFile:
    return await service.upload_whole(
        owner, body(data), size_bytes=len(data), mime_type=mime, display_name=name
    )


def test_processing_sets_active_with_probe_results(db: Engine, tmp_path: Path) -> None:
    async def scenario(service: FileService) -> None:
        image = await upload(service, mime="image/jpeg", name="cat")
        assert image.state == "ACTIVE"  # finalize waited for the quick probe
        assert image.mime_type == "image/png"
        assert image.display_name == "cat"
        assert image.path.read_bytes() == b"\x89PNG...."
        assert image.expire_time - image.create_time == timedelta(hours=48)
        video = await upload(service, mime="video/mp4")
        assert video.video_metadata == {"videoDuration": "3s"}
        assert (await service.resolve_for_use("alice", video.id)).state == "ACTIVE"

    with_service(db, tmp_path, ok_probe, scenario)


@pytest.mark.parametrize("mode", ["error", "exception"])
def test_failed_processing(mode: str, db: Engine, tmp_path: Path) -> None:
    def probe(path: Path, mime: str) -> ProbeResult:
        if mode == "exception":
            raise RuntimeError("decoder crashed")
        return ProbeResult(mime, error="not a decodable video")

    async def scenario(service: FileService) -> None:
        stored = await upload(service, mime="video/mp4")
        assert stored.state == "FAILED"
        assert stored.error
        with pytest.raises(errors.FailedPrecondition, match="failed processing"):
            await service.resolve_for_use("alice", stored.id)

    with_service(db, tmp_path, probe, scenario)


def test_resolve_waits_for_processing(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files_module, "FINALIZE_WAIT_S", 0.05)
    gate = threading.Event()

    def slow_probe(path: Path, mime: str) -> ProbeResult:
        gate.wait(10)
        return ProbeResult(mime)

    async def scenario(service: FileService) -> None:
        stored = await upload(service)
        assert stored.state == "PROCESSING"
        waiter = asyncio.create_task(service.resolve_for_use("alice", stored.id))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        gate.set()
        resolved = await asyncio.wait_for(waiter, 5)
        assert resolved.state == "ACTIVE"

    with_service(db, tmp_path, slow_probe, scenario)


def test_resolve_gives_up_after_file_wait_s(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files_module, "FINALIZE_WAIT_S", 0.01)
    gate = threading.Event()

    def stuck_probe(path: Path, mime: str) -> ProbeResult:
        gate.wait(10)
        return ProbeResult(mime)

    async def scenario(service: FileService) -> None:
        stored = await upload(service)
        try:
            with pytest.raises(errors.Unavailable) as caught:
                await service.resolve_for_use("alice", stored.id)
            assert caught.value.retry_after_s
        finally:
            gate.set()

    with_service(db, tmp_path, stuck_probe, scenario, file_wait_s=0.3)


def test_owner_scoping(db: Engine, tmp_path: Path) -> None:
    async def scenario(service: FileService) -> None:
        mine = await upload(service, owner="alice")
        for call in (service.get, service.delete, service.resolve_for_use):
            with pytest.raises(errors.NotFound):
                await call("bob", mine.id)
        assert (await service.list("bob", 10, None)) == ([], None)
        for bad in ("NOPE", "a-b", "../x"):
            with pytest.raises(errors.NotFound):
                await service.get("alice", bad)
        assert (await service.get("alice", mine.id)).id == mine.id

    with_service(db, tmp_path, ok_probe, scenario)


def test_list_pages_newest_first(db: Engine, tmp_path: Path) -> None:
    async def scenario(service: FileService) -> None:
        made = [await upload(service, name=f"f{i}") for i in range(5)]
        await upload(service, owner="bob")
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            page, token = await service.list("alice", 2, token)
            pages += 1
            seen += [f.id for f in page]
            if token is None:
                break
        assert pages == 3
        assert seen == [f.id for f in reversed(made)]
        with pytest.raises(errors.InvalidArgument):
            await service.list("alice", 2, "not-a-token!")

    with_service(db, tmp_path, ok_probe, scenario)


def test_delete_removes_row_and_blob(db: Engine, tmp_path: Path) -> None:
    async def scenario(service: FileService) -> None:
        stored = await upload(service)
        await service.delete("alice", stored.id)
        assert not stored.path.exists()
        with pytest.raises(errors.NotFound):
            await service.get("alice", stored.id)
        with pytest.raises(errors.NotFound):
            await service.delete("alice", stored.id)

    with_service(db, tmp_path, ok_probe, scenario)


def test_expired_files_vanish_and_are_swept(db: Engine, tmp_path: Path) -> None:
    async def scenario(service: FileService) -> None:
        old, fresh = await upload(service), await upload(service)
        with db.begin() as conn:
            conn.execute(
                update(FILES)
                .where(FILES.c.id == old.id)
                .values(expire_time=utcnow() - timedelta(seconds=1))
            )
        with pytest.raises(errors.NotFound):
            await service.get("alice", old.id)
        assert [f.id for f in (await service.list("alice", 10, None))[0]] == [fresh.id]
        assert await service.sweep() == 1
        assert not old.path.exists()
        assert fresh.path.exists()

    with_service(db, tmp_path, ok_probe, scenario)


def test_start_resumes_files_left_processing(db: Engine, tmp_path: Path) -> None:
    async def crash(service: FileService) -> str:
        token = await service.start_upload("alice", size_bytes=3, mime_type="image/png")
        await service.upload_chunk(token, 0, body(b"abc"))
        return (await service.uploads.finalize(token)).file_id  # no processing scheduled

    file_id = with_service(db, tmp_path, ok_probe, crash)

    async def restart(service: FileService) -> StoredFile:
        return await service.resolve_for_use("alice", file_id)

    assert with_service(db, tmp_path, ok_probe, restart).state == "ACTIVE"


def test_failed_whole_upload_leaves_nothing(db: Engine, tmp_path: Path) -> None:
    async def scenario(service: FileService) -> None:
        with pytest.raises(errors.InvalidArgument):
            await service.upload_whole(
                "alice", body(b"too many bytes"), size_bytes=3, mime_type="image/png"
            )
        with pytest.raises(errors.PayloadTooLarge):
            await service.upload_whole(
                "alice", body(b"x" * 101), size_bytes=None, mime_type="image/png"
            )

    with_service(db, tmp_path, ok_probe, scenario, max_file_bytes=100)
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FILES)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(UPLOAD_SESSIONS)).scalar() == 0
    assert list((tmp_path / "blobs" / "partial").iterdir()) == []


def test_upload_path(db: Engine, tmp_path: Path) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(b"x" * 3_000_000)

    async def scenario(service: FileService) -> StoredFile:
        return await service.upload_path("alice", local, mime_type="video/mp4", display_name="v")

    stored = with_service(db, tmp_path, ok_probe, scenario)
    assert stored.size_bytes == 3_000_000 and stored.path.read_bytes() == local.read_bytes()
