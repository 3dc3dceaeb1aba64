"""The image page's Python examples, run unchanged (but for placeholder paths) as separate
processes against a live sightd, plus the JS SDK doing upload + generateContent.

The spatial examples run against both grounding paths: the tiny Qwen3-VL's native grounding
(random weights: any number of boxes, possibly none) and the tiny OWLv2 detector, whose
best-guess policy always yields boxes for the clear synthetic scene, so the segmentation
example must write its mask and overlay files.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.media_factory import image_bytes, scene_bytes

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
    (tmp_path / "image.png").write_bytes(scene_bytes(640, 480))
    return tmp_path


SPATIAL = ("img_05_detection.py", "img_06_segmentation.py")
# Every example once as a user runs it (segmentation on the detector path, whose best-guess
# policy guarantees items), then the spatial ones on the other path too.
RUNS = [
    (name, "detector" if name == SPATIAL[1] else "auto")
    for name in sorted(p.name for p in EXAMPLES.glob("img_*.py"))
] + [(SPATIAL[0], "detector"), (SPATIAL[1], "auto")]


def _run(script: str, server: Any, workdir: Path, need_output: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=workdir,
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    if need_output:
        assert proc.stdout.strip() and proc.stdout.strip() != "None"
    return proc.stdout


def _check_detection(stdout: str, need_boxes: bool) -> None:
    size = re.search(r"Image size:\s+(\d+) (\d+)", stdout)
    boxes = re.search(r"Bounding boxes: (\[.*\])", stdout)
    assert size and boxes, stdout
    width, height = int(size.group(1)), int(size.group(2))
    assert (width, height) == (640, 480)
    found = json.loads(boxes.group(1))
    assert found or not need_boxes
    for x0, y0, x1, y1 in found:
        # The page's code truncates to whole pixels: a box a thousandth wide may become 0 px.
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height


def _check_segmentation(stdout: str, workdir: Path, need_items: bool) -> None:
    from PIL import Image

    out = workdir / "segmentation_outputs"
    saved = re.findall(r"Saved mask and overlay for (.+) to segmentation_outputs", stdout)
    assert saved or not need_items, stdout
    masks, overlays = sorted(out.glob("*_mask.png")), sorted(out.glob("*_overlay.png"))
    assert len(masks) == len(overlays) == len(saved)
    for label in saved:
        assert "/" not in label and list(out.glob(f"{glob.escape(label)}_*_mask.png"))
    for overlay in overlays:
        with Image.open(overlay) as image:
            assert image.size == (640, 480)


@pytest.mark.slow
@pytest.mark.parametrize(("script", "grounding"), RUNS)
def test_python_example(script: str, grounding: str, make_server: Any, workdir: Path) -> None:
    native_segmentation = script == SPATIAL[1] and grounding == "auto"  # may find nothing
    stdout = _run(script, make_server(grounding=grounding), workdir, not native_segmentation)
    if script == "img_05_detection.py":
        _check_detection(stdout, need_boxes=grounding == "detector")
    elif script == "img_06_segmentation.py":
        _check_segmentation(stdout, workdir, need_items=grounding == "detector")


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
    assert first["usage"]["sightdModelPromptTokenCount"] > 0  # the JS SDK keeps the extension
    assert isinstance(second["inline"], str)
