"""Stored interactions (Interactions API): one row per interaction, scoped by owner.

The record column keeps the interaction's JSON timeline (input steps, output steps, usage) so
GET can return it and `previous_interaction_id` can continue the conversation. Large inline
media are dropped from the stored input (see services.interactions) to keep rows small.

Stored interactions expire `ttl_s` after creation (reads stop seeing them at once; the sweeper
deletes the rows), and each owner may keep at most `max_count` live rows of at most `max_bytes`
of record JSON in all: a new row past either is refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from sightd import errors
from sightd.storage.db import METADATA

INTERACTIONS = Table(
    "interactions",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("model", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Column("record", Text, nullable=False),
)


@dataclass(frozen=True)
class InteractionRow:
    id: str
    owner: str
    model: str
    status: str
    created: datetime
    updated: datetime
    record: dict[str, Any]


class InteractionStore:
    """Blocking CRUD; services call it through `asyncio.to_thread`."""

    def __init__(
        self,
        db: Engine,
        *,
        ttl_s: float = 48 * 3600,
        max_count: int = 10_000,
        max_bytes: int = 1 << 30,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_count = max_count
        self.max_bytes = max_bytes

    def _cutoff(self) -> datetime:
        """Rows created at or before this have expired."""
        return datetime.now(UTC) - timedelta(seconds=self.ttl_s)

    def _check_quota(self, conn: Connection, owner: str, new_bytes: int) -> None:
        live = (INTERACTIONS.c.owner == owner, INTERACTIONS.c.created > self._cutoff())
        count, used = conn.execute(
            select(func.count(), func.coalesce(func.sum(func.length(INTERACTIONS.c.record)), 0))
            .select_from(INTERACTIONS)
            .where(*live)
        ).one()
        if int(count) + 1 > self.max_count:
            raise errors.ResourceExhausted(
                f"Stored interaction quota of {self.max_count} per API key reached; delete "
                "some, wait for them to expire, or create with store=false.",
                reason="INTERACTION_QUOTA_EXCEEDED",
            )
        if int(used) + new_bytes > self.max_bytes:
            raise errors.ResourceExhausted(
                f"Stored interaction quota of {self.max_bytes} bytes per API key exceeded; "
                "delete some, wait for them to expire, or create with store=false.",
                reason="INTERACTION_QUOTA_EXCEEDED",
            )

    def check_quota(self, owner: str) -> None:
        """Raise ResourceExhausted if `owner` cannot store one more interaction."""
        with self.db.connect() as conn:
            self._check_quota(conn, owner, 0)

    def drop_expired(self) -> int:
        """Delete expired rows; returns how many."""
        with self.db.begin() as conn:
            res = conn.execute(delete(INTERACTIONS).where(INTERACTIONS.c.created <= self._cutoff()))
        return int(res.rowcount)

    def put(self, row: InteractionRow) -> None:
        record = json.dumps(row.record, separators=(",", ":"))  # ASCII: chars are bytes
        values = {
            "id": row.id,
            "owner": row.owner,
            "model": row.model,
            "status": row.status,
            "created": row.created,
            "updated": row.updated,
            "record": record,
        }
        with self.db.begin() as conn:
            exists = conn.execute(
                select(INTERACTIONS.c.id).where(INTERACTIONS.c.id == row.id)
            ).first()
            if exists:
                conn.execute(update(INTERACTIONS).where(INTERACTIONS.c.id == row.id).values(values))
            else:
                self._check_quota(conn, row.owner, len(record))
                conn.execute(insert(INTERACTIONS).values(values))

    def get(self, owner: str, interaction_id: str) -> InteractionRow | None:
        with self.db.connect() as conn:
            r = conn.execute(
                select(INTERACTIONS).where(
                    INTERACTIONS.c.id == interaction_id,
                    INTERACTIONS.c.owner == owner,
                    INTERACTIONS.c.created > self._cutoff(),
                )
            ).first()
        if r is None:
            return None
        return InteractionRow(
            r.id, r.owner, r.model, r.status, r.created, r.updated, json.loads(r.record)
        )

    def delete(self, owner: str, interaction_id: str) -> bool:
        with self.db.begin() as conn:
            res = conn.execute(
                delete(INTERACTIONS).where(
                    INTERACTIONS.c.id == interaction_id, INTERACTIONS.c.owner == owner
                )
            )
        return bool(res.rowcount)
