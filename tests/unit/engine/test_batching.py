"""Continuous batching (issue: in-process engine): requests in flight decode together, and each
gets exactly what it would get alone — greedy and seeded sampling, grammars, stop sequences,
logprobs, streaming — whatever its batch-mates and whenever it joins; a cancelled request leaves
within a step and its slot goes to the next one; the queue bound still answers 429.

float32 models: with int8 dynamic quantization a row's numbers depend on its batch-mates (the
activations are scaled per call), so equality is exact only in float32.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sightd import errors
from sightd.engine.base import Completion, JsonOutput, SamplingParams, TextDelta
from sightd.engine.inprocess import InProcessBackend
from sightd.engine.slots import Slots
from sightd.prompt import ImagePart, Prompt, TextPart, Turn

pytest.importorskip("torch")

FAMILIES = ("qwen3-vl", "qwen2.5-vl", "smolvlm2")


@pytest.fixture(scope="module")
def f32(tiny_dirs: dict[str, Path]) -> Any:
    """A float32 backend per family (batch of 4), loaded on first use."""
    from sightd.engine.transformers.backend import TransformersBackend

    loaded: dict[str, Any] = {}

    def get(family: str) -> Any:
        if family not in loaded:
            loaded[family] = TransformersBackend(
                tiny_dirs[family], dtype="float32", torch_threads=1, max_batch=4
            )
        return loaded[family]

    yield get
    for backend in loaded.values():
        backend.close()


def _prompt(i: int) -> Prompt:
    """Prompts of different lengths, with and without an image (so rows are padded)."""
    image = Image.new("RGB", (64 + 16 * i, 48 + 8 * i), (200, 20 * i, 10))
    text = TextPart("Describe this image, please. " * (i + 1))
    parts = (ImagePart(image, image.size), text) if i % 2 == 0 else (text,)
    return Prompt(turns=(Turn("user", parts),))


GREEDY = SamplingParams(temperature=0, max_output_tokens=24, frequency_penalty=1.5)
MIXED = [
    GREEDY,
    SamplingParams(temperature=0.9, seed=11, max_output_tokens=24),
    SamplingParams(temperature=0, max_output_tokens=40, constraint=JsonOutput()),
    SamplingParams(temperature=0, max_output_tokens=24, frequency_penalty=1.5, logprobs=3),
]


def _same(a: Completion, b: Completion) -> None:
    assert (a.text, a.finish_reason, a.output_tokens) == (b.text, b.finish_reason, b.output_tokens)
    assert a.model_prompt_tokens == b.model_prompt_tokens
    if a.logprobs is not None:
        assert b.logprobs is not None
        assert [s.chosen.token_id for s in a.logprobs] == [s.chosen.token_id for s in b.logprobs]
        for x, y in zip(a.logprobs, b.logprobs, strict=True):
            assert [t.token_id for t in x.top] == [t.token_id for t in y.top]
            assert x.chosen.log_probability == pytest.approx(y.chosen.log_probability, abs=1e-3)


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_alone(f32: Any, family: str) -> None:
    backend = f32(family)
    alone = [backend.generate(_prompt(i), MIXED[i]) for i in range(4)]
    jobs = [backend.submit(_prompt(i), MIXED[i]) for i in range(4)]
    for a, job in zip(alone, jobs, strict=True):
        _same(a, job.future.result(timeout=120))
    assert alone[0].model_prompt_tokens == int(
        backend._prepare(_prompt(0), GREEDY).inputs["input_ids"].shape[1]
    )


def test_plain_generate_agrees(f32: Any) -> None:
    """sightd's loop gives what transformers' own `generate` gives on the same inputs."""
    import torch

    backend = f32("qwen3-vl")
    request = backend._prepare(_prompt(0), GREEDY)
    with torch.inference_mode():
        out = backend._model.generate(
            **request.inputs, generation_config=request.config, logits_processor=request.processors
        )
    ids = out[0, request.prompt_tokens :].tolist()
    ours = backend.generate(_prompt(0), GREEDY)
    assert ours.text == backend._tokenizer.decode(ids, skip_special_tokens=True)
    assert ours.output_tokens == len(ids)


def test_joining_a_running_batch(f32: Any) -> None:
    """A request that arrives while another decodes joins it between steps (both in the batch
    at once) and still gets what it gets alone; streamed deltas add up to the answer."""
    backend = f32("qwen2.5-vl")
    long = SamplingParams(temperature=0, max_output_tokens=200, frequency_penalty=1.5)
    alone_long = backend.generate(_prompt(1), long)
    alone_short = backend.generate(_prompt(2), GREEDY)
    deltas: list[TextDelta] = []
    first = backend.submit(_prompt(1), long, deltas.append)
    while not deltas:
        time.sleep(0.001)
    second = backend.submit(_prompt(2), GREEDY)
    seen_two = False
    while not second.future.done():
        seen_two = seen_two or backend.running == 2
        time.sleep(0.0005)
    assert seen_two, "the second request never decoded beside the first"
    _same(alone_short, second.future.result())
    _same(alone_long, first.future.result(timeout=120))
    assert "".join(d.text for d in deltas) == alone_long.text


def test_stop_sequence_ends_one_row(f32: Any) -> None:
    backend = f32("smolvlm2")
    free = backend.generate(_prompt(0), GREEDY)
    stop = free.text[5:8]
    params = SamplingParams(temperature=0, max_output_tokens=24, frequency_penalty=1.5,
                            stop_sequences=(stop,))  # fmt: skip
    alone = backend.generate(_prompt(0), params)
    assert alone.text == free.text[: free.text.index(stop)]
    jobs = [backend.submit(_prompt(i % 2 * 2), params if i == 0 else GREEDY) for i in range(3)]
    _same(alone, jobs[0].future.result(timeout=60))
    _same(free, jobs[2].future.result(timeout=60))


class _Steps:
    """Counts a request's decoding steps and makes each take a while."""

    def __init__(self, step_s: float) -> None:
        self.steps = 0
        self.step_s = step_s

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.steps += 1
        time.sleep(self.step_s)
        return scores


