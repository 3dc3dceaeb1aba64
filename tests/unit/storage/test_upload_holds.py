"""Upload sessions across replicas (issue 9): a chunk in flight on one replica holds its session
row, so another replica does not write the same partial at the same time; the hold of a replica
that died lapses, so the client resuming elsewhere is served rather than refused forever; and an
abandoned session still expires. On SQLite and PostgreSQL (see conftest.db)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from sightd import errors
from sightd.storage.db import create_db
from sightd.storage.metadata import UPLOAD_SESSIONS, utcnow
from sightd.storage.uploads import UploadStore
from tests.unit.storage.stores import upload_store

DATA = os.urandom(40)
HOLD_S = 0.6


@pytest.fixture
def other_db(db: Engine) -> Iterator[Engine]:
    """A second engine on the same database: another replica's pool."""
    engine = create_db(db.url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def replica(db: Engine, root: Path, name: str) -> UploadStore:
    # One folder: stands in for a shared object store.
    return upload_store(db, root, file_ttl_s=3600, replica=name, hold_s=HOLD_S)


async def pieces(data: bytes) -> AsyncIterator[bytes]:
    yield data


def hold(db: Engine, holder: str, until_s: float) -> None:
    """Mark every session held by `holder` for `until_s` more seconds (a replica's chunk)."""
    with db.begin() as conn:
        conn.execute(
            update(UPLOAD_SESSIONS).values(
                holder=holder, held_until=utcnow() + timedelta(seconds=until_s)
            )
        )


def test_a_chunk_on_another_replica_waits_for_the_writer_then_is_refused(
    db: Engine, other_db: Engine, tmp_path: Path
) -> None:
    one, two = replica(db, tmp_path, "one"), replica(other_db, tmp_path, "two")

    async def scenario() -> tuple[str | None, float, int]:
        token, _ = await one.start("alice", declared_size=len(DATA), mime_type="image/png")
        flowing, release = asyncio.Event(), asyncio.Event()

        async def streaming() -> AsyncIterator[bytes]:  # a long chunk, still arriving on one
            yield DATA[:10]
            flowing.set()
            await release.wait()
            yield DATA[10:20]

        first = asyncio.create_task(one.append(token, 0, streaming()))
        await flowing.wait()
        began = time.monotonic()
        with pytest.raises(errors.Aborted) as refused:
            await two.append(token, 0, pieces(DATA[:20]))  # renewed by one: never lapses
        waited = time.monotonic() - began
        release.set()
        assert (await first).received_bytes == 20
        # The hold ended with the chunk: the other replica is served at once now.
        done = await two.append(token, 20, pieces(DATA[20:]))
        await two.finalize(token)
        return refused.value.reason, waited, done.received_bytes

    reason, waited, received = asyncio.run(scenario())
    assert reason == "UPLOAD_CHUNK_IN_FLIGHT"
    assert HOLD_S * 0.9 <= waited < HOLD_S * 4  # waited out one hold (renewed meanwhile)
    assert received == len(DATA)


def test_a_dead_replicas_hold_lapses(db: Engine, tmp_path: Path) -> None:
    store = replica(db, tmp_path, "alive")

    async def scenario() -> tuple[int, float]:
        token, _ = await store.start("alice", declared_size=len(DATA), mime_type="image/png")
        await store.append(token, 0, pieces(DATA[:8]))
        hold(db, "killed:0000", 0.3)  # its last renewal, shortly before it was killed
        began = time.monotonic()
        received = (await store.append(token, 8, pieces(DATA[8:]))).received_bytes
        waited = time.monotonic() - began
        await store.finalize(token)
        return received, waited

    received, waited = asyncio.run(scenario())
    assert received == len(DATA)
    assert 0.2 <= waited < HOLD_S * 2


def test_a_held_session_is_released_after_errors_and_still_expires(
    db: Engine, tmp_path: Path
) -> None:
    store = replica(db, tmp_path, "r")

    async def scenario() -> int:
        token, _ = await store.start("alice", declared_size=len(DATA), mime_type="image/png")
        with pytest.raises(errors.InvalidArgument):
            await store.append(token, 5, pieces(DATA))  # a gap: refused, the hold released
        with db.connect() as conn:
            holders = conn.execute(select(UPLOAD_SESSIONS.c.holder)).scalars().all()
        assert holders == [None]
        hold(db, "killed:0000", 3600)  # a dead replica's hold, far from lapsing…
        with db.begin() as conn:  # …on a session past its expiry
            conn.execute(
                update(UPLOAD_SESSIONS).values(expire_time=utcnow() - timedelta(seconds=1))
            )
        with pytest.raises(errors.NotFound):
            await store.append(token, 0, pieces(DATA))
        return await store.drop_expired()

    assert asyncio.run(scenario()) == 1
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(UPLOAD_SESSIONS)).scalar() == 0
