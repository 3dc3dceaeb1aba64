"""Stored interactions have a per-key quota (count and bytes) and expire (issue: interactions
were stored with no quota and no expiry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, func, select

from sightd import errors
from sightd.storage.db import init_schema
from sightd.storage.interactions import INTERACTIONS, InteractionRow, InteractionStore


@pytest.fixture
def store_db(db: Engine) -> Engine:
    init_schema(db)
    with db.begin() as conn:
        conn.execute(delete(INTERACTIONS))
    return db


def _row(iid: str, owner: str, age_s: float = 0, text: str = "x") -> InteractionRow:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=age_s)
    return InteractionRow(iid, owner, "m", "completed", when, when, {"t": text})


def test_count_quota_is_per_key_and_updates_are_free(store_db: Engine) -> None:
    store = InteractionStore(store_db, max_count=2)
    store.put(_row("a1", "alice"))
    store.put(_row("a2", "alice"))
    with pytest.raises(errors.ResourceExhausted) as caught:
        store.put(_row("a3", "alice"))
    assert caught.value.http_code == 429 and caught.value.reason == "INTERACTION_QUOTA_EXCEEDED"
    with pytest.raises(errors.ResourceExhausted):
        store.check_quota("alice")
    store.put(_row("a2", "alice", text="updated"))  # an update is not a new row
    store.put(_row("b1", "bob"))  # per key
    assert store.delete("alice", "a1")
    store.put(_row("a3", "alice"))


def test_byte_quota(store_db: Engine) -> None:
    store = InteractionStore(store_db, max_bytes=100)
    store.put(_row("a1", "alice", text="y" * 50))
    with pytest.raises(errors.ResourceExhausted) as caught:
        store.put(_row("a2", "alice", text="y" * 50))
    assert "100 bytes" in caught.value.message
    store.put(_row("a2", "alice", text="y" * 10))


def test_expired_rows_are_hidden_free_the_quota_and_are_swept(store_db: Engine) -> None:
    store = InteractionStore(store_db, ttl_s=3600, max_count=1)
    store.put(_row("old", "alice", age_s=3601))
    store.put(_row("new", "alice"))  # the expired row no longer counts
    assert store.get("alice", "old") is None
    assert store.get("alice", "new") is not None
    assert store.drop_expired() == 1
    with store_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(INTERACTIONS)).scalar() == 1
    assert store.drop_expired() == 0


def test_default_settings_bound_interactions() -> None:
    from sightd.settings import Settings

    s = Settings()
    assert s.interaction_ttl_s == 48 * 3600
    assert s.max_stored_interactions_per_key >= 1 and s.interaction_storage_quota_bytes >= 1
