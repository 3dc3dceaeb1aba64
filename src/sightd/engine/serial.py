"""The in-process model behind the async engine seam: one generation at a time, a bounded
queue in front (429 when full).

`SerialBackend` adapts a blocking model (`BlockingModel`: the transformers one) to `Backend`.
Waiting happens on an asyncio lock, not in worker threads, so a long queue never starves the
thread pool that decoding and SQL use. Streaming runs the model's iterator in a dedicated
thread that hands items to the event loop; closing the async iterator stops that thread.

Cancelling an awaiting `generate` (the client hung up) works at both stages: a call still queued
leaves the queue without running; one already running sets its run's cancel event, so the
model stops within a token, and keeps the model's turn until its thread has returned (the next
call never starts while the last is still in the model).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

from sightd import errors
from sightd.engine.base import Capabilities, Completion, ModelInfo, SamplingParams, TextDelta
from sightd.prompt import Prompt

T = TypeVar("T")
_DONE = object()


class ModelRunner:
    """An asyncio lock with a bounded number of waiters."""

    def __init__(self, max_queue: int) -> None:
        self._lock = asyncio.Lock()
        self._max_queue = max_queue
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def _admit(self) -> None:
        if self._waiting >= self._max_queue:
            raise errors.ResourceExhausted(
                f"The model is busy: {self._waiting} requests are already waiting. Retry later.",
                retry_after_s=5,
            )

    async def run(self, fn: Callable[[], T], cancel: threading.Event | None = None) -> T:
        """Run blocking `fn` in a thread once the model is free.

        Cancelled while waiting: leaves the queue. Cancelled while `fn` runs: sets `cancel`
        (which `fn` watches to stop early), waits for the thread to return, then re-raises;
        a thread cannot be killed, and the model is not free until it has returned.
        """
        await self._acquire()
        try:
            work = asyncio.ensure_future(asyncio.to_thread(fn))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                if cancel is not None:
                    cancel.set()
                await _wait_out(work)
                raise
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


async def _wait_out(work: asyncio.Future[T]) -> None:
    """Wait until `work` is done, through further cancellations; its outcome is dropped."""
    while not work.done():
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            continue
        except BaseException:
            break
    if not work.cancelled():
        work.exception()  # retrieved, so asyncio does not log it as never retrieved


@runtime_checkable
class BlockingModel(Protocol):
    """A loaded model whose calls block (run them in a thread), one at a time."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def count_text_tokens(self, text: str) -> int: ...

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]: ...

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event | None = None
    ) -> Completion:
        """Generate to the end, or stop within a token once `cancel` is set."""
        ...

    def stream(
        self, prompt: Prompt, params: SamplingParams
    ) -> Iterator[TextDelta | Completion]: ...


class SerialBackend:
    """`Backend` over a `BlockingModel`: calls queue for the one model (bounded, then 429)."""

    def __init__(self, model: BlockingModel, max_queue: int) -> None:
        self.model = model
        self._runner = ModelRunner(max_queue)
        self._capabilities = dataclasses.replace(model.capabilities, max_queue=max_queue)

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def count_text_tokens(self, text: str) -> int:
        return self.model.count_text_tokens(text)

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]:
        return self.model.input_frame_px(size_px)

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Completion:
        cancel = threading.Event()
        return await self._runner.run(lambda: self.model.generate(prompt, params, cancel), cancel)

    def stream(
        self, prompt: Prompt, params: SamplingParams
    ) -> AsyncIterator[TextDelta | Completion]:
        return self._runner.stream(lambda: self.model.stream(prompt, params))

    async def run_exclusive(self, fn: Callable[[], T]) -> T:
        """Run other blocking model work (a detector, a segmenter) in the model's turn."""
        return await self._runner.run(fn)

    async def health(self) -> dict[str, str]:
        return {"engine": "in-process", "waiting": str(self._runner.waiting)}

    async def aclose(self) -> None:
        return None
