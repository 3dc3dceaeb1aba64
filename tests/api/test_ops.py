"""Operations (issue: Hardening): /livez, /readyz and /metrics over real HTTP, request ids and the
access log line, graceful shutdown (in-flight work finishes, new generations get 503, background
interactions left running are marked failed), and recovery of interactions a dead process left
in progress."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
INTERACTIONS = "/v1beta/interactions"
BODY = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 2}}


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    sample = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _app(server: Any) -> Any:
    return server.server.config.app


# --- probes -------------------------------------------------------------------------------


def test_probes_need_no_key_and_metrics_does(make_server: Callable[..., Any]) -> None:
    srv = make_server(api_keys="k1")
    live = httpx.get(f"{srv.url}/livez")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = httpx.get(f"{srv.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}
    denied = httpx.get(f"{srv.url}/metrics")
    assert denied.status_code == 401 and denied.json()["error"]["status"] == "UNAUTHENTICATED"
    scraped = httpx.get(f"{srv.url}/metrics", params={"key": "k1"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE sightd_http_requests_total counter" in scraped.text
    assert _metric(scraped.text, "sightd_model_ready") == 1


def test_readyz_503_until_the_model_is_loaded(
    make_server: Callable[..., Any], engine_handle: Any
) -> None:
    from sightd.engine.loading import EngineHandle

    idle = EngineHandle(engine_handle.settings)  # never started: stage "pending"
    srv = make_server(engine=idle)
    assert httpx.get(f"{srv.url}/livez").status_code == 200  # alive while not ready
    r = httpx.get(f"{srv.url}/readyz")
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["status"] == "UNAVAILABLE" and err["code"] == 503
    assert "model is not loaded (stage: pending)" in err["message"]
    assert "database" not in err["message"]
    assert str(engine_handle.settings.model) not in r.text  # no local path to anyone


def test_readyz_503_when_the_database_does_not_answer(
    server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(server)
    good = app.state.db
    unreachable = tmp_path / "a-file"
    unreachable.write_text("not a folder")
    app.state.db = create_engine(f"sqlite:///{unreachable / 'x.db'}")
    try:
        r = httpx.get(f"{server.url}/readyz")
    finally:
        app.state.db.dispose()
        app.state.db = good
    assert r.status_code == 503
    assert "metadata database does not answer" in r.json()["error"]["message"]
    assert "model" not in r.json()["error"]["message"]
    assert str(tmp_path) not in r.text
    assert httpx.get(f"{server.url}/readyz").status_code == 200


# --- metrics --------------------------------------------------------------------------------


def test_metrics_move_by_exactly_the_requests_made(server: Any) -> None:
    before = httpx.get(f"{server.url}/metrics").text
    for _ in range(3):
        assert httpx.get(f"{server.url}/v1beta/models").status_code == 200
    assert httpx.get(f"{server.url}/v1beta/files/nope").status_code == 404
    assert httpx.get(f"{server.url}/no/such/route").status_code == 404
    assert httpx.post(f"{server.url}{GEN}", json=BODY, timeout=60).status_code == 200
    upload = b"u" * 1234
    r = httpx.post(f"{server.url}/upload/v1beta/files", content=upload)
    assert r.status_code == 200, r.text  # a plain (non-resumable) upload of 1234 bytes
    after = httpx.get(f"{server.url}/metrics").text

    def moved(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    models = {"method": "GET", "route": "/v1beta/models"}
    assert moved("sightd_http_requests_total", **models, code="200") == 3
    assert moved("sightd_http_request_duration_seconds_count", **models) == 3
    assert moved("sightd_http_request_duration_seconds_bucket", **models, le="+Inf") == 3
    assert (
        moved(
            "sightd_http_requests_total", method="GET", route="/v1beta/files/{file_id}", code="404"
        )
        == 1
    )
    assert moved("sightd_http_requests_total", method="GET", route="unmatched", code="404") == 1
    gen = {"method": "POST", "route": "/v1beta/models/{target}:generateContent"}
    assert moved("sightd_http_requests_total", **gen, code="200") == 1
    assert moved("sightd_upload_bytes_total") == len(upload)
    assert moved("sightd_http_request_bytes_total", route="/upload/{version}/files") == len(upload)
    assert _metric(after, "sightd_http_requests_in_flight") == 0
    assert _metric(after, "sightd_generations_in_flight") == 0
    assert "# TYPE sightd_generations_waiting gauge" in after  # the in-process queue
    assert _metric(after, "sightd_generations_waiting") == 0
    assert "/metrics" not in after  # scrapes and probes are not counted
    assert "/no/such/route" not in after  # raw paths never become labels


def test_metrics_count_tokens_decodes_and_stored_bytes(server: Any) -> None:
    """Token counters move by exactly the usage the responses report (countTokens not at all),
    one decode observation per image, stored bytes by the size uploaded."""
    import base64
    import json

    from tests.media_factory import image_bytes

    before = httpx.get(f"{server.url}/metrics").text
    png = base64.b64encode(image_bytes(64, 48, "PNG")).decode()
    image = {"inlineData": {"mimeType": "image/png", "data": png}}
    with_images = {
        "contents": [{"parts": [image, image, {"text": "What differs?"}]}],
        "generationConfig": {"maxOutputTokens": 3},
    }
    r = httpx.post(f"{server.url}{GEN}", json=with_images, timeout=60)
    assert r.status_code == 200, r.text
    usages = [r.json()["usageMetadata"]]
    stream_url = f"{server.url}{GEN.replace(':generateContent', ':streamGenerateContent')}"
    streamed = httpx.post(stream_url, params={"alt": "sse"}, json=BODY, timeout=60)
    assert streamed.status_code == 200, streamed.text
    chunks = [json.loads(x[6:]) for x in streamed.text.splitlines() if x.startswith("data: ")]
    usages.append(chunks[-1]["usageMetadata"])
    count_url = f"{server.url}{GEN.replace(':generateContent', ':countTokens')}"
    counted = httpx.post(count_url, json={"contents": with_images["contents"]}, timeout=60)
    assert counted.status_code == 200 and counted.json()["totalTokens"] > 0
    upload = b"s" * 4321
    assert httpx.post(f"{server.url}/upload/v1beta/files", content=upload).status_code == 200
    after = httpx.get(f"{server.url}/metrics").text

    def moved(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    by_modality: dict[str, int] = {}
    for usage in usages:
        for detail in usage["promptTokensDetails"]:
            by_modality[detail["modality"]] = (
                by_modality.get(detail["modality"], 0) + detail["tokenCount"]
            )
    assert by_modality["IMAGE"] > 0 and by_modality["TEXT"] > 0
    for modality, tokens in by_modality.items():
        assert moved("sightd_prompt_tokens_total", modality=modality) == tokens, modality
    assert sum(by_modality.values()) == sum(u["promptTokenCount"] for u in usages)
    assert moved("sightd_output_tokens_total") == sum(u["candidatesTokenCount"] for u in usages)
    assert moved("sightd_media_decode_seconds_count", kind="image") == 2
    assert moved("sightd_media_decode_seconds_bucket", kind="image", le="+Inf") == 2
    assert moved("sightd_media_decode_seconds_sum", kind="image") > 0
    assert moved("sightd_stored_bytes") == len(upload)
    assert moved("sightd_stored_files") == 1
    assert _metric(after, "sightd_keys_with_files") == 1  # keys are counted, never named
    assert "owner" not in after and "key=" not in after


# --- request ids and the access log -------------------------------------------------------


def test_request_id_echoed_and_logged(
    make_server: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    srv = make_server(api_keys="secret-key-1")
    caplog.set_level(logging.INFO, logger="sightd.access")
    r = httpx.get(
        f"{srv.url}/v1beta/models",
        headers={"x-request-id": "trace-42.a:b", "x-goog-api-key": "secret-key-1"},
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42.a:b"
    dirty = httpx.get(f"{srv.url}/v1beta/models", headers={"x-request-id": 'a b"<x>' + "z" * 300})
    assert dirty.status_code == 401
    assert dirty.headers["x-request-id"] == "abx" + "z" * 125  # unsafe chars dropped, cut to 128
    fresh = httpx.get(f"{srv.url}/livez").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    (line,) = [
        rec
        for rec in caplog.records
        if rec.name == "sightd.access" and "trace-42.a:b" in rec.message
    ]
    fields = line.access  # type: ignore[attr-defined]
    assert fields["method"] == "GET" and fields["route"] == "/v1beta/models"
    assert fields["status"] == 200 and fields["duration_ms"] >= 0 and fields["bytes_out"] > 0
    assert re.fullmatch(r"[0-9a-f]{12}", fields["key"])
    assert "request_id=trace-42.a:b" in line.message and "status=200" in line.message
    assert not any("secret-key-1" in rec.getMessage() for rec in caplog.records)
    assert not any(rec.name == "sightd.access" and fresh in rec.message for rec in caplog.records)


def test_error_log_carries_the_request_id(
    make_server: Callable[..., Any], engine_handle: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sightd.engine.loading import EngineHandle

    srv = make_server(engine=EngineHandle(engine_handle.settings))  # not loaded: 503
    caplog.set_level(logging.INFO)
    r = httpx.post(f"{srv.url}{GEN}", json=BODY, headers={"x-request-id": "err-7"})
    assert r.status_code == 503 and r.headers["x-request-id"] == "err-7"
    assert any(
        rec.name == "sightd.api" and "request_id=err-7" in rec.getMessage()
        for rec in caplog.records
    )


# --- graceful shutdown -----------------------------------------------------------------------


class GatedBackend:
    """The tiny model, with every generation held until `gate` opens."""

    def __init__(self, real: Any, gate: threading.Event) -> None:
        self._real = real
        self._gate = gate
        self.waiting = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def generate(self, prompt: Any, params: Any) -> Any:
        import asyncio

        self.waiting += 1
        await asyncio.to_thread(self._gate.wait, 60)
        return await self._real.generate(prompt, params)


@pytest.fixture
def gated(engine_handle: Any) -> Iterator[tuple[Any, threading.Event, GatedBackend]]:
    from sightd.engine.loading import EngineHandle

    gate = threading.Event()
    backend = GatedBackend(engine_handle.backend, gate)
    handle = EngineHandle(engine_handle.settings, loader=lambda _s, _p: backend)
    handle.start()
    assert handle.wait_ready(30)
    yield handle, gate, backend
    gate.set()


class DrainingLive:
    """A live server run by sightd's DrainingServer (what `sightd serve` runs)."""

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        from sightd.api.shutdown import DrainingServer

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        metrics = app.state.metrics
        self.server = DrainingServer(config, app.state.drain, lambda: metrics.in_flight)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive()
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def _settings(tmp_path: Path, handle: Any, **extra: Any) -> Any:
    from sightd.settings import Settings

    return Settings(model=handle.settings.model, data_dir=tmp_path, torch_threads=1, **extra)


