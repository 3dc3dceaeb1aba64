"""The upload state machine, table-driven, on SQLite and PostgreSQL (see conftest.db)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select, text

from sightd import errors
from sightd.storage.metadata import FILES, UPLOAD_SESSIONS, create_tables, utcnow
from sightd.storage.uploads import UploadStore
from tests.unit.storage.stores import upload_store

T = TypeVar("T")
SIZE = 20
DATA = os.urandom(64)  # bytes [0, SIZE) are the file; the rest overshoots it


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def pieces(data: bytes, size: int = 3) -> AsyncIterator[bytes]:
    """Small uneven pieces, as a socket delivers them."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def make_store(db: Engine, root: Path, clock: Clock | None = None, **limits: Any) -> UploadStore:
    return upload_store(db, root, clock=clock or Clock(), **limits)


@dataclass(frozen=True)
class Append:
    offset: int
    n: int
    error: type[errors.SightdError] | None = None
    received: int | None = None  # expected bytes received afterwards


@dataclass(frozen=True)
class Finalize:
    error: type[errors.SightdError] | None = None


CASES: dict[str, tuple[int | None, list[Append | Finalize]]] = {
    "in order": (
        SIZE,
        [
            Append(0, 8, received=8),
            Append(8, 8, received=16),
            Append(16, 4, received=20),
            Finalize(),
        ],
    ),
    "one request": (SIZE, [Append(0, 20), Finalize()]),
    "re-sent chunk is idempotent": (
        SIZE,
        [Append(0, 8), Append(0, 8, received=8), Append(8, 12), Finalize()],
    ),
    "overlapping resend appends the tail": (
        SIZE,
        [Append(0, 8), Append(4, 8, received=12), Append(12, 8), Finalize()],
    ),
    "resend inside stored bytes": (
        SIZE,
        [Append(0, 12), Append(2, 4, received=12), Append(12, 8), Finalize()],
    ),
    "gap is refused, session survives": (
        SIZE,
        [
            Append(0, 8),
            Append(12, 4, errors.InvalidArgument, received=8),
            Append(8, 12),
            Finalize(),
        ],
    ),
    "negative offset": (
        SIZE,
        [Append(-1, 4, errors.InvalidArgument, received=0), Append(0, 20), Finalize()],
    ),
    "past the declared size": (
        SIZE,
        [
            Append(0, 8),
            Append(8, 16, errors.InvalidArgument, received=8),
            Append(8, 12),
            Finalize(),
        ],
    ),
    "finalize short": (
        SIZE,
        [Append(0, 8), Finalize(errors.InvalidArgument), Append(8, 12), Finalize()],
    ),
    "empty file": (0, [Finalize()]),
    "empty chunk then finalize": (0, [Append(0, 0, received=0), Finalize()]),
    "unknown size takes what came": (None, [Append(0, 8), Append(8, 12), Finalize()]),
    "over the per-file cap": (
        None,
        [Append(0, 30, errors.PayloadTooLarge, received=0), Append(0, 20), Finalize()],
    ),
    "over the quota": (
        None,
        [Append(0, 16, errors.ResourceExhausted, received=0), Append(0, 15), Finalize()],
    ),
}
LIMITS: dict[str, dict[str, int]] = {
    "over the per-file cap": {"max_file_bytes": 25, "quota_bytes": 1000},
    "over the quota": {"max_file_bytes": 1000, "quota_bytes": 15},
}


@pytest.mark.parametrize("name", list(CASES))
def test_upload_sequences(name: str, db: Engine, tmp_path: Path) -> None:
    declared, steps = CASES[name]
    store = make_store(db, tmp_path, **LIMITS.get(name, {}))

    async def scenario() -> None:
        token, session = await store.start("alice", declared_size=declared, mime_type="image/png")
        finished, received = None, 0
        for step in steps:
            if isinstance(step, Append):
                chunk = DATA[max(step.offset, 0) : max(step.offset, 0) + step.n]
                if step.error:
                    with pytest.raises(step.error):
                        await store.append(token, step.offset, pieces(chunk))
                else:
                    after = await store.append(token, step.offset, pieces(chunk))
                    received = after.received_bytes
                if step.received is not None:
                    assert (await store.get(token)).received_bytes == step.received
            elif step.error:
                with pytest.raises(step.error):
                    await store.finalize(token)
            else:
                finished = await store.finalize(token)
        if finished is None:
            return
        expected = DATA[:received]
        assert finished.file_id == session.file_id
        with db.connect() as conn:
            row = conn.execute(select(FILES).where(FILES.c.id == session.file_id)).one()
            assert conn.execute(select(func.count()).select_from(UPLOAD_SESSIONS)).scalar() == 0
        assert row.state == "PROCESSING"
        assert row.size_bytes == len(expected)
        assert row.sha256_hex == hashlib.sha256(expected).hexdigest()
        assert store._blobs.path_of(row.blob_key).read_bytes() == expected
        with pytest.raises(errors.NotFound):  # the token is spent
            await store.get(token)

    run(scenario())


