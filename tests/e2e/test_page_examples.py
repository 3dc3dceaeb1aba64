"""The image page's Python examples, run unchanged (but for placeholder paths) as separate
processes against a live sightd, plus the JS SDK doing upload + generateContent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.media_factory import image_bytes

EXAMPLES = Path(__file__).parent / "examples"
JS_DIR = Path(__file__).parent / "js"


def _env(server: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env["GOOGLE_GEMINI_BASE_URL"] = server.url
    env["GEMINI_API_KEY"] = "test-key"
    return env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "small-sample.jpg").write_bytes(image_bytes(320, 240, "JPEG", "blue"))
    (tmp_path / "sample.jpg").write_bytes(image_bytes(1024, 768, "JPEG", "green"))
    (tmp_path / "image1.jpg").write_bytes(image_bytes(640, 480, "JPEG", "red"))
    (tmp_path / "image2.png").write_bytes(image_bytes(640, 480, "PNG", "yellow"))
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("img_*.py")))
def test_python_example(script: str, server: Any, workdir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=workdir,
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() and proc.stdout.strip() != "None"


@pytest.mark.slow
def test_js_sdk_upload_and_generate(server: Any, workdir: Path) -> None:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "@google" / "genai").exists():
        pytest.fail("node and tests/e2e/js/node_modules are required: run `make test`")
    proc = subprocess.run(
        [node, str(JS_DIR / "upload_generate.mjs"), str(workdir / "sample.jpg")],
        cwd=workdir,
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = (json.loads(line) for line in proc.stdout.strip().splitlines())
    assert first["name"].startswith("files/") and isinstance(first["text"], str)
    assert first["usage"]["promptTokensDetails"]
    assert isinstance(second["inline"], str)
