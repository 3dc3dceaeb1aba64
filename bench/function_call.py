"""What the call grammar costs: a function call decoded under it against free text, per token.

Loads a Qwen3-VL model in-process (a tiny random one by default; `--model DIR` for a folder,
e.g. the full-size random Qwen3-VL-2B of ../shared/notes/engine-cost.md) and asks the same
question with two declared functions, greedy:

- constrained: the answer decoded under the call grammar (`toolConfig` ANY): xgrammar masks
  every step and, within the last 256 tokens of the budget, the closing policy measures the
  way out — with a small `--tokens` budget that is every step, the worst case;
- free: the same prompt and tools, no constraint, the same number of tokens.

Printed: the time spent inside the grammar's logits processor against the decoding time of
the same run (timed in-process, so other load on the machine cancels out), and end to end the
per-token time of each mode with a 1-token run (prefill) subtracted. Goal: the grammar costs
< 10 % of decoding time on a real-size model; on the tiny model decoding is so cheap that the
mask's fixed cost shows at its largest.

    .venv/bin/python bench/function_call.py [--model DIR] [--tokens 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sightd.engine.base import SamplingParams  # noqa: E402
from sightd.prompt import FunctionDecl, Prompt, TextPart, Turn  # noqa: E402
from sightd.services.tools import grammar_for  # noqa: E402

DECLS = (
    FunctionDecl(
        "get_weather",
        "Current weather in a city.",
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "unit"],
            }
        ),
    ),
    FunctionDecl(
        "search_photos",
        "Find photos by description.",
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["query"],
            }
        ),
    ),
)


class _GrammarClock:
    """Accumulates the seconds spent in `ConstrainedDecoding.__call__` (mask, closing)."""

    def __init__(self) -> None:
        from sightd.engine.transformers.grammar import ConstrainedDecoding

        self.seconds = 0.0
        original = ConstrainedDecoding.__call__

        def timed(processor: Any, input_ids: Any, scores: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(processor, input_ids, scores)
            finally:
                self.seconds += time.perf_counter() - start

        ConstrainedDecoding.__call__ = timed  # type: ignore[method-assign]


def _timed(backend: object, prompt: Prompt, params: SamplingParams) -> tuple[float, int]:
    start = time.perf_counter()
    done = backend.generate(prompt, params)  # type: ignore[attr-defined]
    return time.perf_counter() - start, int(done.output_tokens)


def per_token_s(
    backend: object,
    prompt: Prompt,
    params: SamplingParams,
    tokens: int,
    rounds: int,
    clock: _GrammarClock,
) -> tuple[float, int, float, float]:
    """Median decoding seconds per token beyond the first, the tokens produced, and over the
    N-token runs: decoding seconds (prefill subtracted) and seconds inside the grammar."""
    first = statistics.median(
        _timed(backend, prompt, SamplingParams(**{**params.__dict__, "max_output_tokens": 1}))[0]
        for _ in range(rounds)
    )
    clock.seconds = 0.0
    runs = [
        _timed(backend, prompt, SamplingParams(**{**params.__dict__, "max_output_tokens": tokens}))
        for _ in range(rounds)
    ]
    produced = min(n for _, n in runs)
    whole = statistics.median(t for t, _ in runs)
    decoding = sum(t for t, _ in runs) - first * rounds
    return (whole - first) / max(1, produced - 1), produced, decoding, clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a Qwen3-VL folder (default: a tiny one)")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    from sightd.engine.transformers.backend import TransformersBackend

    folder = args.model
    if folder is None:
        from sightd.testing.tiny import build_tiny

        folder = build_tiny(Path(tempfile.mkdtemp()) / "tiny-qwen3-vl", family="qwen3-vl")
    backend = TransformersBackend(folder, torch_threads=args.threads)
    prompt = Prompt(
        (Turn("user", (TextPart("What is the weather like in Reykjavik this week?"),)),),
        tools=DECLS,
    )
    greedy = SamplingParams(temperature=0.0)
    constrained = SamplingParams(temperature=0.0, constraint=grammar_for(DECLS))
    backend.generate(prompt, SamplingParams(**{**constrained.__dict__, "max_output_tokens": 2}))

    clock = _GrammarClock()
    free_s, free_n, _, _ = per_token_s(backend, prompt, greedy, args.tokens, args.rounds, clock)
    call_s, call_n, decoding, grammar = per_token_s(
        backend, prompt, constrained, args.tokens, args.rounds, clock
    )
    print(f"model: {backend.info.id} ({backend.info.extras.get('dtype')})")
    print(f"free text:     {free_s * 1000:8.2f} ms/token over {free_n} tokens (end to end)")
    print(f"call grammar:  {call_s * 1000:8.2f} ms/token over {call_n} tokens (end to end)")
    print(
        f"grammar time:  {grammar:.3f} s inside the grammar of {decoding:.3f} s decoding the "
        f"calls: {grammar / max(1e-9, decoding - grammar):.1%} of the model's decoding time "
        "(goal < 10 %)"
    )


if __name__ == "__main__":
    main()
