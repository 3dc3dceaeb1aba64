"""Serialises access to the one in-process model and bounds the queue in front of it.

Waiting happens on an asyncio lock, not in worker threads, so a long queue never starves the
thread pool that decoding and SQL use. Streaming runs the backend's iterator in a dedicated
thread that hands items to the event loop; closing the async iterator stops that thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

from sightd import errors

T = TypeVar("T")
_DONE = object()


class ModelRunner:
    def __init__(self, max_queue: int) -> None:
        self._lock = asyncio.Lock()
        self._max_queue = max_queue
        self._waiting = 0

    def _admit(self) -> None:
        if self._waiting >= self._max_queue:
            raise errors.ResourceExhausted(
                f"The model is busy: {self._waiting} requests are already waiting. Retry later.",
                retry_after_s=5,
            )

    async def run(self, fn: Callable[[], T]) -> T:
        """Run blocking `fn` in a thread once the model is free."""
        await self._acquire()
        try:
            return await asyncio.to_thread(fn)
        finally:
            self._lock.release()

    async def _acquire(self) -> None:
        """Wait for the model (counted against the queue bound while waiting)."""
        self._admit()
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1

    async def stream(self, make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Iterate `make()` in a thread once the model is free, yielding items as they come."""
        await self._acquire()
        try:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[object] = asyncio.Queue()
            stop = threading.Event()

            def produce() -> None:
                it = make()
                try:
                    for item in it:
                        loop.call_soon_threadsafe(queue.put_nowait, item)
                        if stop.is_set():
                            break
                except BaseException as exc:
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
                finally:
                    close = getattr(it, "close", None)
                    if close is not None:
                        close()
                    loop.call_soon_threadsafe(queue.put_nowait, _DONE)

            thread = threading.Thread(target=produce, name="sightd-stream", daemon=True)
            thread.start()
            try:
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    yield item  # type: ignore[misc]
            finally:
                stop.set()
                await asyncio.to_thread(thread.join)
        finally:
            self._lock.release()
