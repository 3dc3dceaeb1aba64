"""Every video example of both pages (generateContent and Interactions; Python, JS and REST),
unchanged but for placeholder paths, against a live sightd — once with an H.264 MP4 and once
with a WebM. The YouTube examples must fail fast and cleanly offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.video_factory import make_video

EXAMPLES = Path(__file__).parent / "examples"
JS_DIR = Path(__file__).parent / "js"
PLACEHOLDERS = ("small-sample.mp4", "sample.mp4", "video.mp4")  # longest first
VARIANTS = {"h264": ("mp4", ".mp4"), "webm": ("webm-vp9", ".webm")}


def _env(server: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=server.url, GEMINI_API_KEY="test-key", BASE=server.url)
    return env


def _prepare(script: Path, workdir: Path, variant: str) -> Path:
    """Copy `script` into `workdir` with its placeholder video paths pointing at our file."""
    fmt, suffix = VARIANTS[variant]
    text = script.read_text()
    for name in PLACEHOLDERS:
        local = name.replace(".mp4", suffix)
        if name in text and not (workdir / local).exists():
            make_video(workdir / local, 3, 10, (160, 120), fmt, with_audio=True)
        text = text.replace(name, local)
    out = workdir / script.name
    out.write_text(text)
    return out


def _run(cmd: list[str], workdir: Path, server: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=workdir, env=_env(server), capture_output=True, text=True, timeout=180
    )


WORKING = sorted(p.name for p in EXAMPLES.glob("vid_*") if "youtube" not in p.name)
JS = ["vid_ia_upload.mjs", "vid_ia_inline.mjs"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("script", WORKING)
def test_video_example(script: str, variant: str, server: Any, tmp_path: Path) -> None:
    local = _prepare(EXAMPLES / script, tmp_path, variant)
    cmd = ["bash", str(local)] if script.endswith(".sh") else [sys.executable, str(local)]
    proc = _run(cmd, tmp_path, server)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "null" not in proc.stdout.split("\n")[-2:], proc.stdout[-2000:]
    if "print(" in local.read_text() or script.endswith(".sh"):
        assert proc.stdout.strip() and proc.stdout.strip() != "None"


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("script", JS)
def test_js_video_example(script: str, variant: str, server: Any, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "@google" / "genai").exists():
        pytest.fail("node and tests/e2e/js/node_modules are required: run `make test`")
    local = _prepare(JS_DIR / script, tmp_path, variant)
    (tmp_path / "node_modules").symlink_to(JS_DIR / "node_modules")
    proc = _run([node, str(local)], tmp_path, server)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip()


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("vid_*youtube*")))
def test_youtube_examples_fail_fast_and_cleanly(script: str, server: Any, tmp_path: Path) -> None:
    start = time.monotonic()
    proc = _run([sys.executable, str(EXAMPLES / script)], tmp_path, server)
    assert time.monotonic() - start < 60
    assert proc.returncode != 0
    # Offline (the test network guard), the server answers 503 UNAVAILABLE naming YouTube.
    assert "503" in proc.stderr and "YouTube" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" in proc.stderr  # a clean client-side exception, not a hang or a crash