def test_unknown_and_malformed_tokens(db: Engine, tmp_path: Path) -> None:
    store = make_store(db, tmp_path)
    for token in ("x" * 43, "has spaces in it okay", "", "../../etc/passwd"):
        with pytest.raises(errors.NotFound):
            run(store.append(token, 0, pieces(b"abc")))
        with pytest.raises(errors.NotFound):
            run(store.finalize(token))


def test_expired_session_is_gone_and_swept(db: Engine, tmp_path: Path) -> None:
    clock = Clock()
    store = make_store(db, tmp_path, clock)
    token, session = run(store.start("alice", declared_size=SIZE, mime_type="video/mp4"))
    run(store.append(token, 0, pieces(DATA[:8])))
    clock.now += timedelta(seconds=3601)
    with pytest.raises(errors.NotFound):
        run(store.append(token, 8, pieces(DATA[8:20])))
    assert run(store.drop_expired()) == 1
    assert not (tmp_path / "partial" / session.id).exists()
    assert run(store.drop_expired()) == 0


def test_cap_and_quota_checked_at_start(db: Engine, tmp_path: Path) -> None:
    store = make_store(db, tmp_path, max_file_bytes=25, quota_bytes=30)
    with pytest.raises(errors.PayloadTooLarge):
        run(store.start("alice", declared_size=26, mime_type="image/png"))
    with pytest.raises(errors.InvalidArgument):
        run(store.start("alice", declared_size=-1, mime_type="image/png"))

    async def fill() -> None:
        token, _ = await store.start("alice", declared_size=SIZE, mime_type="image/png")
        await store.append(token, 0, pieces(DATA[:SIZE]))
        await store.finalize(token)

    run(fill())
    with pytest.raises(errors.ResourceExhausted):
        run(store.start("alice", declared_size=11, mime_type="image/png"))
    run(store.start("alice", declared_size=10, mime_type="image/png"))  # exactly fits
    run(store.start("bob", declared_size=25, mime_type="image/png"))  # quota is per owner


def test_quota_counts_other_sessions_bytes(db: Engine, tmp_path: Path) -> None:
    store = make_store(db, tmp_path, quota_bytes=30)

    async def scenario() -> None:
        first, _ = await store.start("alice", declared_size=None, mime_type="image/png")
        await store.append(first, 0, pieces(DATA[:20]))
        second, _ = await store.start("alice", declared_size=None, mime_type="image/png")
        with pytest.raises(errors.ResourceExhausted):
            await store.append(second, 0, pieces(DATA[:11]))
        await store.append(second, 0, pieces(DATA[:10]))

    run(scenario())


def test_open_sessions_per_owner_are_capped(db: Engine, tmp_path: Path) -> None:
    """Issue: one key opened 2,000 sessions in 20 s; now it gets RESOURCE_EXHAUSTED past N."""
    clock = Clock()
    store = make_store(db, tmp_path, clock, max_sessions=3)

    async def scenario() -> None:
        tokens = [
            (await store.start("alice", declared_size=1, mime_type="a/b"))[0] for _ in range(3)
        ]
        with pytest.raises(errors.ResourceExhausted) as caught:
            await store.start("alice", declared_size=1, mime_type="a/b")
        assert caught.value.reason == "TOO_MANY_UPLOAD_SESSIONS"
        await store.start("bob", declared_size=1, mime_type="a/b")  # the cap is per owner
        await store.cancel(tokens[0])  # a cancelled session frees its slot
        await store.start("alice", declared_size=1, mime_type="a/b")
        clock.now += timedelta(seconds=3601)  # expired sessions do not count either
        await store.start("alice", declared_size=1, mime_type="a/b")

    run(scenario())


