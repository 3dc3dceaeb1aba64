"""Bounded concurrency for a backend: at most `limit` requests hold a slot, `max_waiting` more
wait for one (on the event loop, not in threads), and beyond that a request gets 429 at once.

Both engines use it: the in-process model's slots are its batch, the openai engine's the
requests it keeps in flight upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sightd import errors


class Slots:
    """At most `limit` holders at once and `max_waiting` waiting; beyond that, 429."""

    def __init__(
        self, limit: int, max_waiting: int, *, what: str = "The model", retry_after_s: float = 5
    ) -> None:
        self._sem = asyncio.Semaphore(limit)
        self._max_waiting = max_waiting
        self._what = what
        self._retry_after_s = retry_after_s
        self.waiting = 0
        self.active = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        if self._sem.locked():
            if self.waiting >= self._max_waiting:
                raise errors.ResourceExhausted(
                    f"{self._what} is busy: {self.active} requests running and {self.waiting} "
                    "waiting. Retry later.",
                    retry_after_s=self._retry_after_s,
                )
            self.waiting += 1
            try:
                await self._sem.acquire()
            finally:
                self.waiting -= 1
        else:
            await self._sem.acquire()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._sem.release()
