"""`bench/load.py --quick`, turned down to a few clients for a few seconds: it runs end to end
against a real `sightd serve`, prints every figure, and sees no error other than a well-formed
429/503. Its speed goals (files.list p99, RSS growth) are printed by the bench, never asserted
here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_load_bench_quick_run_prints_its_figures_with_no_errors() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--quick",
            "--seconds",
            "6",
            "--clients",
            "2",
            "--uploads",
            "1",
            "--upload-mb",
            "9",
            "--probe-ms",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    out = run.stdout + run.stderr
    assert "errors other than well-formed 429/503: 0\n" in out, out
    for heading in (
        "requests by route and status:",
        "files.list latency",
        "generateContent:",
        "uploads:",
        "server RSS",
        "RESULT:",
    ):
        assert heading in out, out
    for route in ("files.list", "generateContent", "upload.start", "upload.finalize"):
        assert re.search(rf"^\s+{re.escape(route)}\s+200\s+\d+$", out, re.M), out
    assert re.search(r"PASS generateContent answered: [1-9]", out), out
    assert re.search(r"PASS uploads finished: [1-9]", out), out
    assert re.search(r"p99 +\d+\.\d", out), out
    assert re.search(r"peak \d+ MB", out), out
