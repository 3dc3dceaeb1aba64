"""Crash recovery of background interactions: leases renewed while this process runs them, and
the rows a dead process left `in_progress` marked failed, so no client polls them forever.

At start-up `recover()` fails every in-progress row whose lease lapsed (and, under a stable
`--replica-id`, the rows an earlier run of this replica left); then, every third of the lease,
this process renews the leases of the rows it runs and fails the lapsed ones of replicas that
died meanwhile. Rows of live replicas are never touched (their leases are fresh). The storage
side of the rule is in `storage/interactions.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

from sightd.storage.interactions import InteractionStore

log = logging.getLogger("sightd.interactions")


def new_replica_id() -> str:
    """A name for a replica that was given none: host, pid and a random tail (≤ 64 chars)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"[:64]


class InteractionLeases:
    """Renews this replica's leases and fails abandoned rows, on a background task."""

    def __init__(self, store: InteractionStore, *, stable_replica: bool) -> None:
        self.store = store
        self.stable_replica = stable_replica
        self._task: asyncio.Task[None] | None = None

    async def recover(self, *, own: bool = False) -> list[str]:
        """Fail the in-progress rows whose process is gone; returns their ids."""
        failed = await asyncio.to_thread(self.store.fail_abandoned, own=own)
        if failed:
            log.warning(
                "marked %d background interaction(s) failed: their server stopped before they "
                "finished (%s)",
                len(failed),
                ", ".join(failed[:10]),
            )
        return failed

    async def start(self) -> None:
        """Recover at once (this replica's own leftovers too under a stable name), then keep
        renewing and recovering."""
        await self.recover(own=self.stable_replica)
        self._task = asyncio.create_task(self._loop(), name="sightd-interaction-leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.store.lease_s / 3)
            try:
                await asyncio.to_thread(self.store.renew_leases)
                await self.recover()
            except Exception:
                log.exception("interaction lease renewal failed")
