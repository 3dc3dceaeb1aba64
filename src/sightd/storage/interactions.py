"""Stored interactions (Interactions API): one row per interaction, scoped by owner.

The record column keeps the interaction's JSON timeline (input steps, output steps, usage) so
GET can return it and `previous_interaction_id` can continue the conversation. Large inline
media are dropped from the stored input (see services.interactions) to keep rows small.

Stored interactions expire `ttl_s` after creation (reads stop seeing them at once; the sweeper
deletes the rows), and each owner may keep at most `max_count` live rows of at most `max_bytes`
of record JSON in all: a new row past either is refused with RESOURCE_EXHAUSTED. The check and
the insert run in one transaction under the owner's database lock (`storage/locks.py`), so
replicas sharing a database cannot overshoot the quota between them.

Background interactions in progress carry a lease: `replica` names the process running them and
`lease_until` is renewed by it (`renew_leases`, every third of `lease_s`). A row whose lease
lapsed belongs to a process that is gone, and any replica may mark it failed
(`fail_abandoned`); a live replica's rows are never touched. A replica started under the same
stable name as an earlier run (`--replica-id`) also takes back that run's rows at once, since
one name is never run twice at the same time.
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
    Index,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)

from sightd import errors
from sightd.storage.db import METADATA
from sightd.storage.locks import lock_owner

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
    Column("replica", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Index("ix_interactions_status", "status"),
)

IN_PROGRESS = "in_progress"
SERVER_STOPPED = "The server stopped before this interaction finished; create it again."
STOPPED_CODE = 503


def upgrade_interactions(engine: Engine) -> None:
    """Add the lease columns (and the status index) to tables made by older versions
    (idempotent)."""
    columns = {c["name"] for c in inspect(engine).get_columns(INTERACTIONS.name)}
    with engine.begin() as conn:
        if "replica" not in columns:
            conn.execute(text("ALTER TABLE interactions ADD COLUMN replica VARCHAR(64)"))
        if "lease_until" not in columns:
            kind = "TIMESTAMP WITH TIME ZONE" if engine.dialect.name == "postgresql" else "DATETIME"
            conn.execute(text(f"ALTER TABLE interactions ADD COLUMN lease_until {kind}"))
    for index in INTERACTIONS.indexes:
        index.create(engine, checkfirst=True)


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
        replica: str = "local",
        lease_s: float = 60.0,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.replica = replica
        self.lease_s = lease_s

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
            # in progress: leased by this process; finished: no lease
            "replica": self.replica if row.status == IN_PROGRESS else None,
            "lease_until": self._lease_end() if row.status == IN_PROGRESS else None,
        }
        with self.db.begin() as conn:
            lock_owner(conn, INTERACTIONS, row.owner)  # first: the quota check below is atomic
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

    # --- leases of background interactions (crash recovery) ------------------------------

    def _lease_end(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.lease_s)

    def renew_leases(self) -> int:
        """Extend the lease of every in-progress row this replica runs; returns how many."""
        with self.db.begin() as conn:
            res = conn.execute(
                update(INTERACTIONS)
                .where(INTERACTIONS.c.replica == self.replica, INTERACTIONS.c.status == IN_PROGRESS)
                .values(lease_until=self._lease_end())
            )
        return int(res.rowcount)

    def fail_abandoned(self, *, own: bool = False) -> list[str]:
        """Mark failed the in-progress rows whose process is gone: lease lapsed (or, for rows
        written before leases existed, not updated for `lease_s`), and with `own` also this
        replica's (start-up under a stable replica name). Returns their ids."""
        now = datetime.now(UTC)
        c = INTERACTIONS.c
        gone = [
            c.lease_until < now,
            (c.lease_until.is_(None)) & (c.updated < now - timedelta(seconds=self.lease_s)),
        ]
        if own:
            gone.append(c.replica == self.replica)
        with self.db.connect() as conn:
            ids = list(
                conn.execute(select(c.id).where(c.status == IN_PROGRESS, or_(*gone))).scalars()
            )
        failed: list[str] = []
        for iid in ids:
            # re-checked in the UPDATE: a row renewed or finished meanwhile is left alone
            if self._fail(iid, (c.status == IN_PROGRESS, or_(*gone))):
                failed.append(iid)
        return failed

    def fail_interrupted(self, ids: list[str]) -> list[str]:
        """Mark failed the rows of background runs this process stopped at shutdown (in
        progress, or already written as cancelled by the stopped task)."""
        c = INTERACTIONS.c
        return [iid for iid in ids if self._fail(iid, (c.status.in_((IN_PROGRESS, "cancelled")),))]

    def _fail(self, iid: str, conditions: tuple[Any, ...]) -> bool:
        c = INTERACTIONS.c
        with self.db.begin() as conn:
            found = conn.execute(select(c.record).where(c.id == iid, *conditions)).first()
            if found is None:
                return False
            record = json.loads(found.record)
            record["error"] = {"code": STOPPED_CODE, "message": SERVER_STOPPED}
            res = conn.execute(
                update(INTERACTIONS)
                .where(c.id == iid, *conditions)
                .values(
                    status="failed",
                    updated=datetime.now(UTC).replace(microsecond=0),
                    record=json.dumps(record, separators=(",", ":")),
                    replica=None,
                    lease_until=None,
                )
            )
        return bool(res.rowcount)
