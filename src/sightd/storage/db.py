"""One SQLAlchemy engine and one `MetaData` for every table sightd keeps.

Tables are declared next to the code that owns them (`metadata.py` for files and uploads,
`interactions.py` for interactions) on the shared `METADATA`, so `init_schema` creates them all.
SQLite gets WAL and a busy timeout so the sweeper, uploads and requests can share one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event

METADATA = MetaData()


def create_db(url: str) -> Engine:
    """An engine for `url`; for SQLite the parent folder is created and pragmas set."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def init_schema(engine: Engine) -> None:
    """Create every table declared on `METADATA` (idempotent)."""
    # Import the modules that declare tables so they are registered before create_all.
    from sightd.storage import interactions, metadata

    METADATA.create_all(engine)
    metadata.upgrade_tables(engine)
    interactions.upgrade_interactions(engine)
