"""Cancelling an awaiting `InProcessBackend.generate` stops the real (tiny) model within a step,
holds the slot until the model is done with it, and drops calls still queued."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from sightd.engine.base import SamplingParams
from sightd.engine.slots import Slots
from sightd.prompt import Prompt, TextPart, Turn

pytest.importorskip("torch")

MAX_TOKENS = 400
STEP_S = 0.01  # each decoding step is slowed to this, so 400 tokens take ≥ 4 s
PROMPT = Prompt(turns=(Turn("user", (TextPart("Tell me a long story."),)),))


class _Steps:
    """A logits processor that counts decoding steps and makes each take `STEP_S`."""

    def __init__(self) -> None:
        self.steps = 0
        self.first = threading.Event()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.steps += 1
        self.first.set()
        time.sleep(STEP_S)
        return scores


@pytest.fixture
def slowed(engine_handle: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, _Steps]:
    """The session's tiny backend, on a queue of its own, decoding slowly and never choosing
    end-of-sequence before `MAX_TOKENS` (so only cancelling can end it early)."""
    backend = engine_handle.require()
    monkeypatch.setattr(backend, "_slots", Slots(1, backend.capabilities.max_queue))
    model = backend.model
    steps = _Steps()
    original = model._prepare

    def prepare(prompt: Any, params: Any) -> Any:
        request = original(prompt, params)
        request.config.min_new_tokens = request.config.max_new_tokens
        request.processors.append(steps)
        return request

    monkeypatch.setattr(model, "_prepare", prepare)
    return backend, steps


def test_cancel_stops_generation_within_a_token(slowed: tuple[Any, _Steps]) -> None:
    backend, steps = slowed
    params = SamplingParams(max_output_tokens=MAX_TOKENS, temperature=0)

    async def scenario() -> tuple[float, int, bool]:
        running = asyncio.create_task(backend.generate(PROMPT, params))
        queued = asyncio.create_task(backend.generate(PROMPT, params))
        await asyncio.to_thread(steps.first.wait, 30)
        await asyncio.sleep(0.2)
        queued.cancel()  # waiting for the model: leaves the queue, never runs
        running.cancel()
        cancelled_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await running
        returned_s = time.monotonic() - cancelled_at  # the thread has returned by now
        at_cancel = steps.steps
        with pytest.raises(asyncio.CancelledError):
            await queued
        await asyncio.sleep(0.2)
        return returned_s, at_cancel, steps.steps == at_cancel

    returned_s, at_cancel, idle = asyncio.run(scenario())
    assert returned_s < 1.0
    assert at_cancel < MAX_TOKENS // 2, f"{at_cancel} decoding steps ran"
    assert idle, "the queued call ran, or the cancelled one kept decoding"
