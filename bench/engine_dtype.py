"""What the weights' dtype and torch's thread count cost on this machine's CPU.

Loads a Qwen3-VL model in-process through sightd's `TransformersBackend` (a tiny random one
by default; `--model DIR` for the full-size random Qwen3-VL-2B of
../shared/notes/engine-cost.md, the figure that matters) as float32 (the reference), bfloat16,
and int8 (`dtype: int8`: the text model's Linear layers dynamically quantized, vision float32),
and measures, greedy:

- prefill: seconds to the first token of one 1280×960 photo + a short question (at the
  default resolution policy, as a user's photo is decoded);
- decode: tokens/s of a text-only prompt after its first token, timed within the run;
- memory: RSS added by loading each variant (after a warm-up that touches every weight),
  and the peak RSS growth while it generates.

At most two models are resident: float32 stays loaded and each other dtype is loaded beside
it, measured interleaved with it round by round (so load from other processes hits both
alike), then freed. Then the fastest decoder runs with torch threads 1 against 2,
interleaved. Printed: medians, the spread (max/min) of the rounds as the noise, and ratios
against float32.

    .venv/bin/python bench/engine_dtype.py [--model DIR] [--tokens 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sightd.engine.base import SamplingParams  # noqa: E402
from sightd.prompt import ImagePart, Prompt, TextPart, Turn  # noqa: E402

TEXT = Prompt((Turn("user", (TextPart("Tell me a long story about a lighthouse keeper."),)),))


def _photo(size_px: tuple[int, int]) -> ImagePart:
    """A noisy gradient 'photo' of `size_px` (content does not change the cost)."""
    w, h = size_px
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=-1)
    pixels = np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
    return ImagePart(Image.fromarray(pixels, "RGB"), (w, h))


def photo_prompt(backend: Any, size_px: tuple[int, int] = (1280, 960)) -> Prompt:
    """A photo of `size_px` as the server hands it to the model: decoded to the size the
    default resolution level gives (sightd's media decoding does that before the engine)."""
    shown = backend.resolution_policy.image_px(size_px, None)
    return Prompt((Turn("user", (_photo(shown), TextPart("Describe this image."))),))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def peak_rss_growth_mb(out: list[float]) -> Iterator[None]:
    """Appends to `out` the peak RSS above the starting RSS, sampled every 20 ms."""
    start = rss_mb()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
        out.append(max(peak[0], rss_mb()) - start)


@dataclass
class Figures:
    name: str
    resident_mb: float = 0.0
    prefill_s: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)
    working_mb: list[float] = field(default_factory=list)


def _timed(backend: Any, prompt: Prompt, tokens: int) -> tuple[float, int]:
    start = time.perf_counter()
    done = backend.generate(prompt, SamplingParams(temperature=0.0, max_output_tokens=tokens))
    return time.perf_counter() - start, int(done.output_tokens)


def _decode_tps(backend: Any, prompt: Prompt, tokens: int) -> float:
    """Tokens/s after the first, timed inside one streamed run: from the first text delta to
    the end (the random model's printable tokens each make a delta), so no second run's
    noise is subtracted."""
    params = SamplingParams(temperature=0.0, max_output_tokens=tokens)
    first = None
    produced = 0
    for item in backend.stream(prompt, params):
        if first is None:
            first = time.perf_counter()
        produced = int(getattr(item, "output_tokens", produced))
    end = time.perf_counter()
    if first is None or produced < 2 or end <= first:
        return float("nan")
    return (produced - 1) / (end - first)


def one_round(backend: Any, figures: Figures, tokens: int) -> None:
    with peak_rss_growth_mb(figures.working_mb):
        figures.prefill_s.append(_timed(backend, photo_prompt(backend), 1)[0])
        figures.decode_tps.append(_decode_tps(backend, TEXT, tokens))


def load(folder: Path, dtype: str, figures: Figures) -> Any:
    from sightd.engine.transformers.backend import TransformersBackend

    gc.collect()
    before = rss_mb()
    backend = TransformersBackend(folder, dtype=dtype, torch_threads=0)
    # Warm-up: first-call allocations, kernel selection, and the pages of weights that stay
    # memory-mapped from the checkpoint (bfloat16 loads that way) are read in.
    _timed(backend, TEXT, 2)
    gc.collect()
    figures.resident_mb = rss_mb() - before
    return backend


