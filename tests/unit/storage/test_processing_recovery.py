"""Crash recovery of file processing (issue 9): a file whose replica died mid-processing
(SIGKILL, OOM, a lost node) was left PROCESSING forever. Processing is now leased; any replica
takes over lapsed or released leases, at start and while running, and fails a file whose
processing was interrupted too often. On SQLite and PostgreSQL (see conftest.db)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select, text, update

from sightd import errors
from sightd.media.probe import ProbeResult
from sightd.services.files import MAX_PROCESSING_ATTEMPTS, FileService
from sightd.settings import Settings
from sightd.storage.files import FileTable
from sightd.storage.metadata import FILES, create_tables, utcnow
from tests.unit.storage.stores import upload_store
from tests.unit.storage.stores import with_service as run_service

T = TypeVar("T")


class Probe:
    """Records what it probed; `gate` (when set) holds every probe until it is set."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.seen: list[Path] = []
        self.gate = gate

    def __call__(self, path: Path, mime: str) -> ProbeResult:
        self.seen.append(path)
        if self.gate is not None:
            self.gate.wait(30)
        return ProbeResult(mime)


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def left_by(db: Engine, tmp_path: Path, replica: str, data: bytes = b"abc") -> str:
    """A finalized file whose processing `replica` leased and never ran (it died right after the
    upload); returns its internal id."""
    store = upload_store(db, Settings(data_dir=tmp_path).blob_dir, file_ttl_s=3600, replica=replica)

    async def upload() -> str:
        token, _ = await store.start("alice", declared_size=len(data), mime_type="image/png")
        await store.append(token, 0, body(data))
        return (await store.finalize(token)).file_id

    return asyncio.run(upload())


def lapse(db: Engine, key: str, **values: Any) -> None:
    """Make the file's processing lease lapse (its replica stopped renewing it)."""
    with db.begin() as conn:
        conn.execute(
            update(FILES)
            .where(FILES.c.id == key)
            .values(processing_lease_until=utcnow() - timedelta(seconds=1), **values)
        )


def lease_of(db: Engine, key: str) -> tuple[str, str | None, int | None]:
    with db.connect() as conn:
        row = conn.execute(
            select(FILES.c.state, FILES.c.processing_owner, FILES.c.processing_attempts).where(
                FILES.c.id == key
            )
        ).one()
    return row.state, row.processing_owner, row.processing_attempts


def with_service(
    db: Engine,
    tmp_path: Path,
    probe: Probe,
    scenario: Callable[[FileService], Coroutine[Any, Any, T]],
    **service: Any,
) -> T:
    """A FileService (`service`: replica, lease…) that waits up to 10 s for processing."""
    return run_service(db, tmp_path, probe, scenario, service=service, file_wait_s=10)


def test_a_running_replica_takes_over_a_dead_replicas_file(db: Engine, tmp_path: Path) -> None:
    probe = Probe()

    async def scenario(service: FileService) -> str:
        key = await asyncio.to_thread(left_by, db, tmp_path, "dead-replica")
        assert lease_of(db, key) == ("PROCESSING", "dead-replica", 1)
        await asyncio.sleep(0.5)
        assert probe.seen == []  # the dead replica's lease is still fresh: left alone
        lapse(db, key)
        # No restart: the lease keeper (every third of the lease) notices and processes it.
        found = await service.resolve_for_use("alice", key)
        assert found.state == "ACTIVE"
        return key

    key = with_service(db, tmp_path, probe, scenario, replica="live", lease_s=0.6)
    assert lease_of(db, key) == ("ACTIVE", None, 2)
    assert len(probe.seen) == 1


def test_fresh_leases_of_other_replicas_are_not_taken_at_start(db: Engine, tmp_path: Path) -> None:
    key = left_by(db, tmp_path, "pod-0")  # pod-0 is alive (its lease is fresh)
    probe = Probe()

    async def other(service: FileService) -> None:
        await asyncio.sleep(0.2)

    with_service(db, tmp_path, probe, other, replica="pod-1")
    assert probe.seen == [] and lease_of(db, key)[0] == "PROCESSING"

    async def restarted(service: FileService) -> str:
        return (await service.resolve_for_use("alice", key)).state

    # pod-0 restarted under its stable name (killed a moment ago): it takes its file back now.
    assert with_service(db, tmp_path, probe, restarted, replica="pod-0", stable_replica=True) == (
        "ACTIVE"
    )


def test_a_file_interrupted_too_often_fails_with_a_message(db: Engine, tmp_path: Path) -> None:
    key = left_by(db, tmp_path, "dead-replica")
    lapse(db, key, processing_attempts=MAX_PROCESSING_ATTEMPTS)
    probe = Probe()

    async def scenario(service: FileService) -> str:
        with pytest.raises(errors.FailedPrecondition) as failed:
            await service.resolve_for_use("alice", key)
        return failed.value.message

    message = with_service(db, tmp_path, probe, scenario)
    assert f"interrupted {MAX_PROCESSING_ATTEMPTS} times" in message
    assert "upload it again" in message
    assert probe.seen == []  # not run a fourth time
    assert lease_of(db, key) == ("FAILED", None, MAX_PROCESSING_ATTEMPTS)


def test_a_clean_stop_hands_processing_over_uncounted(db: Engine, tmp_path: Path) -> None:
    stuck = Probe(threading.Event())

    async def interrupted(service: FileService) -> str:
        uploaded = await service.upload_whole(
            "alice", body(b"abc"), size_bytes=3, mime_type="image/png"
        )
        assert uploaded.state == "PROCESSING"  # the probe is still running
        return uploaded.key

    try:
        key = with_service(db, tmp_path, stuck, interrupted, replica="stopping")
    finally:
        assert stuck.gate is not None
        stuck.gate.set()
    assert lease_of(db, key) == ("PROCESSING", None, 0)  # released, the run not counted

    async def taken_over(service: FileService) -> str:
        return (await service.resolve_for_use("alice", key)).state

    assert with_service(db, tmp_path, Probe(), taken_over, replica="other") == "ACTIVE"
    assert lease_of(db, key) == ("ACTIVE", None, 1)


def test_racing_replicas_claim_each_abandoned_file_once(db: Engine, tmp_path: Path) -> None:
    keys = [left_by(db, tmp_path, "dead-replica", bytes([i])) for i in range(8)]
    for key in keys:
        lapse(db, key)
    tables = [FileTable(db), FileTable(db)]
    claims: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def claim(i: int) -> None:
        barrier.wait()
        claims[i] = tables[i].claim_abandoned(f"r{i}", 60, own=False, max_attempts=3)[0]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claims[0] + claims[1]) == sorted(keys)  # every file once, none twice
    for i, mine in enumerate(claims):
        assert all(lease_of(db, key) == ("PROCESSING", f"r{i}", 2) for key in mine)


def test_tables_from_before_leases_are_upgraded_and_their_files_taken_over(
    db: Engine, tmp_path: Path
) -> None:
    key = left_by(db, tmp_path, "old-version")
    with db.begin() as conn:  # back to the schema without leases or holds
        for table, columns in (
            ("files", ("processing_owner", "processing_lease_until", "processing_attempts")),
            ("upload_sessions", ("holder", "held_until")),
        ):
            for column in columns:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    create_tables(db)
    assert lease_of(db, key) == ("PROCESSING", None, None)

    async def started(service: FileService) -> str:
        return (await service.resolve_for_use("alice", key)).state

    assert with_service(db, tmp_path, Probe(), started) == "ACTIVE"
    assert lease_of(db, key) == ("ACTIVE", None, 1)