def test_declared_sizes_of_open_sessions_count_against_the_quota(
    db: Engine, tmp_path: Path
) -> None:
    """Issue: 125 GiB declared against a 20 GiB quota; declared bytes are now reserved."""
    store = make_store(db, tmp_path, max_file_bytes=25, quota_bytes=30)

    async def scenario() -> None:
        await store.start("alice", declared_size=20, mime_type="a/b")  # nothing sent yet
        with pytest.raises(errors.ResourceExhausted) as caught:
            await store.start("alice", declared_size=11, mime_type="a/b")
        assert caught.value.reason == "STORAGE_QUOTA_EXCEEDED"
        assert "30" in caught.value.message  # names the quota
        await store.start("alice", declared_size=10, mime_type="a/b")  # exactly fits
        with pytest.raises(errors.ResourceExhausted):  # nothing left, even undeclared
            undeclared, _ = await store.start("alice", declared_size=None, mime_type="a/b")
            await store.append(undeclared, 0, pieces(DATA[:1]))

    run(scenario())


def test_sweep_removes_abandoned_partials(db: Engine, tmp_path: Path) -> None:
    clock = Clock()
    store = make_store(db, tmp_path, clock, session_ttl_s=6 * 3600)
    sessions = [run(store.start("alice", declared_size=SIZE, mime_type="a/b"))[1] for _ in range(3)]
    assert all((tmp_path / "partial" / s.id).exists() for s in sessions)
    clock.now += timedelta(hours=5)
    assert run(store.drop_expired()) == 0
    clock.now += timedelta(hours=1, seconds=1)
    assert run(store.drop_expired()) == 3
    assert not any((tmp_path / "partial").iterdir())


def test_chosen_names(db: Engine, tmp_path: Path) -> None:
    store = make_store(db, tmp_path)

    async def scenario() -> None:
        token, session = await store.start(
            "alice", declared_size=0, mime_type="a/b", file_id="abc1"
        )
        assert session.name == "abc1" and session.file_id != "abc1"
        with pytest.raises(errors.AlreadyExists):  # reserved by a live session
            await store.start("alice", declared_size=0, mime_type="a/b", file_id="abc1")
        # Names are per owner: bob neither collides with nor learns of alice's.
        _, bobs = await store.start("bob", declared_size=0, mime_type="a/b", file_id="abc1")
        assert bobs.name == "abc1" and bobs.file_id != session.file_id
        await store.finalize(token)
        with pytest.raises(errors.AlreadyExists):  # taken by a file
            await store.start("alice", declared_size=0, mime_type="a/b", file_id="abc1")
        for bad in ("ABC", "a-b", "x" * 41, ""):
            with pytest.raises(errors.InvalidArgument):
                await store.start("alice", declared_size=0, mime_type="a/b", file_id=bad)

    run(scenario())


def test_resume_in_a_new_process_rehashes(db: Engine, tmp_path: Path) -> None:
    """A second worker (no cached hash state) continues the upload; the digest is still right."""
    first, second = make_store(db, tmp_path), make_store(db, tmp_path)
    token, session = run(first.start("alice", declared_size=SIZE, mime_type="image/png"))
    run(first.append(token, 0, pieces(DATA[:8])))
    # A writer that died after writing but before committing leaves junk past received_bytes.
    with open(tmp_path / "partial" / session.id, "ab") as fh:
        fh.write(b"junk-junk")
    run(second.append(token, 8, pieces(DATA[8:SIZE])))
    done = run(second.finalize(token))
    with db.connect() as conn:
        row = conn.execute(select(FILES).where(FILES.c.id == done.file_id)).one()
    assert row.sha256_hex == hashlib.sha256(DATA[:SIZE]).hexdigest()
    assert (tmp_path / row.blob_key).read_bytes() == DATA[:SIZE]


def test_cancel_drops_everything(db: Engine, tmp_path: Path) -> None:
    store = make_store(db, tmp_path)
    token, session = run(store.start("alice", declared_size=SIZE, mime_type="image/png"))
    run(store.append(token, 0, pieces(DATA[:8])))
    run(store.cancel(token))
    assert not (tmp_path / "partial" / session.id).exists()
    with pytest.raises(errors.NotFound):
        run(store.get(token))


