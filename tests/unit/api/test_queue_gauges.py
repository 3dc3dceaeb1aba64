"""`/metrics` shows the openai engine's queue (issue 9): its bounded upstream slots are counted
locally and exported as `sightd_generations_waiting` (the name the in-process queue uses) and
`sightd_generations_running`, without asking the upstream anything."""

from __future__ import annotations

import asyncio

import httpx

from sightd.api.ops import _queue_gauges
from sightd.engine.openai.backend import OpenAIBackend, UpstreamConfig
from sightd.engine.openai.processor import ModelFacts
from tests.upstream_mock import mock_client


def test_openai_queue_depth_reaches_the_metric_names() -> None:
    asked: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(503)

    client = mock_client(upstream)
    config = UpstreamConfig(
        "http://upstream.test/v1", "m", "m", "openai", "frames", max_concurrency=1, max_queue=4
    )
    backend = OpenAIBackend(config, ModelFacts(family=None), client=client)

    async def scenario() -> tuple[dict[str, tuple[str, float]], dict[str, tuple[str, float]]]:
        idle = _queue_gauges(backend)
        release = asyncio.Event()

        async def generation() -> None:
            async with backend._slots.hold():  # what each upstream call does
                await release.wait()

        calls = [asyncio.create_task(generation()) for _ in range(3)]
        await asyncio.sleep(0.05)
        busy = _queue_gauges(backend)
        release.set()
        await asyncio.gather(*calls)
        await backend.aclose()
        return idle, busy

    idle, busy = asyncio.run(scenario())
    assert {k: v for k, (_, v) in idle.items()} == {
        "sightd_generations_waiting": 0,
        "sightd_generations_running": 0,
    }
    assert {k: v for k, (_, v) in busy.items()} == {
        "sightd_generations_waiting": 2,  # one slot: one runs, two wait
        "sightd_generations_running": 1,
    }
    assert asked == []  # a scrape never reaches the upstream
    assert backend.queue_depth() == (0, 0)
