"""The in-process model behind the async engine seam: one generation at a time, a bounded
queue in front (429 when full).

`SerialBackend` adapts a blocking model (`BlockingModel`: the transformers one) to `Backend`.
Waiting happens on an asyncio lock, not in worker threads, so a long queue never starves the
thread pool that decoding and SQL use. Streaming runs the model's iterator in a dedicated
thread that hands items to the event loop; closing the async iterator stops that thread.
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


@runtime_checkable
class BlockingModel(Protocol):
    """A loaded model whose calls block (run them in a thread), one at a time."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def count_text_tokens(self, text: str) -> int: ...

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]: ...

    def generate(self, prompt: Prompt, params: SamplingParams) -> Completion: ...

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
        return await self._runner.run(lambda: self.model.generate(prompt, params))

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