def _wait(cond: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.time() + timeout_s
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.02)


def test_shutdown_finishes_in_flight_and_refuses_new_generations(
    gated: tuple[Any, threading.Event, GatedBackend], tmp_path: Path
) -> None:
    from sightd.app import create_app

    handle, gate, backend = gated
    srv = DrainingLive(create_app(_settings(tmp_path, handle, drain_timeout_s=30), engine=handle))
    metrics = srv.app.state.metrics
    results: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: results.append(httpx.post(f"{srv.url}{GEN}", json=BODY, timeout=60))
    )
    first.start()
    _wait(lambda: backend.waiting == 1, "the first generation did not start")
    assert metrics.generations_in_flight == 1
    srv.server.should_exit = True  # what SIGTERM does
    _wait(lambda: srv.app.state.drain.draining, "the server did not start draining")

    refused = httpx.post(f"{srv.url}{GEN}", json=BODY, timeout=10)
    assert refused.status_code == 503
    err = refused.json()["error"]
    assert err["status"] == "UNAVAILABLE" and "shutting down" in err["message"]
    assert refused.headers["retry-after"] == "1"
    ready = httpx.get(f"{srv.url}/readyz")
    assert ready.status_code == 503 and "shutting down" in ready.json()["error"]["message"]
    assert httpx.get(f"{srv.url}/livez").status_code == 200
    assert httpx.get(f"{srv.url}/v1beta/models").status_code == 200  # reads still answered
    assert srv.thread.is_alive()  # still draining: the first request holds it

    gate.set()
    first.join(30)
    assert results and results[0].status_code == 200, results[0].text if results else None
    assert results[0].json()["candidates"]
    srv.thread.join(20)
    assert not srv.thread.is_alive()
    assert metrics.refused_draining == 1


