"""A per-owner lock inside a database transaction, so a quota's check and the write it guards
are one atomic step across every process sharing the database (replicas on PostgreSQL, or
several processes on one SQLite file), not just within one process.

    with engine.begin() as conn:
        lock_owner(conn, UPLOAD_SESSIONS, owner)   # first statement of the transaction
        ...count / sum the owner's rows...
        ...insert, or raise ResourceExhausted...

- PostgreSQL: `pg_advisory_xact_lock` on a 64-bit key from (table, owner). Only that owner's
  writers of that table wait; the lock goes with the transaction (commit, rollback, or the
  connection dying with its process), so a crashed holder never leaves it taken. Under READ
  COMMITTED each later statement sees what the previous holder committed.
- SQLite: a write that matches no row, issued first, makes the driver open the transaction and
  take the database's write lock at once (what `BEGIN IMMEDIATE` does), so the reads that follow
  run inside that transaction and no other writer commits between them and the insert. It
  serialises all writers for the few milliseconds of a quota check; embedded SQLite has one
  writer at a time anyway.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, Table, text, update


def owner_key(table: str, owner: str) -> int:
    """A signed 64-bit advisory-lock key for (table, owner)."""
    digest = hashlib.sha256(f"sightd:{table}:{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_owner(conn: Connection, table: Table, owner: str) -> None:
    """Hold `owner`'s lock on `table` until the transaction on `conn` ends; call it first."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": owner_key(table.name, owner)}
        )
        return
    # Any other dialect: take the write lock by a write that matches nothing (see above).
    owner_col = table.c.owner
    conn.execute(update(table).where(owner_col != owner_col).values(owner=owner_col))
