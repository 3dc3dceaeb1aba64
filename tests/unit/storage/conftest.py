"""Database fixtures for the storage tests: every test runs on SQLite and on PostgreSQL (the
session's throwaway server from `tests/postgres.py`, via the root conftest's `postgres_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from sightd.storage.db import create_db
from sightd.storage.metadata import FILES, UPLOAD_SESSIONS, create_tables


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine with empty files/upload tables, on each backend in turn."""
    if request.param == "sqlite":
        engine = create_db(f"sqlite:///{tmp_path / 'sightd.db'}")
    else:
        engine = create_db(request.getfixturevalue("postgres_url"))
    create_tables(engine)
    with engine.begin() as conn:
        conn.execute(delete(UPLOAD_SESSIONS))
        conn.execute(delete(FILES))
    yield engine
    engine.dispose()
