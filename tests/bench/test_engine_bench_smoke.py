"""`bench/engine.py --tiny --quick`: every section runs end to end on a tiny random Qwen3-VL
and prints its figures. Timings and their goals are the bench's to print, never asserted here
(a tiny model on a shared CPU says nothing about them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_engine_bench_tiny_quick_prints_every_section() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--tiny", "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    for heading in ("== ttft:", "== raw:", "== concurrent:", "== video:"):
        assert heading in out, out
    for level in ("LOW", "MEDIUM", "HIGH"):
        assert re.search(rf"^\s+{level}\s+\d+×\d+ px, \d+ model tokens:", out, re.M), out
    assert re.search(r"MP photo at default: TTFT [\d.]+ s \(goal < 15 s\) (PASS|FAIL)", out)
    assert re.search(r"sightd ÷ raw transformers: [\d.]+ ", out), out
    assert re.search(r"4 × +\d+ tokens: serial .* wall ÷ serial [\d.]+", out), out
    assert re.search(r"20 s native: +\d+ visual tokens", out), out
    assert re.search(r"20 s images: +\d+ visual tokens", out), out
    assert re.search(r"20-s video native ÷ frames-as-images: visual tokens [\d.]+", out), out
    assert re.search(r"peak RSS: ru_maxrss [\d,]+ MB, VmHWM [\d,]+ MB", out), out


def test_engine_bench_refuses_an_unknown_section() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--tiny", "--only", "ttft,nope"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert run.returncode == 2 and "unknown sections ['nope']" in run.stderr
