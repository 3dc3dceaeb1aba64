"""A bounded load test on loopback: files.list stays fast while the server generates and uploads.

Starts a real `sightd serve` process (a tiny random Qwen3-VL built offline by default, SQLite
and local blobs in a temporary data dir) and, for `--seconds` (120), runs at once:
- `--clients` (16) clients looping small-image `generateContent` (an inline PNG or JPEG,
  `maxOutputTokens` `--max-tokens`), each waiting for its answer before the next call;
- `--uploads` (4) clients looping `--upload-mb` (50) MB resumable uploads the way the
  google-genai SDK sends them (start, 8 MiB chunks, the last one `upload, finalize`), each file
  deleted once finished so the quota never fills;
- a prober in a process of its own (so the bench's own event loop does not colour its
  figures) calling `files.list` every `--probe-ms` (100) ms.

Printed at the end of the one run: requests by route and status; errors (anything but a 2xx or a
well-formed 429/503 envelope: other statuses, 5xx, malformed bodies, transport failures);
files.list latency p50/p95/p99/max overall and per 10 s window; generateContent throughput and
latency; upload throughput; the server's RSS (itself and its children) sampled every second:
before the load, after `--warmup-s`, peak and at the end; and PASS/FAIL against the goals:
0 errors, files.list p99 < 100 ms (overall and in every window), RSS peak − after-warm-up
< `--rss-bound-mb` (500). The exit status is 1 when a goal fails.

To tell a slow server from a starved one, it also prints files.list as the server's access log
timed it (the server runs with `--log-level info`) beside the client's figure, and where the
CPU went during the load: cores busy on the host, in the server (process and children), in this
bench's clients and prober, in everything else, and the share of time a runnable task waited for
a CPU (`/proc/pressure/cpu`). On 2 cores the tiny model's generation (≈ 1 core), the event loop
reading 4 uploads (≈ 0.4 core at 250 MB/s), their hashing and disk writes and the bench itself
all share them, so there a slow files.list measures CPU contention as much as the server;
`--clients`, `--uploads` and `--torch-threads` turn the load down to see which part costs what.

    .venv/bin/python bench/load.py [--seconds 120] [--quick] [--clients 16] [--uploads 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.load_figures import (  # noqa: E402
    CpuSnapshot,
    Record,
    RssSampler,
    report,
    server_list_ms,
    tree_rss_bytes,
    verdict,
)

CHUNK_BYTES = 8 * 1024 * 1024
MODEL_ALIAS = "gemini-2.5-flash"
RETRY_STATUSES = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


# --- the wire ------------------------------------------------------------------------------
def envelope_problem(response: httpx.Response) -> str | None:
    """None when `response` is a well-formed retryable error (429/503 envelope), else why not."""
    if response.status_code not in RETRY_STATUSES:
        return f"HTTP {response.status_code}: {response.text[:200]!r}"
    try:
        err = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code} without an error envelope: {response.text[:200]!r}"
    ok = (
        isinstance(err, dict)
        and err.get("code") == response.status_code
        and err.get("status") == RETRY_STATUSES[response.status_code]
        and isinstance(err.get("message"), str)
    )
    return None if ok else f"HTTP {response.status_code} malformed envelope: {err!r}"


def retry_delay_s(response: httpx.Response) -> float:
    try:
        return min(5.0, max(0.1, float(response.headers.get("retry-after", "0.5"))))
    except ValueError:
        return 0.5


# --- media ----------------------------------------------------------------------------------
def small_images(n: int) -> list[tuple[str, bytes]]:
    """`n` small photos-ish images (gradients plus noise), alternately PNG and JPEG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        w, h = int(rng.integers(96, 320)), int(rng.integers(96, 320))
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], axis=-1)
        noisy = np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        mime = "image/png" if i % 2 == 0 else "image/jpeg"
        Image.fromarray(noisy).save(buf, format="PNG" if mime == "image/png" else "JPEG")
        out.append((mime, buf.getvalue()))
    return out


# --- load clients ---------------------------------------------------------------------------
async def generate_loop(
    client: httpx.AsyncClient,
    rec: Record,
    stop: asyncio.Event,
    bodies: list[bytes],
    seed: int,
) -> None:
    route = "generateContent"
    rng = random.Random(seed)
    path = f"/v1beta/models/{MODEL_ALIAS}:generateContent"
    while not stop.is_set():
        body = rng.choice(bodies)
        start = time.monotonic()
        try:
            response = await client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            rec.count(route, type(exc).__name__)
            rec.error(route, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.5)
            continue
        elapsed = time.monotonic() - start
        rec.count(route, response.status_code)
        if response.status_code == 200:
            try:
                data = response.json()
                data["candidates"][0]["content"]
                tokens = int(data["usageMetadata"].get("candidatesTokenCount", 0))
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                rec.error(route, f"malformed 200 ({exc!r}): {response.text[:200]!r}")
                continue
            rec.gen_latency_s.append(elapsed)
            rec.gen_tokens += tokens
            continue
        problem = envelope_problem(response)
        if problem:
            rec.error(route, problem)
        await asyncio.sleep(retry_delay_s(response))


