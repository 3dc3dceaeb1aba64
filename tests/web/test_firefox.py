"""The playground in Debian's Firefox ESR, driven over WebDriver BiDi (`firefox.py`), against a
live sightd with the tiny model: a representative subset of the Chromium tests (load, upload
through the file picker, detection boxes where `box_2d` says within 1 px, a JSON answer shown
formatted, untrusted text shown as text, a pasted image, a file deleted, a video's frame strip
with its own clip and a seek). Each test saves screenshots in its tmp_path; a CSP violation or
an uncaught error fails it (`ff_page`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.media_factory import image_bytes, scene_bytes
from tests.video_factory import make_video
from tests.web.playground import (
    PASTE,
    assert_boxes_match,
    drawn_overlay,
    open_page,
    sse,
    text_event,
    wait_until,
)

pytestmark = pytest.mark.slow

DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be "
    "[ymin, xmin, ymax, xmax] normalized to 0-1000."
)
XSS = '<img src=x onerror="window.__pwned=1">'


def _upload(page: Any, folder: Path, name: str, data: bytes, state: str = "ACTIVE") -> int:
    """Pick a file through the file input; wait for its attachment to reach `state`."""
    before = page.evaluate("document.querySelectorAll('#attachments li').length")
    path = folder / "picked" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    page.set_input_files("#file-input", [path])
    wait_until(
        page,
        f"document.querySelectorAll('#attachments li')[{before}]?.dataset.state === '{state}'",
    )
    return int(before)


def _send(page: Any) -> str:
    """Click Send and return the answer's text once the page has rendered it."""
    page.evaluate("delete document.getElementById('answer').dataset.done")
    page.click("#send")
    wait_until(page, "document.getElementById('answer').dataset.done === '1'")
    return str(
        page.evaluate(
            "document.getElementById('raw-text').textContent"
            " || document.getElementById('answer').textContent"
        )
    )


