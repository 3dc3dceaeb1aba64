"""Stored interactions (Interactions API): one row per interaction, scoped by owner.

The record column keeps the interaction's JSON timeline (input steps, output steps, usage) so
GET can return it and `previous_interaction_id` can continue the conversation. Large inline
media are dropped from the stored input (see services.interactions) to keep rows small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, String, Table, Text, delete, insert, select, update

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

    def __init__(self, db: Engine) -> None:
        self.db = db

    def put(self, row: InteractionRow) -> None:
        values = {
            "id": row.id,
            "owner": row.owner,
            "model": row.model,
            "status": row.status,
            "created": row.created,
            "updated": row.updated,
            "record": json.dumps(row.record, separators=(",", ":")),
        }
        with self.db.begin() as conn:
            exists = conn.execute(
                select(INTERACTIONS.c.id).where(INTERACTIONS.c.id == row.id)
            ).first()
            if exists:
                conn.execute(update(INTERACTIONS).where(INTERACTIONS.c.id == row.id).values(values))
            else:
                conn.execute(insert(INTERACTIONS).values(values))

    def get(self, owner: str, interaction_id: str) -> InteractionRow | None:
        with self.db.connect() as conn:
            r = conn.execute(
                select(INTERACTIONS).where(
                    INTERACTIONS.c.id == interaction_id, INTERACTIONS.c.owner == owner
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