def test_large_chunk_streams_in_bounded_writes(db: Engine, tmp_path: Path) -> None:
    """3 MiB in 64 KiB pieces: written in WRITE_BYTES batches, digest computed on the way."""
    data = os.urandom(3 * 1024 * 1024 + 7)
    store = make_store(db, tmp_path, max_file_bytes=len(data), quota_bytes=len(data))

    async def scenario() -> str:
        token, _ = await store.start("alice", declared_size=len(data), mime_type="video/mp4")
        await store.append(token, 0, pieces(data, 64 * 1024))
        return (await store.finalize(token)).file_id

    file_id = run(scenario())
    with db.connect() as conn:
        row = conn.execute(select(FILES).where(FILES.c.id == file_id)).one()
    assert row.sha256_hex == hashlib.sha256(data).hexdigest()
    assert (tmp_path / row.blob_key).read_bytes() == data


def test_interrupted_chunk_rolls_back(db: Engine, tmp_path: Path) -> None:
    """A client that disconnects mid-chunk leaves the session at its last committed size."""
    store = make_store(db, tmp_path)
    token, session = run(store.start("alice", declared_size=SIZE, mime_type="image/png"))

    async def broken() -> AsyncIterator[bytes]:
        yield DATA[8:12]
        raise ConnectionResetError("client went away")

    run(store.append(token, 0, pieces(DATA[:8])))
    with pytest.raises(ConnectionResetError):
        run(store.append(token, 8, broken()))
    assert run(store.get(token)).received_bytes == 8
    assert (tmp_path / "partial" / session.id).stat().st_size == 8
    run(store.append(token, 8, pieces(DATA[8:SIZE])))
    run(store.finalize(token))


def test_tables_from_before_scoped_names_are_upgraded(db: Engine, tmp_path: Path) -> None:
    """Databases made before names were per owner gain `name` (= the old global id)."""
    store = make_store(db, tmp_path)

    async def make_file() -> str:
        token, _ = await store.start("alice", declared_size=0, mime_type="a/b")
        return (await store.finalize(token)).file_id

    file_id = run(make_file())
    _, open_session = run(store.start("alice", declared_size=0, mime_type="a/b"))
    with db.begin() as conn:  # back to the old schema
        for table in ("files", "upload_sessions"):
            conn.execute(text(f"DROP INDEX ux_{table}_owner_name"))
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN name"))
    create_tables(db)
    with db.connect() as conn:
        assert conn.execute(select(FILES.c.name)).scalar_one() == file_id
        names = conn.execute(select(UPLOAD_SESSIONS.c.name, UPLOAD_SESSIONS.c.file_id)).one()
        assert names[0] == names[1]
    with pytest.raises(errors.AlreadyExists):  # the unique (owner, name) index is back
        run(store.start("alice", declared_size=0, mime_type="a/b", file_id=open_session.name))
    run(store.start("bob", declared_size=0, mime_type="a/b", file_id=file_id))


def test_second_writer_is_refused_while_a_chunk_is_in_flight(db: Engine, tmp_path: Path) -> None:
    """A chunk or finalize arriving while another chunk streams is ABORTED at once, not queued;
    once the first chunk ends (here: its body fails, as an idle-timed-out one does), the session
    is at its committed size and takes the next chunk."""
    store = make_store(db, tmp_path)

    async def scenario() -> tuple[list[str | None], int]:
        token, _ = await store.start("alice", declared_size=SIZE, mime_type="image/png")
        await store.append(token, 0, pieces(DATA[:8]))
        flowing, release = asyncio.Event(), asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            yield DATA[8:12]
            flowing.set()
            await release.wait()
            raise TimeoutError("body stalled")

        first = asyncio.create_task(store.append(token, 8, stalls()))
        await flowing.wait()
        reasons: list[str | None] = []
        for attempt in (store.append(token, 8, pieces(DATA[8:SIZE])), store.finalize(token)):
            try:
                await asyncio.wait_for(attempt, 1)
            except errors.Aborted as exc:
                reasons.append(exc.reason)
        release.set()
        with pytest.raises(TimeoutError):
            await first
        received = (await store.get(token)).received_bytes
        await store.append(token, 8, pieces(DATA[8:SIZE]))
        await store.finalize(token)
        return reasons, received

    reasons, received = run(scenario())
    assert reasons == ["UPLOAD_CHUNK_IN_FLIGHT", "UPLOAD_CHUNK_IN_FLIGHT"]
    assert received == 8
