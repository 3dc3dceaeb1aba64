"""Crash recovery of background interactions on SQLite and PostgreSQL (issue: after SIGTERM or
SIGKILL and a restart a background interaction stayed `in_progress` forever): leases, which rows
a replica may fail, and the upgrade of tables made before leases existed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, select, text, update

from sightd.storage.db import init_schema
from sightd.storage.interactions import (
    INTERACTIONS,
    SERVER_STOPPED,
    InteractionRow,
    InteractionStore,
    upgrade_interactions,
)


@pytest.fixture
def store_db(db: Engine) -> Engine:
    init_schema(db)
    with db.begin() as conn:
        conn.execute(delete(INTERACTIONS))
    return db


def _put(store: InteractionStore, iid: str, status: str = "in_progress", age_s: float = 0) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=age_s)
    store.put(InteractionRow(iid, "alice", "m", status, when, when, {"output": []}))


def _set(db: Engine, iid: str, **values: object) -> None:
    with db.begin() as conn:
        conn.execute(update(INTERACTIONS).where(INTERACTIONS.c.id == iid).values(**values))


def _status(db: Engine, iid: str) -> tuple[str, dict[str, object]]:
    with db.connect() as conn:
        row = conn.execute(
            select(INTERACTIONS.c.status, INTERACTIONS.c.record).where(INTERACTIONS.c.id == iid)
        ).one()
    return row.status, json.loads(row.record)


def test_only_rows_whose_process_is_gone_are_failed(store_db: Engine) -> None:
    dead = InteractionStore(store_db, replica="dead", lease_s=60)
    live = InteractionStore(store_db, replica="live", lease_s=60)
    _put(dead, "lapsed")
    _set(store_db, "lapsed", lease_until=datetime.now(UTC) - timedelta(seconds=1))
    _put(live, "running")  # a live replica's fresh lease
    _put(dead, "done", status="completed")
    _put(dead, "legacy", age_s=3600)  # written before leases existed, untouched for an hour
    _set(store_db, "legacy", lease_until=None, replica=None)
    _put(dead, "legacy-fresh")  # no lease but just updated: maybe an old version still runs it
    _set(store_db, "legacy-fresh", lease_until=None, replica=None)

    restarted = InteractionStore(store_db, replica="new", lease_s=60)
    assert sorted(restarted.fail_abandoned()) == ["lapsed", "legacy"]
    status, record = _status(store_db, "lapsed")
    assert status == "failed"
    assert record["error"] == {"code": 503, "message": SERVER_STOPPED}
    assert record["output"] == []  # the rest of the record is kept
    for untouched, want in (("running", "in_progress"), ("done", "completed")):
        assert _status(store_db, untouched)[0] == want
    assert _status(store_db, "legacy-fresh")[0] == "in_progress"
    assert restarted.fail_abandoned() == []  # idempotent


def test_a_stable_replica_name_takes_back_its_own_rows_at_once(store_db: Engine) -> None:
    before = InteractionStore(store_db, replica="pod-0", lease_s=60)
    _put(before, "mine")  # lease still fresh: the process was SIGKILLed a moment ago
    other = InteractionStore(store_db, replica="pod-1", lease_s=60)
    _put(other, "theirs")
    again = InteractionStore(store_db, replica="pod-0", lease_s=60)
    assert again.fail_abandoned() == []  # a fresh lease alone is not enough…
    assert again.fail_abandoned(own=True) == ["mine"]  # …but the same name restarted is
    assert _status(store_db, "theirs")[0] == "in_progress"


def test_renewal_keeps_own_rows_alive_and_finishing_drops_the_lease(store_db: Engine) -> None:
    mine = InteractionStore(store_db, replica="a", lease_s=60)
    other = InteractionStore(store_db, replica="b", lease_s=60)
    _put(mine, "m1")
    _put(other, "o1")
    past = datetime.now(UTC) - timedelta(seconds=5)
    _set(store_db, "m1", lease_until=past)
    _set(store_db, "o1", lease_until=past)
    assert mine.renew_leases() == 1  # its own row only
    assert other.fail_abandoned() == ["o1"]  # b's lapsed row; a's renewed one survives
    assert _status(store_db, "m1")[0] == "in_progress"
    _put(mine, "m1", status="completed")
    with store_db.connect() as conn:
        replica, lease = conn.execute(
            select(INTERACTIONS.c.replica, INTERACTIONS.c.lease_until).where(
                INTERACTIONS.c.id == "m1"
            )
        ).one()
    assert (replica, lease) == (None, None)
    assert mine.renew_leases() == 0


def test_shutdown_fails_rows_its_stopped_tasks_wrote_as_cancelled(store_db: Engine) -> None:
    store = InteractionStore(store_db, replica="a")
    _put(store, "stopped", status="cancelled")
    _put(store, "finished", status="completed")
    assert store.fail_interrupted(["stopped", "finished", "missing"]) == ["stopped"]
    assert _status(store_db, "stopped")[0] == "failed"
    assert _status(store_db, "finished")[0] == "completed"


def test_tables_from_before_leases_are_upgraded(store_db: Engine) -> None:
    with store_db.begin() as conn:
        conn.execute(text("DROP TABLE interactions"))
        conn.execute(
            text(
                "CREATE TABLE interactions (id VARCHAR(64) PRIMARY KEY, owner VARCHAR(64) NOT "
                "NULL, model VARCHAR(200) NOT NULL, status VARCHAR(32) NOT NULL, created "
                "TIMESTAMP NOT NULL, updated TIMESTAMP NOT NULL, record TEXT NOT NULL)"
            )
        )
    init_schema(store_db)
    upgrade_interactions(store_db)  # idempotent
    store = InteractionStore(store_db, replica="a")
    _put(store, "x")
    assert store.renew_leases() == 1
