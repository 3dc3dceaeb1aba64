"""The in-process engine on a full-size model: first token, decoding, raw overhead, concurrency,
video, memory — one run, one model.

Builds (once, cached: `bench/full_size.py`) a full-size random-weight model of the real
architecture from its published config — Qwen3-VL-2B by default, `--family qwen2.5-vl`
(Qwen2.5-VL-3B) or `smolvlm2` (SmolVLM2-2.2B) — or takes `--model DIR`, or `--tiny` (a tiny
random model from `sightd.testing`, for the smoke test). It loads it the way the server does
(`engine.registry.load_backend`: `--device`, `--dtype`, default `auto` = int8 text layers on an
x86 CPU) and calls only the async `Backend` interface (`generate`/`stream`), so it measures
whatever the engine does. Sections (`--only ttft,raw,concurrent,video`, default all):

- ttft: one 12 MP photo (a 4000×3000 JPEG of noise and shapes, realistic to decode) at each
  `mediaResolution` level, through sightd's path: decoded by `sightd.media.image` at the
  policy's size → `Prompt` → `Backend.stream`; time to the first `TextDelta` (decoding
  included) and tokens/s after it. Goal: < 15 s at the default level.
- raw: the very processor inputs sightd built (captured from its processor call) through plain
  `model.generate` on the same model object, greedy, the same `max_new_tokens`, against
  sightd's `Backend.generate`, interleaved; ratio sightd ÷ raw (goal ≤ 1.05).
- concurrent: 4 and 8 photo requests at once (`asyncio.gather`), answers of 32 and 256
  tokens, against the same requests one after another; wall ÷ serial (goals: 4 × 256 ≤ 0.5
  on a CPU, 8 at once ≤ 0.25 on a GPU).
- video: a 20-s and a 60-s clip at 1 fps (frames at the policy's size), as one native video
  and as frames-as-images (`engine.render.flatten_videos`, what a backend without native video
  sees): visual tokens and prefill (a 1-token generation); ratio native ÷ images (goal for
  60 s: ≤ 0.55).
- memory: peak RSS (`ru_maxrss`, `/proc` VmHWM), printed after each section.

    .venv/bin/python bench/engine.py [--family qwen3-vl] [--only ttft,raw,video] [--quick]
    .venv/bin/python bench/engine.py --tiny --quick          # seconds; what the smoke test runs

A full-size model on a 2-core CPU takes minutes per section; check that no other process holds
gigabytes of memory first.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the server sets it, before torch loads

from bench.full_size import PUBLISHED, full_size_model  # noqa: E402
from sightd.engine.base import Backend, Completion, SamplingParams, TextDelta  # noqa: E402
from sightd.engine.render import flatten_videos  # noqa: E402
from sightd.media.image import decode_image  # noqa: E402
from sightd.prompt import ImagePart, Prompt, TextPart, TimedFrame, Turn, VideoPart  # noqa: E402
from sightd.settings import Settings  # noqa: E402

SECTIONS = ("ttft", "raw", "concurrent", "video")
LEVELS = ("LOW", "MEDIUM", "HIGH")
QUESTION = "Describe this image in detail."
TTFT_GOAL_S = 15.0


# --- media made in code ---------------------------------------------------------------------


def photo_jpeg(width: int = 4000, height: int = 3000, seed: int = 0) -> bytes:
    """A JPEG 'photo': gradients, sensor-like noise and shapes, so decoding costs what a
    phone photo's does (noise keeps the entropy of real detail)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for channel, base in enumerate((x + 0 * y, y + 0 * x, (x + y) / 2)):
        noise = rng.normal(0, 12, (height, width)).astype(np.float32)
        rgb[..., channel] = np.clip(base + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width - 400)), int(rng.integers(0, height - 400))
        w, h = (int(v) for v in rng.integers(80, 900, 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=color, outline=(0, 0, 0), width=6)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def decode_photo(backend: Backend, jpeg: bytes, level: str | None) -> ImagePart:
    """The photo as the server decodes it: straight to the size the model sees at `level`."""
    sizing = backend.info.sizing
    size_for = None if sizing is None else (lambda size: sizing.image_px(size, level))
    return decode_image(
        jpeg,
        max_side_px=backend.info.image_max_side_px,
        max_pixels=Settings().max_image_pixels,
        size_for=size_for,
    )


def photo_prompt(image: ImagePart, question: str = QUESTION) -> Prompt:
    return Prompt((Turn("user", (image, TextPart(question))),))


def video_part(
    backend: Backend, seconds: int, source_px: tuple[int, int] = (1280, 720)
) -> VideoPart:
    """A `seconds`-long clip sampled at 1 fps, each frame at the size the model sees frames at
    the default level (as `services.materialize` resizes them): a moving shape on noise."""
    sizing = backend.info.sizing
    w, h = sizing.frame_px(source_px, None) if sizing is not None else source_px
    rng = np.random.default_rng(1)
    frames = []
    for t in range(seconds):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGB")
        x = (t * 37) % max(1, w - 60)
        ImageDraw.Draw(image).ellipse([x, h // 3, x + 60, h // 3 + 60], fill=(250, 20, 20))
        frames.append(TimedFrame(float(t), ImagePart(image, source_px)))
    return VideoPart(tuple(frames), (), 1.0, 0.0, float(seconds), float(seconds))


# --- the model under the seam -------------------------------------------------------------


def local_model(backend: Any) -> Any:
    """The in-process model object behind the async seam (the one holding the processor and
    the torch model), found by walking the wrappers' attributes."""
    seen: list[Any] = [backend]
    while seen:
        obj = seen.pop()
        if hasattr(obj, "_processor") and hasattr(obj, "_model"):
            return obj
        seen += [getattr(obj, a) for a in ("model", "_model", "_local") if hasattr(obj, a)]
    raise SystemExit("no in-process model behind this backend")


@contextmanager
def captured_inputs(local: Any) -> Iterator[list[Any]]:
    """Records every processor output (the model inputs) the engine builds meanwhile."""
    processor = local._processor
    original = processor.apply_chat_template
    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    processor.apply_chat_template = spy
    try:
        yield seen
    finally:
        del processor.apply_chat_template  # the class's method again


def visual_tokens(local: Any, inputs: Any) -> int:
    config = local._model.config
    ids = inputs["input_ids"]
    wanted = [getattr(config, k, None) for k in ("image_token_id", "video_token_id")]
    wanted += [getattr(config, "image_token_index", None)]
    return int(sum(int((ids == i).sum()) for i in {w for w in wanted if w is not None}))


# --- measuring ------------------------------------------------------------------------------


def greedy(tokens: int) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_output_tokens=tokens)


@dataclass
class Streamed:
    first_s: float  # from the start to the first TextDelta
    total_s: float
    tokens: int
    model_prompt_tokens: int | None

    @property
    def decode_tps(self) -> float:
        span = self.total_s - self.first_s
        return (self.tokens - 1) / span if self.tokens > 1 and span > 0 else float("nan")


async def streamed(backend: Backend, prompt: Prompt, tokens: int, start: float) -> Streamed:
    first = None
    done: Completion | None = None
    async for item in backend.stream(prompt, greedy(tokens)):
        if isinstance(item, TextDelta):
            if first is None and item.text:
                first = time.perf_counter()
        else:
            done = item
    end = time.perf_counter()
    assert done is not None
    first = first if first is not None else end
    return Streamed(first - start, end - start, done.output_tokens, done.model_prompt_tokens)


def peak_rss() -> str:
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm = rss = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = " (other processes share the CPU: times are inflated)" if load > cores + 0.5 else ""
    return (
        f"peak RSS: ru_maxrss {maxrss_mb:,.0f} MB, VmHWM {hwm:,.0f} MB (now {rss:,.0f} MB); "
        f"load average {load:.1f} on {cores} cores{busy}"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- sections -------------------------------------------------------------------------------


async def section_ttft(backend: Backend, jpeg: bytes, tokens: int) -> None:
    print(
        f"\n== ttft: one {_jpeg_size(jpeg)} photo ({len(jpeg) / 1e6:.1f} MB JPEG), greedy "
        f"{tokens} tokens, through decode → Prompt → Backend.stream",
        flush=True,
    )
    default_ttft = None
    for level in LEVELS:
        start = time.perf_counter()
        image = await asyncio.to_thread(decode_photo, backend, jpeg, level)
        decoded = time.perf_counter() - start
        run = await streamed(backend, photo_prompt(image), tokens, start)
        w, h = image.image.size
        print(
            f"  {level:<6} {w}×{h} px, {run.model_prompt_tokens} model tokens: JPEG "
            f"decode {decoded:5.2f} s, TTFT {run.first_s:6.2f} s, then {run.decode_tps:6.2f} tok/s "
            f"({run.tokens} tokens)",
            flush=True,
        )
        if level == "MEDIUM":
            default_ttft = run.first_s
    assert default_ttft is not None
    with Image.open(io.BytesIO(jpeg)) as im:
        megapixels = im.size[0] * im.size[1] / 1e6
    print(
        f"{megapixels:.0f} MP photo at default: TTFT {default_ttft:.2f} s "
        f"(goal < {TTFT_GOAL_S:g} s) {_verdict(default_ttft < TTFT_GOAL_S)}",
        flush=True,
    )


def raw_generate(local: Any, inputs: Any, tokens: int) -> tuple[float, int]:
    """Plain `model.generate` on `inputs` (the processor's output), greedy, `tokens` new."""
    import torch

    model = local._model
    config = copy.deepcopy(model.generation_config)
    config.do_sample = False
    config.temperature, config.top_p, config.top_k = 1.0, 1.0, 50
    config.max_new_tokens = tokens
    moved = inputs.to(device=model.device, dtype=model.dtype)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**moved, generation_config=config)
    elapsed = time.perf_counter() - start
    return elapsed, int(out.shape[1] - moved["input_ids"].shape[1])


async def section_raw(backend: Backend, jpeg: bytes, tokens: int, rounds: int) -> None:
    local = local_model(backend)
    image = await asyncio.to_thread(decode_photo, backend, jpeg, None)
    prompt = photo_prompt(image)
    with captured_inputs(local) as seen:  # the processor inputs sightd builds for this prompt
        await backend.generate(prompt, greedy(1))
    inputs = seen[-1]
    print(
        f"\n== raw: the same inputs ({int(inputs['input_ids'].shape[1])} prompt tokens) through "
        f"sightd's Backend.generate and plain model.generate, greedy {tokens} tokens, "
        f"{rounds} rounds interleaved",
        flush=True,
    )
    times: dict[str, list[float]] = {"sightd": [], "raw": []}
    for r in range(rounds):
        for which in ("sightd", "raw") if r % 2 == 0 else ("raw", "sightd"):
            if which == "sightd":
                start = time.perf_counter()
                done = await backend.generate(prompt, greedy(tokens))
                elapsed, made = time.perf_counter() - start, done.output_tokens
            else:
                elapsed, made = await asyncio.to_thread(raw_generate, local, inputs, tokens)
            times[which].append(elapsed)
            print(f"  round {r + 1} {which:>6}: {elapsed:7.2f} s, {made} tokens", flush=True)
    ours, theirs = statistics.median(times["sightd"]), statistics.median(times["raw"])
    print(
        f"sightd ÷ raw transformers: {ours / theirs:.3f} (sightd {ours:.2f} s, raw "
        f"{theirs:.2f} s; goal ≤ 1.05) {_verdict(ours / theirs <= 1.05)}",
        flush=True,
    )


async def section_concurrent(
    backend: Backend, jpeg: bytes, counts: list[int], lengths: list[int], device: str
) -> None:
    image = await asyncio.to_thread(decode_photo, backend, jpeg, None)
    print(
        f"\n== concurrent: photo requests at once (asyncio.gather over Backend.generate) "
        f"against one after another; engine max_concurrency "
        f"{backend.capabilities.max_concurrency}",
        flush=True,
    )
    for n in counts:
        prompts = [photo_prompt(image, f"{QUESTION} (request {i + 1})") for i in range(n)]
        for tokens in lengths:
            start = time.perf_counter()
            made = [(await backend.generate(p, greedy(tokens))).output_tokens for p in prompts]
            serial = time.perf_counter() - start
            start = time.perf_counter()
            done = await asyncio.gather(*(backend.generate(p, greedy(tokens)) for p in prompts))
            wall = time.perf_counter() - start
            together = [d.output_tokens for d in done]
            goal = ""
            if device == "cpu" and n == 4 and tokens == 256:
                goal = f" (goal ≤ 0.5 on CPU) {_verdict(wall / serial <= 0.5)}"
            elif device != "cpu" and n == 8:
                goal = f" (goal ≤ 0.25 on GPU) {_verdict(wall / serial <= 0.25)}"
            print(
                f"  {n} × {tokens:>3} tokens: serial {serial:7.2f} s, concurrent "
                f"{wall:7.2f} s, wall ÷ serial {wall / serial:.3f}{goal}; tokens made "
                f"{sum(made)} serial, {sum(together)} concurrent",
                flush=True,
            )


async def section_video(backend: Backend, lengths_s: list[int]) -> None:
    local = local_model(backend)
    native = backend.capabilities.native_video
    print(
        f"\n== video: 1 fps clips as one native video against frames-as-images "
        f"(engine takes video {'natively' if native else 'as frames'}); prefill = a 1-token "
        f"generation",
        flush=True,
    )
    for seconds in lengths_s:
        clip = video_part(backend, seconds)
        as_video = Prompt((Turn("user", (clip, TextPart("Describe the video."))),))
        as_images = flatten_videos(as_video)
        figures: dict[str, tuple[int, float, int]] = {}
        for name, prompt in (("native", as_video), ("images", as_images)):
            with captured_inputs(local) as seen:
                start = time.perf_counter()
                await backend.generate(prompt, greedy(1))
                elapsed = time.perf_counter() - start
            visual = visual_tokens(local, seen[-1])
            figures[name] = (visual, elapsed, int(seen[-1]["input_ids"].shape[1]))
            print(
                f"  {seconds:>3} s {name:>6}: {visual:6d} visual tokens "
                f"({figures[name][2]} in all), prefill {elapsed:7.2f} s",
                flush=True,
            )
        (tv, pv, _), (ti, pi, _) = figures["native"], figures["images"]
        goal = f" (goal ≤ 0.55) {_verdict(pv / pi <= 0.55)}" if seconds >= 60 else ""
        print(
            f"{seconds}-s video native ÷ frames-as-images: visual tokens {tv / ti:.3f}, "
            f"prefill {pv / pi:.3f}{goal}",
            flush=True,
        )


def _jpeg_size(jpeg: bytes) -> str:
    with Image.open(io.BytesIO(jpeg)) as im:
        return f"{im.size[0]}×{im.size[1]}"


# --- main -----------------------------------------------------------------------------------


def model_folder(args: argparse.Namespace) -> Path:
    if args.model is not None:
        return Path(args.model)
    if args.tiny:
        from sightd.testing.tiny import build_tiny

        return Path(build_tiny(Path(tempfile.mkdtemp()) / f"tiny-{args.family}", args.family))
    return full_size_model(args.family)


def load(folder: Path, args: argparse.Namespace) -> Backend:
    from sightd.engine.registry import load_backend

    settings = Settings(
        model=str(folder),
        engine="transformers",
        device=args.device,
        dtype=args.dtype,
        torch_threads=args.threads,
        hub_offline=True,
    )
    return load_backend(settings)


async def run(args: argparse.Namespace, backend: Backend, jpeg: bytes) -> None:
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    local = local_model(backend)
    device = str(local._model.device.type)
    tokens = args.tokens or (8 if args.quick else 32)
    await backend.generate(photo_prompt(decode_photo(backend, jpeg, "LOW")), greedy(2))  # warm
    print(f"warmed up; {peak_rss()}", flush=True)
    for section in only:
        if section == "ttft":
            await section_ttft(backend, jpeg, tokens)
        elif section == "raw":
            await section_raw(backend, jpeg, tokens, 1 if args.quick else 2)
        elif section == "concurrent":
            counts = [4] if args.quick else [4, 8]
            lengths = [8, 32] if args.quick else [32, 256]
            await section_concurrent(backend, jpeg, counts, lengths, device)
        elif section == "video":
            await section_video(backend, [20] if args.quick else [20, 60])
        print(peak_rss(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(PUBLISHED), default="qwen3-vl")
    parser.add_argument("--model", type=Path, help="a model folder instead of building one")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model (smoke test)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, …")
    parser.add_argument("--dtype", default="auto", help="auto (int8 text on x86 CPU), float32…")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--quick", action="store_true", help="fewer tokens, runs and clips")
    parser.add_argument("--tokens", type=int, default=0, help="answer length for ttft and raw")
    args = parser.parse_args()
    unknown = {s.strip() for s in args.only.split(",")} - set(SECTIONS) - {""}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    folder = model_folder(args)
    started = time.perf_counter()
    backend = load(folder, args)
    info = backend.info
    print(
        f"model: {info.family} from {folder} ({info.extras.get('dtype')} on "
        f"{info.extras.get('device')}), loaded in {time.perf_counter() - started:.1f} s; "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    side = 1600 if args.tiny else 4000
    jpeg = photo_jpeg(side, side * 3 // 4)

    async def go() -> None:
        try:
            await run(args, backend, jpeg)
        finally:
            await backend.aclose()

    asyncio.run(go())
    print(peak_rss())


if __name__ == "__main__":
    main()
