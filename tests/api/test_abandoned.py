"""A non-streaming request whose client hangs up is cancelled: queued ones never reach the model,
the one generating is told to stop, and the next client is served at once (issue 9, "Abandoned
requests"). The model is the live tiny one's `InProcessBackend` with its model swapped for one
that generates until told to stop, so what reached it can be asserted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from sightd.engine.base import Completion, SamplingParams
from sightd.engine.slots import Slots
from tests.live import LiveServer

QUEUED = 4  # clients that hang up while waiting for the model
QUEUED_TIMEOUT_S = 0.5
RUNNING_TIMEOUT_S = 1.5  # the client of the generation running hangs up later
GENERATION_S = 3.0  # how long the fake model takes unless cancelled


class _Job:
    def __init__(self, cancel: threading.Event) -> None:
        self.future: Future[Completion] = Future()
        self._cancel = cancel

    def cancel(self) -> None:
        self._cancel.set()


class SlowModel:
    """Stands in for the model's `submit`: runs until cancelled or `GENERATION_S`."""

    def __init__(self) -> None:
        self.started = 0
        self.outcomes: list[str] = []
        self.fast = threading.Event()
        self._lock = threading.Lock()

    def generate(
        self, prompt: Any, params: SamplingParams, cancel: threading.Event | None = None
    ) -> Completion:
        with self._lock:
            self.started += 1
        if self.fast.is_set():
            self.outcomes.append("served")
            return Completion("ok", "STOP", 1)
        stop = cancel if cancel is not None else threading.Event()
        outcome = "cancelled" if stop.wait(GENERATION_S) else "completed"
        self.outcomes.append(outcome)
        return Completion("late", "STOP", 1)

    def submit(
        self,
        prompt: Any,
        params: SamplingParams,
        emit: Any = None,
        cancel: threading.Event | None = None,
    ) -> _Job:
        job = _Job(cancel or threading.Event())

        def work() -> None:
            job.future.set_result(self.generate(prompt, params, job._cancel))

        threading.Thread(target=work, daemon=True).start()
        return job


def _slow_model(engine_handle: Any, monkeypatch: pytest.MonkeyPatch) -> SlowModel:
    """The session's backend with a slow model, one slot (so the others queue), and a queue of
    its own: an asyncio semaphore that was contended binds to its event loop, and each test
    serves on a new one."""
    backend = engine_handle.require()
    slow = SlowModel()
    monkeypatch.setattr(backend.model, "submit", slow.submit)
    monkeypatch.setattr(backend, "_slots", Slots(1, backend.capabilities.max_queue))
    return slow


def _generate(server: LiveServer) -> tuple[str, dict[str, Any]]:
    return (
        f"{server.url}/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "Describe."}]}]},
    )


def _interaction(server: LiveServer) -> tuple[str, dict[str, Any]]:
    return f"{server.url}/v1beta/interactions", {"model": "gemini-2.5-flash", "input": "Hi."}


def _hang_up(url: str, body: dict[str, Any], after_s: float) -> None:
    with pytest.raises(httpx.TimeoutException):
        httpx.post(url, json=body, timeout=after_s)


@pytest.mark.parametrize(
    "route", [_generate, _interaction], ids=["generateContent", "interactions"]
)
def test_hung_up_requests_are_cancelled(
    make_server: Callable[..., LiveServer],
    engine_handle: Any,
    monkeypatch: pytest.MonkeyPatch,
    route: Callable[[LiveServer], tuple[str, dict[str, Any]]],
) -> None:
    server = make_server()
    slow = _slow_model(engine_handle, monkeypatch)
    url, body = route(server)

    with ThreadPoolExecutor(1 + QUEUED) as pool:
        running = pool.submit(_hang_up, url, body, RUNNING_TIMEOUT_S)
        deadline = time.monotonic() + 10
        while slow.started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slow.started == 1
        queued = [pool.submit(_hang_up, url, body, QUEUED_TIMEOUT_S) for _ in range(QUEUED)]
        for future in [running, *queued]:
            future.result()
    time.sleep(0.3)  # the server notices the last hang-up
    slow.fast.set()
    started = time.monotonic()
    answer = httpx.post(url, json=body, timeout=30)
    waited_s = time.monotonic() - started

    assert answer.status_code == 200, answer.text
    assert waited_s < 1.0, f"the next request waited {waited_s:.1f} s behind abandoned ones"
    # The one generating was told to stop; the queued ones left the queue without running.
    assert slow.outcomes == ["cancelled", "served"]


def test_background_interaction_outlives_its_client(
    make_server: Callable[..., LiveServer], engine_handle: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A background interaction is answered at once and then runs on its own; the client
    closing its connection does not cancel it."""
    server = make_server()
    slow = _slow_model(engine_handle, monkeypatch)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        created = client.post(
            "/v1beta/interactions",
            json={"model": "gemini-2.5-flash", "input": "Hi.", "background": True},
        )
    assert created.status_code == 200, created.text
    iid = created.json()["id"]
    deadline = time.monotonic() + GENERATION_S + 5
    status = "in_progress"
    while status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.1)
        status = httpx.get(f"{server.url}/v1beta/interactions/{iid}", timeout=10).json()["status"]
    assert status == "completed"
    assert slow.outcomes == ["completed"]
