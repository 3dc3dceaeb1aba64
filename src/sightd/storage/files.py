"""The one owner of the files table's SQL: every read and write of `FILES` goes through here.

`services/files.py` (lookups, processing, deletes, the expiry sweep) and `storage/uploads.py`
(creating a file from a finished upload, inside the transaction that drops its session) both
call this module, so the table's rules (owner scoping, public name vs internal id, expiry)
live in one place. Methods block: run them in threads.

Processing is leased, like background interactions: a PROCESSING row names the replica running
its probe (`processing_owner`) and until when (`processing_lease_until`, renewed every third of
the lease while it runs). A row whose lease lapsed (its process died: SIGKILL, OOM, a lost node)
or that a stopping process released (no lease) is claimed by any replica with one conditional
UPDATE, so exactly one wins, and processed again; `processing_attempts` counts the runs started,
so a file whose probe keeps killing its process ends FAILED with a message after a few runs
instead of taking down every replica in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from sightd.storage.metadata import FILES, utcnow

FileState = Literal["PROCESSING", "ACTIVE", "FAILED"]
_LEASE_COLUMNS = ("processing_owner", "processing_lease_until", "processing_attempts")


def interrupted_error(attempts: int) -> str:
    """The FAILED message of a file whose processing was cut short `attempts` times."""
    return (
        f"Processing was interrupted {attempts} times (the server stopped while processing "
        "this file, possibly because of the file); upload it again."
    )


@dataclass(frozen=True)
class FileRow:
    """One row of the files table (`id` internal, `name` public, unique per owner)."""

    id: str
    owner: str
    name: str
    display_name: str | None
    mime_type: str
    size_bytes: int
    sha256_hex: str
    state: FileState
    error: str | None
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    blob_key: str
    video_metadata: dict[str, Any] | None


def _row(row: Any) -> FileRow:
    values = row._asdict()
    for column in _LEASE_COLUMNS:
        values.pop(column, None)
    values["name"] = values["name"] or values["id"]  # rows from before names were scoped
    values["size_bytes"] = int(values["size_bytes"])
    return FileRow(**values)


class FileTable:
    """Reads and writes of the files table on one engine."""

    def __init__(self, db: Engine) -> None:
        self._db = db

    # --- reads --------------------------------------------------------------------------------
    def get(self, key: str) -> FileRow | None:
        """A file by internal id (no owner check: processing and sweeps)."""
        with self._db.connect() as conn:
            row = conn.execute(select(FILES).where(FILES.c.id == key)).first()
        return None if row is None else _row(row)

    def get_named(self, owner: str, name: str) -> FileRow | None:
        """The owner's file by public id."""
        query = select(FILES).where(and_(FILES.c.owner == owner, FILES.c.name == name))
        with self._db.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _row(row)

    def page(self, owner: str, limit: int, after: tuple[datetime, str] | None) -> list[FileRow]:
        """The owner's live files, newest first, after (create_time, internal id)."""
        query = select(FILES).where(and_(FILES.c.owner == owner, FILES.c.expire_time > utcnow()))
        if after is not None:
            when, last_id = after
            query = query.where(
                or_(
                    FILES.c.create_time < when,
                    and_(FILES.c.create_time == when, FILES.c.id < last_id),
                )
            )
        query = query.order_by(FILES.c.create_time.desc(), FILES.c.id.desc()).limit(limit)
        with self._db.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def expired(self) -> list[tuple[str, str]]:
        """(internal id, blob key) of every file past its expiry."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(FILES.c.id, FILES.c.blob_key).where(FILES.c.expire_time <= utcnow())
            ).all()
        return [(r.id, r.blob_key) for r in rows]

    @staticmethod
    def stored_bytes_query(owner: str, now: datetime) -> Any:
        """A scalar query: bytes of the owner's live files (for quota sums)."""
        return select(func.coalesce(func.sum(FILES.c.size_bytes), 0)).where(
            and_(FILES.c.owner == owner, FILES.c.expire_time > now)
        )

    def stored_totals(self) -> tuple[int, int, int]:
        """(bytes, files, distinct owners) of every live file, in one aggregate query (the
        same rows the quota sums: any state, not yet expired)."""
        query = select(
            func.coalesce(func.sum(FILES.c.size_bytes), 0),
            func.count(),
            func.count(func.distinct(FILES.c.owner)),
        ).where(FILES.c.expire_time > utcnow())
        with self._db.connect() as conn:
            row = conn.execute(query).one()
        return int(row[0]), int(row[1]), int(row[2])

    @staticmethod
    def taken(conn: Connection, key: str, owner: str, name: str) -> bool:
        """Whether a file holds the internal id `key` or the owner's public `name`."""
        clash = or_(FILES.c.id == key, and_(FILES.c.owner == owner, FILES.c.name == name))
        return conn.execute(select(FILES.c.id).where(clash)).first() is not None

    # --- writes -------------------------------------------------------------------------------
    @staticmethod
    def insert_processing(
        conn: Connection,
        *,
        key: str,
        owner: str,
        name: str,
        display_name: str | None,
        mime_type: str,
        size_bytes: int,
        sha256_hex: str,
        blob_key: str,
        now: datetime,
        ttl_s: float,
        processing_owner: str,
        lease_s: float,
    ) -> None:
        """A new PROCESSING file, inside the caller's transaction (the upload's finalize),
        leased to `processing_owner` (the replica finalizing it, which processes it next)."""
        conn.execute(
            insert(FILES).values(
                id=key,
                owner=owner,
                name=name,
                display_name=display_name,
                mime_type=mime_type,
                size_bytes=size_bytes,
                sha256_hex=sha256_hex,
                state="PROCESSING",
                error=None,
                create_time=now,
                update_time=now,
                expire_time=now + timedelta(seconds=ttl_s),
                blob_key=blob_key,
                video_metadata=None,
                processing_owner=processing_owner,
                processing_lease_until=now + timedelta(seconds=lease_s),
                processing_attempts=1,
            )
        )

    def delete_named(self, owner: str, name: str) -> tuple[str, str] | None:
        """Delete the owner's file `name`; returns (internal id, blob key) or None."""
        with self._db.begin() as conn:
            row = conn.execute(
                select(FILES.c.id, FILES.c.blob_key).where(
                    and_(FILES.c.name == name, FILES.c.owner == owner)
                )
            ).first()
            if row is None:
                return None
            conn.execute(delete(FILES).where(FILES.c.id == row.id))
        return row.id, row.blob_key

    def set_processed(
        self,
        key: str,
        *,
        error: str | None,
        mime_type: str,
        video_metadata: dict[str, Any] | None,
    ) -> None:
        """PROCESSING → ACTIVE (or FAILED with `error`); a no-op in any other state."""
        with self._db.begin() as conn:
            conn.execute(
                update(FILES)
                .where(and_(FILES.c.id == key, FILES.c.state == "PROCESSING"))
                .values(
                    state="FAILED" if error else "ACTIVE",
                    error=error,
                    mime_type=mime_type,
                    video_metadata=video_metadata,
                    update_time=utcnow(),
                    processing_owner=None,
                    processing_lease_until=None,
                )
            )

    # --- processing leases --------------------------------------------------------------------
    def renew_processing(self, keys: list[str], owner: str, lease_s: float) -> int:
        """Extend `owner`'s leases on those of `keys` still PROCESSING; returns how many."""
        if not keys:
            return 0
        c = FILES.c
        with self._db.begin() as conn:
            done = conn.execute(
                update(FILES)
                .where(c.id.in_(keys), c.processing_owner == owner, c.state == "PROCESSING")
                .values(processing_lease_until=utcnow() + timedelta(seconds=lease_s))
            ).rowcount
        return int(done)

    def release_processing(self, owner: str) -> int:
        """Hand back every PROCESSING row `owner` leases (a clean stop): any replica may claim
        them at once, and the interrupted run is not counted against the file."""
        c = FILES.c
        with self._db.begin() as conn:
            done = conn.execute(
                update(FILES)
                .where(c.processing_owner == owner, c.state == "PROCESSING")
                .values(
                    processing_owner=None,
                    processing_lease_until=None,
                    processing_attempts=func.coalesce(c.processing_attempts, 1) - 1,
                )
            ).rowcount
        return int(done)

    def _abandoned(self, owner: str, *, own: bool) -> ColumnElement[bool]:
        """PROCESSING rows nobody runs: lease lapsed or released (or from before leases); with
        `own`, also `owner`'s (a restart under a stable replica name)."""
        c = FILES.c
        gone = [c.processing_lease_until.is_(None), c.processing_lease_until < utcnow()]
        if own:
            gone.append(c.processing_owner == owner)
        return and_(c.state == "PROCESSING", or_(*gone))

    def claim_abandoned(
        self, owner: str, lease_s: float, *, own: bool, max_attempts: int
    ) -> tuple[list[str], list[str]]:
        """Take over the PROCESSING rows nobody runs: lease each to `owner` for another run, or
        mark it FAILED once `max_attempts` runs were started. Returns (claimed, failed) ids.
        Each row is taken by one conditional UPDATE, so of racing replicas exactly one gets it."""
        c = FILES.c
        with self._db.connect() as conn:
            ids = list(conn.execute(select(c.id).where(self._abandoned(owner, own=own))).scalars())
        claimed: list[str] = []
        failed: list[str] = []
        for key in ids:
            attempts = func.coalesce(c.processing_attempts, 0)
            with self._db.begin() as conn:
                still = and_(c.id == key, self._abandoned(owner, own=own))
                took = conn.execute(
                    update(FILES)
                    .where(still, attempts < max_attempts)
                    .values(
                        processing_owner=owner,
                        processing_lease_until=utcnow() + timedelta(seconds=lease_s),
                        processing_attempts=attempts + 1,
                    )
                ).rowcount
                if took:
                    claimed.append(key)
                    continue
                row = conn.execute(select(attempts).where(still)).first()
                if row is None:
                    continue  # finished, renewed or claimed by another replica meanwhile
                gave_up = conn.execute(
                    update(FILES)
                    .where(still)
                    .values(
                        state="FAILED",
                        error=interrupted_error(int(row[0])),
                        update_time=utcnow(),
                        processing_owner=None,
                        processing_lease_until=None,
                    )
                ).rowcount
                if gave_up:
                    failed.append(key)
        return claimed, failed

    def delete_expired(self, key: str) -> bool:
        """Delete the file when it is (still) past its expiry; returns whether it went."""
        with self._db.begin() as conn:
            gone = conn.execute(
                delete(FILES).where(and_(FILES.c.id == key, FILES.c.expire_time <= utcnow()))
            ).rowcount
        return gone == 1
