"""What sightd adds in front of an OpenAI-compatible server: throughput and latency, one run.

Starts `transformers serve` (tests/engines' harness, its own venv) on a random-weight Qwen3-VL
and `sightd serve --engine openai` in front of it, both real processes on 127.0.0.1. The same
image question goes (a) straight to the upstream's OpenAI API and (b) through sightd's Gemini
API. The upstream receives byte-identical requests both ways (the direct client sends the image
exactly as sightd re-encodes it, with the same seed and token budget), so any difference is
sightd's: parsing, decoding the image, re-encoding it, proxying the answer.

Printed: sequential latency per request (median of --rounds) both ways and sightd's added ms;
throughput of --concurrency simultaneous requests both ways and the ratio (goal ≥ 0.95).

    .venv/bin/python bench/engine_overhead.py [--size 1280x960] [--tokens 32] [--concurrency 8]

`--model full` uses a full-size random Qwen3-VL-2B (../shared/notes/engine-cost.md) when it
has been built under PERF_DIR; the default tiny model makes upstream work short, which shows
sightd's overhead at its largest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sightd.media.encode import image_data_url  # noqa: E402
from tests.engines.transformers_serve import (  # noqa: E402
    start_transformers_serve,
    suppress_markup_tokens,
)

PROMPT = "Describe this image."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def photo(width: int, height: int) -> bytes:
    """A JPEG with real structure (gradients and shapes), as a phone photo would be."""
    import numpy as np
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    image = Image.fromarray(rgb.astype("uint8"))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.ellipse(
            [i * width // 14, i * height // 20, i * width // 14 + 90, i * height // 20 + 60],
            fill=(255 - 20 * i, 40 + 15 * i, 120),
        )
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def upstream_image_url(jpeg: bytes) -> str:
    """The data URL sightd sends upstream for this image (same decode, same encoder)."""
    from sightd.media.image import decode_image

    part = decode_image(jpeg, max_side_px=10_000, max_pixels=100_000_000)
    return image_data_url(part.image)


def start_sightd(upstream: Any, model_dir: Path, data_dir: Path, log: Path) -> tuple[Any, str]:
    port = free_port()
    cmd = [
        str(ROOT / ".venv" / "bin" / "sightd"), "serve", "--engine", "openai",
        "--model", str(model_dir), "--upstream-url", upstream.url,
        "--upstream-model", upstream.model, "--upstream-processor", str(model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
        "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).json().get("model") == "ready":
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"sightd did not start:\n{log.read_text()[-3000:]}")


async def direct(client: httpx.AsyncClient, upstream: Any, url: str, tokens: int, seed: int) -> Any:
    body = {
        "model": upstream.model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": PROMPT},
                ],
            }
        ],
        "stream": False,
        "max_tokens": tokens,
        "temperature": 1.0,
        "seed": seed,
    }
    response = await client.post(f"{upstream.url}/chat/completions", json=body, timeout=600)
    response.raise_for_status()
    return response.json()["usage"]["completion_tokens"]


async def via_sightd(
    client: httpx.AsyncClient, base: str, jpeg: bytes, tokens: int, seed: int
) -> Any:
    body = {
        "contents": [
            {
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "image/jpeg",
                            "data": base64.b64encode(jpeg).decode(),
                        }
                    },
                    {"text": PROMPT},
                ]
            }
        ],
        "generationConfig": {"maxOutputTokens": tokens, "temperature": 1.0, "seed": seed},
    }
    response = await client.post(
        f"{base}/v1beta/models/gemini-2.5-flash:generateContent", json=body, timeout=600
    )
    response.raise_for_status()
    return response.json()["usageMetadata"]["candidatesTokenCount"]


async def measure(args: argparse.Namespace, upstream: Any, base: str, jpeg: bytes) -> None:
    url = upstream_image_url(jpeg)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(limits=limits) as client:
        for seed in range(2):  # warm both paths
            await direct(client, upstream, url, args.tokens, seed)
            await via_sightd(client, base, jpeg, args.tokens, seed)

        lat_d, lat_s = [], []
        for i in range(args.rounds):  # interleaved, so drift hits both alike
            t = time.perf_counter()
            await direct(client, upstream, url, args.tokens, 100 + i)
            lat_d.append(time.perf_counter() - t)
            t = time.perf_counter()
            await via_sightd(client, base, jpeg, args.tokens, 100 + i)
            lat_s.append(time.perf_counter() - t)

        n = args.concurrency
        walls_d, walls_s = [], []
        for r in range(args.batches):
            t = time.perf_counter()
            await asyncio.gather(
                *(direct(client, upstream, url, args.tokens, 1000 * r + i) for i in range(n))
            )
            walls_d.append(time.perf_counter() - t)
            t = time.perf_counter()
            await asyncio.gather(
                *(via_sightd(client, base, jpeg, args.tokens, 1000 * r + i) for i in range(n))
            )
            walls_s.append(time.perf_counter() - t)

    md, ms = statistics.median(lat_d), statistics.median(lat_s)
    thr_d, thr_s = n / statistics.median(walls_d), n / statistics.median(walls_s)
    print(
        f"image {args.size}, {args.tokens} output tokens, "
        f"upstream: transformers serve ({args.model})"
    )
    print(
        f"sequential latency, median of {args.rounds}: direct {md * 1000:.0f} ms, "
        f"through sightd {ms * 1000:.0f} ms -> sightd adds {(ms - md) * 1000:.1f} ms per request"
    )
    print(
        f"{n} concurrent requests, median of {args.batches} batches: direct {thr_d:.2f} req/s, "
        f"through sightd {thr_s:.2f} req/s"
    )
    print(f"throughput ratio sightd / direct = {thr_s / thr_d:.3f}  (goal >= 0.95)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x960")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    work = Path(tempfile.mkdtemp(prefix="sightd-overhead-"))
    try:
        if args.model == "full":
            perf = Path(os.environ.get("PERF_DIR", Path.home() / ".cache" / "sightd-perf"))
            source = perf / "qwen3-vl-2b-random"
            if not source.is_dir():
                raise SystemExit(f"build it first: ../shared/notes/engine-cost (expected {source})")
            model_dir = work / "model"
            shutil.copytree(source, model_dir)
        else:
            from sightd.testing.tiny import build_tiny

            model_dir = build_tiny(work / "model", family="qwen3-vl")
        suppress_markup_tokens(model_dir)
        upstream = start_transformers_serve(model_dir, log_path=work / "upstream.log")
        proc, base = start_sightd(upstream, model_dir, work / "data", work / "sightd.log")
        try:
            asyncio.run(measure(args, upstream, base, photo(width, height)))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
            upstream.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
