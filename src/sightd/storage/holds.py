"""Who is writing an upload session right now, across every replica sharing the database.

The writer of a chunk (or finalize) is named in the session row (`holder`, `held_until`): it
takes the row with one conditional UPDATE, so of two replicas exactly one gets it, and renews it
every third of `hold_s` while the chunk streams; a chunk reaching another replica meanwhile waits
up to `hold_s` for that hold to end, then is refused (ABORTED, UPLOAD_CHUNK_IN_FLIGHT) the way a
second chunk in the same process is. The wait is for failover: a replica that dies mid-chunk
(SIGKILL, a lost node) stops renewing, its hold lapses within `hold_s`, and the client resuming
on another replica is served instead of refused forever. Holds never keep a session alive:
abandoned sessions expire and are swept whatever their holder.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, or_, update

from sightd import errors
from sightd.storage.metadata import UPLOAD_SESSIONS

log = logging.getLogger(__name__)

HOLD_S = 6.0
"""How long a hold lasts unless renewed: the longest a client resuming on another replica waits
after the writing replica died."""
POLL_S = 0.25


def in_flight() -> errors.Aborted:
    """The refusal of a chunk while another chunk of the same session is being written."""
    return errors.Aborted(
        "Another chunk of this upload is still in flight; query the upload's offset "
        "and resume once it has finished.",
        reason="UPLOAD_CHUNK_IN_FLIGHT",
    )


class SessionHolds:
    """Takes, renews and releases session holds for one replica (blocking SQL in threads)."""

    def __init__(
        self,
        db: Engine,
        *,
        replica: str,
        hold_s: float = HOLD_S,
        clock: Callable[[], datetime],
        exists: Callable[[str], object],
    ) -> None:
        self._db = db
        self.replica = replica
        self.hold_s = hold_s
        self._clock = clock
        self._exists = exists
        """Raises NotFound for a session that is gone (so a waiter stops at once)."""

    @asynccontextmanager
    async def held(self, sid: str) -> AsyncIterator[None]:
        """Hold session `sid` for the block (renewed meanwhile, released after)."""
        holder = f"{self.replica[:55]}:{secrets.token_hex(4)}"
        await self._take(sid, holder)
        renewing = asyncio.create_task(self._keep(sid, holder))
        try:
            yield
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            await asyncio.shield(asyncio.to_thread(self._set, sid, holder, "release"))

    async def _take(self, sid: str, holder: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold_s + POLL_S
        while not await asyncio.to_thread(self._set, sid, holder, "take"):
            await asyncio.to_thread(self._exists, sid)  # NotFound once dropped or expired
            if loop.time() >= deadline:
                raise in_flight()
            await asyncio.sleep(POLL_S)

    async def _keep(self, sid: str, holder: str) -> None:
        while True:
            await asyncio.sleep(self.hold_s / 3)
            try:
                if not await asyncio.to_thread(self._set, sid, holder, "renew"):
                    return  # finalized, dropped, or (after a long stall) taken over
            except Exception:
                log.warning("renewing the hold on an upload session failed", exc_info=True)

    def _set(self, sid: str, holder: str, action: Literal["take", "renew", "release"]) -> bool:
        """One conditional UPDATE; returns whether the row changed."""
        c = UPLOAD_SESSIONS.c
        now = self._clock()
        until = now + timedelta(seconds=self.hold_s)
        if action == "take":
            free = or_(c.holder.is_(None), c.held_until.is_(None), c.held_until < now)
            query = update(UPLOAD_SESSIONS).where(c.id == sid, free)
            query = query.values(holder=holder, held_until=until)
        elif action == "renew":
            query = update(UPLOAD_SESSIONS).where(c.id == sid, c.holder == holder)
            query = query.values(held_until=until)
        else:
            query = update(UPLOAD_SESSIONS).where(c.id == sid, c.holder == holder)
            query = query.values(holder=None, held_until=None)
        with self._db.begin() as conn:
            return bool(conn.execute(query).rowcount)
