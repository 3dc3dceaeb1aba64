"""SQL tables for uploaded files and unfinished upload sessions (SQLAlchemy Core, so one schema
serves embedded SQLite and PostgreSQL alike).

Times are stored as naive UTC and handed back as aware UTC (`UTCDateTime`): SQLite has no time
zones, and comparing like with like keeps the expiry sweep and list paging portable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    inspect,
    text,
)

from sightd.storage.db import METADATA


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without the DateTime adapter (raw SQL paths)
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Now as an aware UTC datetime (the one clock every row uses)."""
    return datetime.now(UTC)


FILES = Table(
    "files",
    METADATA,
    Column("id", String(40), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(40), nullable=True),  # NULL only in rows made before names were scoped
    Column("display_name", String(512), nullable=True),
    Column("mime_type", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256_hex", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("create_time", UTCDateTime, nullable=False),
    Column("update_time", UTCDateTime, nullable=False),
    Column("expire_time", UTCDateTime, nullable=False),
    Column("blob_key", String(255), nullable=False),
    Column("video_metadata", JSON, nullable=True),
    # Who runs the PROCESSING step and until when (renewed while it runs); see storage/files.py.
    Column("processing_owner", String(64), nullable=True),
    Column("processing_lease_until", UTCDateTime, nullable=True),
    Column("processing_attempts", Integer, nullable=True),
    Index("ix_files_owner_created", "owner", "create_time", "id"),
    Index("ix_files_expire", "expire_time"),
    Index("ix_files_state", "state"),
    Index("ux_files_owner_name", "owner", "name", unique=True),
)
"""One row per uploaded file. `id` is the internal key (blobs, caches, processing); `name` is the
public id after `files/`, unique per owner only, so one key's chosen names neither collide with
nor reveal another's. Server-made ids use the same value for both, so their URIs are stable."""

UPLOAD_SESSIONS = Table(
    "upload_sessions",
    METADATA,
    # sha256 of the bearer token in the upload URL: a leaked database does not leak credentials.
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("file_id", String(40), nullable=False, unique=True),
    Column("name", String(40), nullable=True),
    Column("display_name", String(512), nullable=True),
    Column("mime_type", String(255), nullable=False),
    Column("declared_size", BigInteger, nullable=True),
    Column("received_bytes", BigInteger, nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("expire_time", UTCDateTime, nullable=False),
    # The writer of the chunk in flight (any replica) and until when; see storage/uploads.py.
    Column("holder", String(64), nullable=True),
    Column("held_until", UTCDateTime, nullable=True),
    Index("ix_upload_sessions_owner", "owner"),
    Index("ix_upload_sessions_expire", "expire_time"),
    Index("ux_upload_sessions_owner_name", "owner", "name", unique=True),
)
"""One row per unfinished upload. `file_id` (internal) and (`owner`, `name`) (public) are reserved
here so neither can be taken twice; `received_bytes` is the authority on how much of the partial
blob is valid."""


_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "files": (
        ("processing_owner", "VARCHAR(64)"),
        ("processing_lease_until", "TIMESTAMP"),
        ("processing_attempts", "INTEGER"),
    ),
    "upload_sessions": (("holder", "VARCHAR(64)"), ("held_until", "TIMESTAMP")),
}
"""Nullable columns added after the first release (NULL reads as "no lease / no holder")."""


def upgrade_tables(engine: Engine) -> None:
    """Add the per-owner `name` columns and the lease columns to tables made by older versions
    (idempotent)."""
    for table, id_column in ((FILES, "id"), (UPLOAD_SESSIONS, "file_id")):
        columns = {c["name"] for c in inspect(engine).get_columns(table.name)}
        with engine.begin() as conn:
            for column, kind in _ADDED_COLUMNS[table.name]:
                if column not in columns:
                    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column} {kind}"))
        if "name" in columns:
            continue
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN name VARCHAR(40)"))
            conn.execute(text(f"UPDATE {table.name} SET name = {id_column}"))
        for index in table.indexes:
            if index.name and index.name.startswith("ux_"):
                index.create(engine, checkfirst=True)


def create_tables(engine: Engine) -> None:
    """Create the files/upload tables if missing (idempotent; `init_schema` does all tables)."""
    METADATA.create_all(engine, tables=[FILES, UPLOAD_SESSIONS])
    upgrade_tables(engine)