def test_shutdown_marks_running_background_interactions_failed(
    gated: tuple[Any, threading.Event, GatedBackend], tmp_path: Path
) -> None:
    from sightd.app import create_app

    handle, gate, backend = gated
    settings = _settings(tmp_path, handle, drain_timeout_s=0.5)
    srv = DrainingLive(create_app(settings, engine=handle))
    body = {"model": "gemini-2.5-flash", "input": "Tell me a story.", "background": True}
    created = httpx.post(f"{srv.url}{INTERACTIONS}", json=body, timeout=30)
    assert created.status_code == 200 and created.json()["status"] == "in_progress"
    iid = created.json()["id"]
    _wait(lambda: backend.waiting == 1, "the background generation did not start")
    store = srv.app.state.interactions.store
    srv.server.should_exit = True  # what SIGTERM does; the generation is still held
    _wait(
        lambda: store.get("anonymous", iid).status == "failed",
        "the interrupted interaction was not marked failed after the drain timeout",
        timeout_s=10,
    )
    gate.set()  # let the held worker thread end, so the event loop can close
    srv.thread.join(20)
    assert not srv.thread.is_alive()

    again = DrainingLive(create_app(settings, engine=handle))  # the same database
    try:
        got = httpx.get(f"{again.url}{INTERACTIONS}/{iid}").json()
    finally:
        again.stop()
    assert got["status"] == "failed", got
    assert "server stopped" in got["error"]["message"]