def test_cancel_frees_a_slot_within_a_step(f32: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two slots, both busy with endless generations and a third waiting: cancelling one stops
    it within a step and the waiting one takes its slot; a fourth beyond the queue gets 429."""
    model = f32("qwen3-vl")
    counters: dict[int, _Steps] = {}  # by id(prompt): requests are prepared two at a time
    original = model._prepare

    def prepare(prompt: Prompt, params: SamplingParams) -> Any:
        request = original(prompt, params)
        request.config.min_new_tokens = request.config.max_new_tokens  # only cancel ends it
        steps = _Steps(0.01)
        counters[id(prompt)] = steps
        request.processors.append(steps)
        return request

    monkeypatch.setattr(model, "_prepare", prepare)
    backend = InProcessBackend(model, max_queue=1)
    monkeypatch.setattr(backend, "_slots", Slots(2, 1))
    endless = SamplingParams(temperature=0, max_output_tokens=2000)

    first, second, third = _prompt(1), _prompt(3), _prompt(1)

    async def scenario() -> tuple[int, int, float]:
        a = asyncio.create_task(backend.generate(first, endless))
        b = asyncio.create_task(backend.generate(second, endless))
        while len(counters) < 2 or min(c.steps for c in counters.values()) < 3:
            await asyncio.sleep(0.01)
        c = asyncio.create_task(backend.generate(third, GREEDY))  # waits for a slot
        await asyncio.sleep(0.1)
        assert len(counters) == 2, "a third request entered the model beyond its two slots"
        with pytest.raises(errors.ResourceExhausted):
            await backend.generate(_prompt(1), GREEDY)  # the queue's one place is taken
        a.cancel()
        cancelled_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await a
        at_cancel = counters[id(first)].steps
        answer = await asyncio.wait_for(c, 60)
        waited = time.monotonic() - cancelled_at
        assert answer.output_tokens == GREEDY.max_output_tokens
        b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await b
        return at_cancel, counters[id(first)].steps, waited

    at_cancel, later, waited = asyncio.run(scenario())
    assert later == at_cancel, "the cancelled request kept decoding"
    assert waited < 30


def test_a_failing_request_leaves_the_others(f32: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request whose processing fails mid-way fails alone; its batch-mates finish."""
    backend = f32("qwen2.5-vl")
    alone = backend.generate(_prompt(0), GREEDY)
    original = backend._prepare
    fail_next = threading.Event()
    fail_next.set()

    def boom(input_ids: Any, scores: Any) -> Any:
        if int(input_ids.shape[1]) > 0 and scores is not None and fail_next.is_set():
            raise RuntimeError("processor broke")
        return scores

    def prepare(prompt: Prompt, params: SamplingParams) -> Any:
        request = original(prompt, params)
        if params.max_output_tokens == 7:
            request.processors.append(boom)
        return request

    monkeypatch.setattr(backend, "_prepare", prepare)
    good = backend.submit(_prompt(0), GREEDY)
    bad = backend.submit(_prompt(1), SamplingParams(temperature=0, max_output_tokens=7))
    with pytest.raises(errors.Internal):
        bad.future.result(timeout=60)
    _same(alone, good.future.result(timeout=60))