async def upload_one(
    client: httpx.AsyncClient, rec: Record, stop: asyncio.Event, payload: bytes, n: int
) -> bool:
    """One SDK-shaped resumable upload, then its delete; False when it hit a problem."""
    size = len(payload)
    start = time.monotonic()
    response = await client.post(
        "/upload/v1beta/files",
        headers={
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(size),
            "x-goog-upload-header-content-type": "application/octet-stream",
            "content-type": "application/json",
        },
        content=json.dumps({"file": {"displayName": f"load-{n}.bin"}}).encode(),
    )
    rec.count("upload.start", response.status_code)
    if response.status_code != 200:
        problem = envelope_problem(response)
        if problem:
            rec.error("upload.start", problem)
        await asyncio.sleep(retry_delay_s(response))
        return problem is None
    url = response.headers.get("x-goog-upload-url")
    if not url:
        rec.error("upload.start", "no x-goog-upload-url")
        return False
    offset = 0
    file_json: dict[str, Any] | None = None
    while offset < size:
        if stop.is_set():  # the run is over: give the session back rather than leave it
            cancel = await client.post(url, headers={"x-goog-upload-command": "cancel"})
            rec.count("upload.cancel", cancel.status_code)
            return True
        piece = payload[offset : offset + CHUNK_BYTES]
        last = offset + len(piece) >= size
        chunk_start = time.monotonic()
        response = await client.post(
            url,
            content=piece,
            headers={
                "x-goog-upload-command": "upload, finalize" if last else "upload",
                "x-goog-upload-offset": str(offset),
                "content-type": "application/octet-stream",
            },
        )
        route = "upload.finalize" if last else "upload.chunk"
        rec.count(route, response.status_code)
        rec.chunk_latency_s.append(time.monotonic() - chunk_start)
        if response.status_code != 200:
            rec.error(route, envelope_problem(response) or f"HTTP {response.status_code}")
            return False
        status = response.headers.get("x-goog-upload-status")
        if last:
            try:
                file_json = response.json()["file"]
                assert int(file_json["sizeBytes"]) == size, file_json
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                rec.error(route, f"malformed finalize reply ({exc!r}): {response.text[:200]!r}")
                return False
            if status != "final":
                rec.error(route, f"x-goog-upload-status {status!r} after finalize")
        elif status != "active":
            rec.error(route, f"x-goog-upload-status {status!r} mid-upload")
            return False
        offset += len(piece)
    rec.upload_s.append(time.monotonic() - start)
    rec.upload_bytes += size
    rec.uploads_done += 1
    assert file_json is not None
    deleted = await client.delete(f"/v1beta/{file_json['name']}")
    rec.count("files.delete", deleted.status_code)
    if deleted.status_code != 200:
        rec.error("files.delete", envelope_problem(deleted) or f"HTTP {deleted.status_code}")
        return False
    return True


