"""Cancel a non-streaming call when its client hangs up.

A plain (non-SSE) route never reads the ASGI channel again once it has the body, so on its own
it would not notice that the client has gone and would generate an answer nobody reads, holding
the model while others queue. `unless_disconnected` awaits the work beside a watcher of the
receive channel; on `http.disconnect` it cancels the work (a call still queued for the model
leaves the queue; one generating stops within a token, see `sightd.engine.inprocess`) and raises
`Cancelled` (499), which the client never sees. Streaming routes need none of this: their
response notices the hang-up and closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.types import Receive

from sightd import errors

log = logging.getLogger(__name__)

T = TypeVar("T")


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """The result of `work`, unless the client disconnects first: then `work` is cancelled
    (and awaited, so what it holds is released) and `Cancelled` is raised.

    Call it only after the request body has been read: the watcher consumes the channel."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        if watcher.exception() is not None:  # the channel broke: no word on the client
            return await task
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        log.info("client disconnected: %s %s cancelled", request.method, request.url.path)
        raise errors.Cancelled("The client closed the connection; the request was cancelled.")
    finally:
        watcher.cancel()
        if not task.done():  # this handler itself was cancelled (shutdown)
            task.cancel()


async def _disconnected(receive: Receive) -> None:
    """Return once the channel reports `http.disconnect`."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