def _no_injection(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert page.evaluate("[...document.images].every((i) => i.getAttribute('src') !== 'x')")


def test_detection_boxes_match_box_2d(
    make_server: Callable[..., Any], ff_page: Any, tmp_path: Path
) -> None:
    server = make_server(grounding="detector")
    open_page(ff_page, server.url + "/")
    assert "Firefox" in ff_page.evaluate("navigator.userAgent")
    _upload(ff_page, tmp_path, "scene.png", scene_bytes(640, 480))
    ff_page.fill("#prompt", DETECT)
    items = json.loads(_send(ff_page))
    assert items, "the tiny detector finds something in the scene"
    drawn = drawn_overlay(ff_page)
    assert drawn["natural"] == [640, 480]
    assert_boxes_match(drawn, items)
    assert drawn["legend"] == [i["label"] for i in items]
    ff_page.hover("#legend li:nth-child(1) button")
    assert ff_page.evaluate("document.querySelector('#overlay g.det.hl')?.dataset.index") == "0"
    ff_page.screenshot(tmp_path / "detection.png")


def test_json_answer_is_formatted(
    make_server: Callable[..., Any], ff_page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(ff_page, server.url + "/")
    ff_page.type("#prompt", "Describe a cat.")  # typed key by key
    assert ff_page.evaluate("document.getElementById('prompt').value") == "Describe a cat."
    ff_page.click("#settings summary")
    ff_page.fill("#response-type", "application/json")
    schema = {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "legs": {"type": "INTEGER"}},
        "required": ["name", "legs"],
    }
    ff_page.fill("#schema", "{not json")
    assert "not valid JSON" in ff_page.evaluate(
        "document.getElementById('schema-error').textContent"
    )
    ff_page.fill("#schema", json.dumps(schema))
    value = json.loads(_send(ff_page))
    shown = ff_page.evaluate("document.getElementById('answer').textContent")
    assert set(value) == {"name", "legs"}
    assert shown == json.dumps(value, indent=2, ensure_ascii=False)  # formatted, 2 spaces
    assert ff_page.evaluate("document.getElementById('answer').dataset.kind") == "json"
    assert ff_page.evaluate("document.getElementById('usage').textContent").startswith("Usage:")
    ff_page.screenshot(tmp_path / "json.png")


def test_untrusted_text_is_shown_as_text(
    make_server: Callable[..., Any], ff_page: Any, tmp_path: Path
) -> None:
    server = make_server(grounding="detector")
    open_page(ff_page, server.url + "/")
    index = _upload(ff_page, tmp_path, f"{XSS}.png", scene_bytes(640, 480))
    name = ff_page.evaluate(
        f"document.querySelectorAll('#attachments .att-name')[{index}].textContent"
    )
    assert name == f"{XSS}.png"
    wait_until(ff_page, "document.querySelector('#files .display-name')")
    assert ff_page.evaluate("document.querySelector('#files .display-name').textContent") == name
    # A label, for real: the detector labels its boxes with the prompt's words.
    ff_page.fill("#prompt", f"Show bounding boxes of all {XSS} in this image")
    labels = {i["label"] for i in json.loads(_send(ff_page))}
    assert any("<img" in label for label in labels), labels
    drawn = drawn_overlay(ff_page)
    assert {b["label"] for b in drawn["boxes"]} == labels == set(drawn["legend"])
    _no_injection(ff_page)
    ff_page.screenshot(tmp_path / "label.png")
    # A model answer and a label as a model might write them, played back in place of the
    # server's (the tiny model writes gibberish).
    stream = r":streamGenerateContent"
    ff_page.route(stream, sse(text_event(XSS, "STOP")))
    assert _send(ff_page) == XSS
    assert ff_page.evaluate("document.getElementById('answer').dataset.kind") == "text"
    _no_injection(ff_page)
    spatial = json.dumps([{"box_2d": [100, 100, 500, 500], "label": XSS}])
    ff_page.route(stream, sse(text_event(spatial, "STOP")))
    _send(ff_page)
    drawn = drawn_overlay(ff_page)
    assert [b["label"] for b in drawn["boxes"]] == [XSS] == drawn["legend"]
    _no_injection(ff_page)
    ff_page.unroute()


def test_pasted_image_is_uploaded(
    make_server: Callable[..., Any], ff_page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(ff_page, server.url + "/")
    b64 = base64.b64encode(image_bytes(64, 48, fmt="PNG")).decode()
    assert ff_page.evaluate(PASTE, [b64, "", "image/png"]) is True
    wait_until(ff_page, "document.querySelector('#attachments li')?.dataset.state === 'ACTIVE'")
    assert ff_page.evaluate("document.querySelector('.att-name').textContent") == "pasted-1.png"
    assert ff_page.evaluate(PASTE, ["", "plain text", "text/plain"]) is False
    (listed,) = httpx.get(f"{server.url}/v1beta/files").json()["files"]
    assert listed["displayName"] == "pasted-1.png"
    ff_page.screenshot(tmp_path / "pasted.png")


def test_delete_a_file(make_server: Callable[..., Any], ff_page: Any, tmp_path: Path) -> None:
    server = make_server()
    open_page(ff_page, server.url + "/")
    _upload(ff_page, tmp_path, "red.jpg", image_bytes(320, 240))
    _upload(ff_page, tmp_path, "blue.png", image_bytes(320, 240, fmt="PNG", color="blue"))
    wait_until(ff_page, "document.querySelectorAll('#files tbody tr').length === 2")
    button = "#files button[aria-label='Delete red.jpg']"
    ff_page.click(button)
    assert ff_page.evaluate(f'document.querySelector("{button}").textContent') == "Confirm delete"
    ff_page.screenshot(tmp_path / "confirm-delete.png")
    ff_page.click(button)
    wait_until(ff_page, "document.querySelectorAll('#files tbody tr').length === 1")
    left = httpx.get(f"{server.url}/v1beta/files").json()["files"]
    assert [f["displayName"] for f in left] == ["blue.png"]
    status = ff_page.evaluate("document.getElementById('files-status').textContent")
    assert status == "Deleted red.jpg."


def test_video_strip_and_seek(
    make_server: Callable[..., Any], ff_page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(ff_page, server.url + "/")
    video = make_video(tmp_path / "clip.webm", seconds=4.0, fps=10, size=(160, 120), fmt="webm-vp8")
    _upload(ff_page, tmp_path, "clip.webm", video.read_bytes())
    wait_until(ff_page, "document.getElementById('inspect-panel').dataset.ready === '1'")
    labels = ff_page.evaluate(
        "[...document.querySelectorAll('#strip .frame button.seek')].map((b) => b.textContent)"
    )
    assert labels == ["00:00", "00:01", "00:02", "00:03"]
    # This video's own clip (its fields in the attachment), inspected once the edit is made.
    ff_page.evaluate("delete document.getElementById('inspect-panel').dataset.ready")
    ff_page.type("input[aria-label='start s for clip.webm']", "2")
    ff_page.click("#prompt")  # leaving the field commits the edit
    wait_until(ff_page, "document.getElementById('inspect-panel').dataset.ready === '1'")
    seconds = ff_page.evaluate(
        "[...document.querySelectorAll('#strip .frame')].map((li) => Number(li.dataset.seconds))"
    )
    assert [round(s) for s in seconds] == [2, 3]
    wait_until(ff_page, "document.getElementById('inspect-video').readyState >= 1")
    ff_page.click("#strip .frame:last-child button.seek")
    wait_until(
        ff_page,
        f"Math.abs(document.getElementById('inspect-video').currentTime - {seconds[-1]}) < 0.01",
    )
    ff_page.screenshot(tmp_path / "video.png", full_page=True)
