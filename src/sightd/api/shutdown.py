"""Graceful shutdown: on SIGTERM stop taking new generations, let in-flight ones finish for up to
`--drain-timeout-s`, then stop.

`Drain` is the state (`app.state.drain`): once `begin()` is called the access middleware answers
new generations with 503 UNAVAILABLE "shutting down" and `/readyz` turns 503, so a load balancer
moves traffic away while the listening socket still answers. `DrainingServer` is uvicorn's
server with that phase put in front of its own shutdown: SIGTERM → drain (new generations 503,
in-flight requests finish) → uvicorn closes the socket and cancels whatever is still running →
the lifespan shuts down, where background interactions get what is left of the same deadline
before they are cancelled and marked failed (see `InteractionService.stop`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

import uvicorn

log = logging.getLogger("sightd")

POLL_S = 0.05


class Drain:
    """Whether the server is shutting down, and the deadline its in-flight work has."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.draining = False
        self._deadline: float | None = None

    def begin(self) -> None:
        """Stop accepting new generations; the drain deadline starts now (first call only)."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.timeout_s
            log.info("shutting down: new generations refused, draining for %gs", self.timeout_s)
        self.draining = True

    def remaining_s(self) -> float:
        """Seconds left before in-flight work is cancelled (the full timeout before `begin`)."""
        if self._deadline is None:
            return self.timeout_s
        return max(0.0, self._deadline - time.monotonic())

    async def wait_idle(self, busy: Callable[[], int], give_up: Callable[[], bool]) -> bool:
        """Begin draining, then wait until `busy()` is 0 (True) or the deadline passes or
        `give_up()` (False)."""
        self.begin()
        while busy() > 0:
            if self.remaining_s() <= 0 or give_up():
                log.warning("drain timeout: %d request(s) still in flight are cancelled", busy())
                return False
            await asyncio.sleep(POLL_S)
        return True


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain phase before it closes the socket (see the module doc).

    A second Ctrl-C (uvicorn's force exit; a second SIGTERM does not) ends the drain at once.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, busy: Callable[[], int]) -> None:
        super().__init__(config)
        self.drain = drain
        self.busy = busy

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.drain.wait_idle(self.busy, lambda: self.force_exit)
        await super().shutdown(sockets)
