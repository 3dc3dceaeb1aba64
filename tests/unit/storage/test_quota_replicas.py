"""Per-key limits hold exactly across replicas (issue 9): two stores on two engines over one
database (two "replicas") race to open upload sessions and store interactions; the check and
the reservation happen in one database transaction under a per-owner lock, so no interleaving
lets the limit be overshot. On SQLite (two engines on one file) and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select

from sightd import errors
from sightd.storage.db import create_db, init_schema
from sightd.storage.interactions import INTERACTIONS, InteractionRow, InteractionStore
from sightd.storage.metadata import UPLOAD_SESSIONS
from sightd.storage.uploads import UploadStore
from tests.unit.storage.stores import upload_store

RACERS = 12  # per replica


@pytest.fixture
def second_engine(db: Engine) -> Iterator[Engine]:
    """Another engine (its own pool, as another process would have) on the same database."""
    init_schema(db)
    with db.begin() as conn:
        conn.execute(delete(INTERACTIONS))
    other = create_db(db.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


def _race(calls: list[Callable[[], Any]]) -> list[BaseException | None]:
    """Run every call at once (one thread each, released together); their outcomes."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[BaseException | None] = [None] * len(calls)

    def one(i: int) -> None:
        barrier.wait()
        try:
            calls[i]()
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


def _uploads(engine: Engine, root: Path, **limits: Any) -> UploadStore:
    return upload_store(engine, root, **limits)


def _open(store: UploadStore, declared: int | None) -> Callable[[], Any]:
    return lambda: asyncio.run(store.start("alice", declared_size=declared, mime_type="a/b"))


def _sessions(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(UPLOAD_SESSIONS.c.owner == "alice")
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize(
    ("limits", "declared", "allowed"),
    [
        ({"max_sessions": 5}, None, 5),  # the count of open sessions
        ({"quota_bytes": 1000}, 300, 3),  # the bytes their declared sizes reserve
    ],
    ids=["session-count", "reserved-bytes"],
)
def test_two_replicas_racing_to_open_sessions_stay_within_the_limit(
    db: Engine,
    second_engine: Engine,
    tmp_path: Path,
    limits: dict[str, int],
    declared: int | None,
    allowed: int,
) -> None:
    one = _uploads(db, tmp_path, **limits)
    two = _uploads(second_engine, tmp_path, **limits)
    calls = [_open(one, declared) for _ in range(RACERS)] + [
        _open(two, declared) for _ in range(RACERS)
    ]
    outcomes = _race(calls)
    refused = [o for o in outcomes if o is not None]
    assert all(isinstance(o, errors.ResourceExhausted) for o in refused), refused
    assert len(outcomes) - len(refused) == allowed
    assert _sessions(db) == allowed


def test_two_replicas_racing_to_store_interactions_stay_within_the_count(
    db: Engine, second_engine: Engine
) -> None:
    stores = [
        InteractionStore(db, max_count=4, replica="r1"),
        InteractionStore(second_engine, max_count=4, replica="r2"),
    ]
    now = datetime.now(UTC).replace(microsecond=0)

    def put(store: InteractionStore, i: int) -> Callable[[], None]:
        row = InteractionRow(f"{store.replica}-{i}", "alice", "m", "completed", now, now, {})
        return lambda: store.put(row)

    outcomes = _race([put(s, i) for s in stores for i in range(RACERS)])
    refused = [o for o in outcomes if o is not None]
    assert all(isinstance(o, errors.ResourceExhausted) for o in refused), refused
    with db.connect() as conn:
        stored = conn.execute(
            select(func.count()).where(INTERACTIONS.c.owner == "alice")
        ).scalar_one()
    assert stored == 4
    assert len(outcomes) - len(refused) == 4