# --- crash recovery ----------------------------------------------------------------------------


def _left_in_progress(db_url: str, iid: str, *, replica: str, lease_end: datetime) -> None:
    """Write a background interaction row as a process that then died would have left it."""
    from sightd.storage.db import create_db, init_schema
    from sightd.storage.interactions import InteractionRow, InteractionStore

    db = create_db(db_url)
    init_schema(db)
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    store = InteractionStore(db, replica=replica)
    store.put(
        InteractionRow(iid, "anonymous", "gemini-2.5-flash", "in_progress", created, created, {})
    )
    from sqlalchemy import update

    from sightd.storage.interactions import INTERACTIONS

    with db.begin() as conn:
        conn.execute(
            update(INTERACTIONS).where(INTERACTIONS.c.id == iid).values(lease_until=lease_end)
        )
    db.dispose()


def test_start_up_fails_interactions_a_dead_process_left(
    make_server: Callable[..., Any], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'sightd.db'}"
    now = datetime.now(UTC)
    _left_in_progress(url, "v1_dead", replica="gone-1", lease_end=now - timedelta(seconds=30))
    _left_in_progress(url, "v1_alive", replica="live-2", lease_end=now + timedelta(minutes=5))
    srv = make_server(data_dir=tmp_path)
    dead = httpx.get(f"{srv.url}{INTERACTIONS}/v1_dead").json()
    assert dead["status"] == "failed"
    assert dead["error"]["message"].startswith("The server stopped before")
    alive = httpx.get(f"{srv.url}{INTERACTIONS}/v1_alive").json()
    assert alive["status"] == "in_progress"  # another replica's live lease: left alone