async def upload_loop(
    client: httpx.AsyncClient, rec: Record, stop: asyncio.Event, payload: bytes, worker: int
) -> None:
    n = 0
    while not stop.is_set():
        try:
            if not await upload_one(client, rec, stop, payload, worker * 10_000 + n):
                await asyncio.sleep(1.0)
        except httpx.HTTPError as exc:
            rec.count("upload", type(exc).__name__)
            rec.error("upload", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(1.0)
        n += 1


# --- the prober, in its own process --------------------------------------------------------
def probe_main(url: str, interval_s: float, conn: Connection) -> None:
    """Call files.list every `interval_s` until told to stop; send back (t, latency, verdict)."""
    samples: list[tuple[float, float, str]] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        conn.send("ready")
        conn.recv()  # go
        t0 = time.monotonic()
        next_at = t0
        while not conn.poll():
            start = time.monotonic()
            try:
                response = client.get("/v1beta/files", params={"pageSize": 100})
                verdict = str(response.status_code)
                if response.status_code == 200:
                    body = response.json()
                    if not isinstance(body, dict) or not isinstance(body.get("files", []), list):
                        verdict = "malformed 200"
                elif envelope_problem(response):
                    verdict = f"{response.status_code} malformed"
            except httpx.HTTPError as exc:
                verdict = type(exc).__name__
            except ValueError:
                verdict = "malformed 200"
            samples.append((start - t0, time.monotonic() - start, verdict))
            next_at += interval_s
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
    conn.recv()
    conn.send(samples)


# --- the run --------------------------------------------------------------------------------
async def run_load(
    args: argparse.Namespace,
    url: str,
    rec: Record,
    payload: bytes,
    bodies: list[bytes],
    cpu: list[CpuSnapshot],
    server_pid: int,
) -> None:
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=args.clients + args.uploads + 4)
    timeout = httpx.Timeout(args.request_timeout_s)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        tasks = [
            asyncio.create_task(generate_loop(client, rec, stop, bodies, i))
            for i in range(args.clients)
        ]
        tasks += [
            asyncio.create_task(upload_loop(client, rec, stop, payload, i))
            for i in range(args.uploads)
        ]
        await asyncio.sleep(max(0.0, rec.t0 + args.seconds - time.monotonic()))
        cpu.append(CpuSnapshot.take(server_pid))
        stop.set()
        # in-flight calls finish (they count); whatever is still out after the grace is dropped
        _done, pending = await asyncio.wait(tasks, timeout=args.request_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception():
                rec.error("client", f"task died: {task.exception()!r}")


def warm_up(url: str, bodies: list[bytes]) -> None:
    """One generateContent and one small upload, so lazy loads happen before the clock starts."""
    with httpx.Client(base_url=url, timeout=300.0) as client:
        r = client.post(
            f"/v1beta/models/{MODEL_ALIAS}:generateContent",
            content=bodies[0],
            headers={"content-type": "application/json"},
        )
        r.raise_for_status()
        r = client.post(
            "/upload/v1beta/files",
            params={"uploadType": "media"},
            content=b"warm-up",
            headers={"content-type": "application/octet-stream"},
        )
        r.raise_for_status()
        client.delete(f"/v1beta/{r.json()['file']['name']}").raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the load")
    parser.add_argument("--quick", action="store_true", help="a 15 s smoke run")
    parser.add_argument("--clients", type=int, default=16, help="generateContent clients")
    parser.add_argument("--uploads", type=int, default=4, help="concurrent upload loops")
    parser.add_argument("--upload-mb", type=int, default=50, help="MiB per uploaded file")
    parser.add_argument("--max-tokens", type=int, default=8, help="maxOutputTokens")
    parser.add_argument("--probe-ms", type=float, default=100.0, help="files.list period")
    parser.add_argument("--warmup-s", type=float, default=None, help="RSS baseline time")
    parser.add_argument("--rss-bound-mb", type=int, default=500)
    parser.add_argument("--request-timeout-s", type=float, default=120.0)
    parser.add_argument("--model", type=Path, help="model folder (default: a tiny Qwen3-VL)")
    parser.add_argument("--torch-threads", type=int, default=0, help="server's torch threads")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another `sightd serve` setting, e.g. max_queue=64 (repeatable)",
    )
    args = parser.parse_args()
    if args.quick and args.seconds == 120.0:
        args.seconds = 15.0
    if args.warmup_s is None:
        args.warmup_s = min(15.0, args.seconds / 4)

    os.environ.setdefault("SIGHTD_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tests.serve_process import ServeProcess

    payload = os.urandom(args.upload_mb * 1024 * 1024)
    bodies = [
        json.dumps(
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [
                            {
                                "inlineData": {
                                    "mimeType": mime,
                                    "data": base64.b64encode(data).decode(),
                                }
                            },
                            {"text": "Describe this image in a few words."},
                        ],
                    }
                ],
                "generationConfig": {"maxOutputTokens": args.max_tokens, "temperature": 0.7},
            }
        ).encode()
        for mime, data in small_images(8)
    ]

    with tempfile.TemporaryDirectory(prefix="sightd-load-") as tmp:
        tmpdir = Path(tmp)
        model = args.model
        if model is None:
            from sightd.testing.tiny import build_tiny

            model = build_tiny(tmpdir / "tiny-qwen3-vl", family="qwen3-vl")
        data_dir = tmpdir / "data"
        data_dir.mkdir()
        settings = {
            "model": str(model),
            "torch_threads": str(args.torch_threads),
            "log_level": "info",  # the access log: files.list as the server timed it
        }
        settings.update(item.split("=", 1) for item in args.serve_arg)
        server = ServeProcess(data_dir, ready_path="/readyz", timeout_s=300.0, **settings)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        prober = ctx.Process(target=probe_main, args=(server.url, args.probe_ms / 1000, child))
        try:
            warm_up(server.url, bodies)
            prober.start()
            parent.recv()  # ready
            rss_start = tree_rss_bytes(server.proc.pid)
            cpu = [CpuSnapshot.take(server.proc.pid)]
            rec = Record(t0=time.monotonic())
            sampler = RssSampler(server.proc.pid, rec.t0)
            sampler.start()
            parent.send("go")
            print(
                f"server pid {server.proc.pid} at {server.url}: loading it for {args.seconds:g} s",
                file=sys.stderr,
                flush=True,
            )
            asyncio.run(run_load(args, server.url, rec, payload, bodies, cpu, server.proc.pid))
            wall_s = time.monotonic() - rec.t0
            parent.send("stop")
            probes: list[tuple[float, float, str]] = parent.recv()
            sampler.halt.set()
            sampler.join()
            if server.proc.poll() is not None:
                rec.error("server", f"exited with {server.proc.returncode}")
        finally:
            if prober.is_alive():
                prober.terminate()
            server.stop()
        log_text = server.log_path.read_text(errors="replace")
    log_tail = "\n".join(
        line for line in log_text[-20_000:].splitlines() if "sightd.access" not in line
    )[-2000:]
    ok = report(
        args,
        rec,
        server_list_ms(log_text),
        probes,
        sampler.samples,
        rss_start,
        cpu,
        min(wall_s, args.seconds),
    )
    if not ok and log_tail.strip():
        print("\nserver log (tail):\n" + log_tail)
    print(f"\nRESULT: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
