"""The model runner serialises calls and refuses new ones with 429 when its queue is full."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sightd import errors
from sightd.engine.serial import ModelRunner


def test_queue_bound_and_order() -> None:
    async def scenario() -> list[str]:
        runner = ModelRunner(max_queue=1)
        release = threading.Event()
        order: list[str] = []

        def slow() -> str:
            release.wait(5)
            order.append("first")
            return "first"

        def quick() -> str:
            order.append("second")
            return "second"

        first = asyncio.create_task(runner.run(slow))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(runner.run(quick))  # waits: the queue's one place
        await asyncio.sleep(0.05)
        with pytest.raises(errors.ResourceExhausted) as info:
            await runner.run(quick)
        assert info.value.retry_after_s
        release.set()
        assert await first == "first" and await second == "second"
        await runner.run(quick)  # the queue has room again
        return order

    assert asyncio.run(scenario()) == ["first", "second", "second"]


def test_stream_yields_items_and_errors() -> None:
    async def scenario() -> tuple[list[int], str]:
        runner = ModelRunner(max_queue=2)
        items = [i async for i in runner.stream(lambda: iter(range(4)))]

        def broken() -> object:
            yield 1
            raise ValueError("boom")

        got: list[int] = []
        try:
            async for i in runner.stream(broken):  # type: ignore[arg-type]
                got.append(i)
        except ValueError as exc:
            return items + got, str(exc)
        return items, "no error"

    assert asyncio.run(scenario()) == ([0, 1, 2, 3, 1], "boom")
