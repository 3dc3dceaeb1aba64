"""Interactions are scoped by owner: another key's DELETE or cancel of a background interaction
is not found and leaves the job running; the owner's DELETE stops it and the row stays gone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sightd import errors
from sightd.engine.base import Completion
from sightd.services.generate import GenerateResult
from sightd.services.inputs import BlockIn, GenerateInput, InteractionInput, StepIn
from sightd.services.interactions import InteractionService
from sightd.services.materialize import TokenUsage
from sightd.storage.db import create_db, init_schema
from sightd.storage.interactions import InteractionStore


class _Catalog:
    def resolve(self, model: str) -> object:
        return object()


class _StalledGenerate:
    """A GenerateService stand-in whose generations wait until released."""

    def __init__(self) -> None:
        self.catalog = _Catalog()
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = 0

    async def generate(self, owner: str, inp: GenerateInput) -> GenerateResult:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        done = Completion("the answer", "STOP", 2)
        return GenerateResult([done], TokenUsage({"TEXT": 3}), "tiny")


REQUEST = InteractionInput(
    model="gemini-2.5-flash",
    steps=(StepIn("user_input", (BlockIn("text", text="hi"),)),),
    background=True,
)


def _service(tmp_path: Path) -> tuple[InteractionService, _StalledGenerate]:
    db = create_db(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_schema(db)
    fake = _StalledGenerate()
    return InteractionService(InteractionStore(db), fake), fake  # type: ignore[arg-type]


def test_another_owner_cannot_delete_or_cancel_a_background_job(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        service, fake = _service(tmp_path)
        created = await service.create("alice", REQUEST)
        await fake.started.wait()
        with pytest.raises(errors.NotFound):
            await service.delete("mallory", created["id"])
        with pytest.raises(errors.NotFound):
            await service.cancel("mallory", created["id"])
        await asyncio.sleep(0.05)
        assert fake.cancelled == 0
        fake.release.set()
        for _ in range(200):
            got = await service.get("alice", created["id"])
            if got["status"] != "in_progress":
                return got
            await asyncio.sleep(0.01)
        raise AssertionError("the background job never finished")

    done = asyncio.run(scenario())
    assert done["status"] == "completed"
    assert done["steps"][-1]["content"][0]["text"] == "the answer"


def test_owner_delete_stops_the_job_and_the_row_stays_deleted(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, bool]:
        service, fake = _service(tmp_path)
        created = await service.create("alice", REQUEST)
        await fake.started.wait()
        await service.delete("alice", created["id"])
        await asyncio.sleep(0.05)  # a cancelled job must not write its row back
        try:
            await service.get("alice", created["id"])
        except errors.NotFound:
            return fake.cancelled, True
        return fake.cancelled, False

    cancelled, gone = asyncio.run(scenario())
    assert cancelled == 1 and gone


def test_over_the_interaction_quota_is_refused_before_generating(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = create_db(f"sqlite:///{tmp_path / 'db.sqlite'}")
        init_schema(db)
        fake = _StalledGenerate()
        store = InteractionStore(db, max_count=1)
        service = InteractionService(store, fake)  # type: ignore[arg-type]
        await service.create("alice", REQUEST)
        await fake.started.wait()
        fake.started.clear()
        with pytest.raises(errors.ResourceExhausted):
            await service.create("alice", REQUEST)
        await asyncio.sleep(0.05)
        assert not fake.started.is_set()  # no second generation was started
        fake.release.set()
        await service.create("bob", REQUEST)  # the quota is per key

    asyncio.run(scenario())
