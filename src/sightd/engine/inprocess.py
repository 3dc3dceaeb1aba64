"""The in-process model behind the async engine seam: up to `max_concurrency` requests in the
model's batch at once, a bounded queue in front (429 when full).

`InProcessBackend` adapts a `LocalModel` (the transformers one: `submit` prepares a request and
hands it to the model's own thread, which batches whatever is in flight) to `Backend`. Waiting
for a slot happens on the event loop, not in worker threads, so a long queue never starves the
thread pool that decoding and SQL use; the preparation (chat template, processor: up to a few
hundred ms a request under load) runs in a small pool of its own, beside that one.

Cancelling an awaiting `generate`, or closing a `stream` (the client hung up), works at every
stage: a call still queued leaves the queue; one being prepared is cancelled once queued; one
in the batch stops within a decoding step. The slot is released only once the model is done
with the request, so the batch never holds more than the slots allow.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from sightd.engine.base import Capabilities, Completion, ModelInfo, SamplingParams, TextDelta
from sightd.engine.slots import Slots
from sightd.prompt import Prompt

T = TypeVar("T")
_DONE = object()
PREPARE_THREADS = 2  # requests prepared at once (chat template + processor, CPU-bound)


class Submitted(Protocol):
    """A request handed to the model: `future` ends with its Completion."""

    @property
    def future(self) -> Future[Completion]: ...

    def cancel(self) -> None:
        """Stop within a decoding step; the future then ends with the partial answer."""
        ...


@runtime_checkable
class LocalModel(Protocol):
    """A loaded model that runs requests in a thread of its own."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def count_text_tokens(self, text: str) -> int: ...

    def input_frame_px(self, size_px: tuple[int, int]) -> tuple[int, int]: ...

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        """The prompt's length in the model's own tokens (its processor, no generation)."""
        ...

    def submit(
        self,
        prompt: Prompt,
        params: SamplingParams,
        emit: Callable[[TextDelta], Any] | None = None,
        cancel: threading.Event | None = None,
    ) -> Submitted:
        """Prepare (blocking, short) and queue; `emit` gets text deltas from the model's
        thread."""
        ...

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event | None = None
    ) -> Completion: ...

    def stream(
        self, prompt: Prompt, params: SamplingParams
    ) -> Iterator[TextDelta | Completion]: ...


class InProcessBackend:
    """`Backend` over a `LocalModel`: `capabilities.max_concurrency` requests in the model at
    once (its batch), `max_queue` more waiting, then 429."""

    def __init__(self, model: LocalModel, max_queue: int) -> None:
        self.model = model
        self._capabilities = dataclasses.replace(model.capabilities, max_queue=max_queue)
        self._slots = Slots(self._capabilities.max_concurrency, max_queue)
        self._prepare = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="sightd-prepare")

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

    async def count_prompt_tokens(self, prompt: Prompt) -> int:
        """The model's own token count of `prompt` (`sightd inspect`, the playground)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._prepare, self.model.count_prompt_tokens, prompt)

    async def generate(self, prompt: Prompt, params: SamplingParams) -> Completion:
        async with self._slots.hold():
            job = await _submit(self._prepare, lambda: self.model.submit(prompt, params))
            done = asyncio.wrap_future(job.future)
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                job.cancel()
                await _wait_out(done)
                raise

    async def stream(
        self, prompt: Prompt, params: SamplingParams
    ) -> AsyncIterator[TextDelta | Completion]:
        async with self._slots.hold():
            loop = asyncio.get_running_loop()
            items: asyncio.Queue[object] = asyncio.Queue()

            def emit(delta: TextDelta) -> None:
                loop.call_soon_threadsafe(items.put_nowait, delta)

            job = await _submit(self._prepare, lambda: self.model.submit(prompt, params, emit))
            job.future.add_done_callback(
                lambda _: loop.call_soon_threadsafe(items.put_nowait, _DONE)
            )
            done = asyncio.wrap_future(job.future)
            try:
                while (item := await items.get()) is not _DONE:
                    yield item  # type: ignore[misc]
                yield await asyncio.shield(done)
            finally:
                job.cancel()
                await _wait_out(done)

    def queue_depth(self) -> tuple[int, int]:
        """(requests in the model's batch or being prepared for it, requests waiting for a
        slot): local counters, read by `/metrics` on every scrape."""
        return self._slots.active, self._slots.waiting

    async def health(self) -> dict[str, str]:
        return {
            "engine": "in-process",
            "running": str(self._slots.active),
            "waiting": str(self._slots.waiting),
        }

    async def aclose(self) -> None:
        self._prepare.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.model, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


async def _submit(pool: Executor, make: Callable[[], Submitted]) -> Submitted:
    """`make()` in a pool thread; if the caller is cancelled meanwhile, the request is still
    submitted (it cannot be unprepared), then cancelled at once, and the cancellation goes on."""
    work = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(pool, make))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await _wait_out(work)
        if not work.cancelled() and work.exception() is None:
            job = work.result()
            job.cancel()
            await _wait_out(asyncio.wrap_future(job.future))
        raise


async def _wait_out(work: asyncio.Future[Any]) -> None:
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