def interleaved(
    pairs: list[tuple[Any, Figures]],
    rounds: int,
    tokens: int,
    before: Callable[[int], None] | None = None,
) -> None:
    """`rounds` rounds over `pairs`, the order flipped every round; `before(i)` runs before
    pair i is measured."""
    for r in range(rounds):
        indices = range(len(pairs)) if r % 2 == 0 else range(len(pairs) - 1, -1, -1)
        for i in indices:
            backend, figures = pairs[i]
            if before is not None:
                before(i)
            one_round(backend, figures, tokens)
            print(
                f"  round {r + 1} {figures.name:>18}: prefill {figures.prefill_s[-1]:6.2f} s, "
                f"decode {figures.decode_tps[-1]:5.2f} tok/s",
                flush=True,
            )


def _spread(values: list[float]) -> str:
    return f"±{(max(values) / min(values) - 1) * 100:3.0f}%" if min(values) > 0 else "n/a"


def report(rows: list[Figures], reference: Figures, label: str = "f32") -> None:
    ref_p = statistics.median(reference.prefill_s)
    ref_d = statistics.median(reference.decode_tps)
    print(
        f"{'variant':>18} | {'prefill s':>9} {'noise':>5} | {'decode tok/s':>12} {'noise':>5} | "
        f"{'resident MB':>11} | {'peak growth MB':>14} | prefill ×{label} | decode ×{label}"
    )
    for row in rows:
        p = statistics.median(row.prefill_s)
        d = statistics.median(row.decode_tps)
        print(
            f"{row.name:>18} | {p:9.2f} {_spread(row.prefill_s):>5} | {d:12.2f} "
            f"{_spread(row.decode_tps):>5} | {row.resident_mb:11.0f} | "
            f"{max(row.working_mb):14.0f} | {p / ref_p:11.2f}× | {d / ref_d:10.2f}×"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a Qwen3-VL folder (default: a tiny one)")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtypes", default="bfloat16,int8")
    args = parser.parse_args()

    import torch

    folder = args.model
    if folder is None:
        from sightd.testing.tiny import build_tiny

        folder = build_tiny(Path(tempfile.mkdtemp()) / "tiny-qwen3-vl", family="qwen3-vl")
    cores = torch.get_num_threads()
    print(
        f"model: {folder}; torch {torch.__version__}, {cores} threads, "
        f"quantized engine {torch.backends.quantized.engine}",
        flush=True,
    )

    f32 = Figures("float32")
    reference = load(folder, "float32", f32)
    rows = [f32]
    last: tuple[Any, Figures] | None = None
    for dtype in args.dtypes.split(","):
        last = None  # free the previous dtype before loading the next: two models at most
        gc.collect()
        figures = Figures(dtype)
        backend = load(folder, dtype, figures)
        print(f"float32 against {dtype} ({backend.info.extras['dtype']}):", flush=True)
        interleaved([(reference, f32), (backend, figures)], args.rounds, args.tokens)
        rows.append(figures)
        last = (backend, figures)
        del backend
    print()
    report(rows, f32)

    # Threads: the fastest decoder, 1 thread against all cores, interleaved.
    best = max(rows, key=lambda row: statistics.median(row.decode_tps))
    model = reference if best is f32 or last is None or last[1] is not best else last[0]
    name = best.name if model is not reference else "float32"
    counts = sorted({1, cores})
    threads = [Figures(f"{name} {n} thread{'s' if n > 1 else ''}") for n in counts]
    print(f"\n{name}: torch threads {counts}, interleaved:", flush=True)
    interleaved(
        [(model, row) for row in threads],
        args.rounds,
        args.tokens,
        before=lambda i: torch.set_num_threads(counts[i]),
    )
    torch.set_num_threads(cores)
    for row in threads:
        row.resident_mb = best.resident_mb if model is not reference else f32.resident_mb
    print()
    report(threads, threads[-1], label=f"{counts[-1]}t")


if __name__ == "__main__":
    main()
