"""Ways media gets into the playground besides the file picker, and what the page sends for it:
an image pasted from the clipboard is uploaded like a dropped one, and each video attachment
carries its own fps and clip (`videoMetadata` per part), over the Settings' defaults."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.media_factory import scene_bytes
from tests.video_factory import make_video
from tests.web.playground import PASTE, open_page, send, upload, wait_until

pytestmark = pytest.mark.slow


def test_pasted_image_is_uploaded_like_a_dropped_one(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    page.fill("#prompt", "What is this?")
    png = scene_bytes(320, 240)
    b64 = base64.b64encode(png).decode()
    # A screenshot's clipboard image has no name: it gets one.
    assert page.evaluate(PASTE, [b64, "", "image/png"]) is True
    item = page.locator("#attachments li").first
    item.locator("xpath=self::*[@data-state='ACTIVE']").wait_for()
    assert item.locator(".att-name").inner_text() == "pasted-1.png"
    assert item.locator("img.thumb").get_attribute("src").startswith("blob:")
    assert page.input_value("#prompt") == "What is this?"  # the image did not become text
    assert page.inner_text("#status") == "Pasted 1 file."
    (listed,) = httpx.get(f"{server.url}/v1beta/files").json()["files"]
    assert listed["displayName"] == "pasted-1.png" and listed["mimeType"] == "image/png"
    assert int(listed["sizeBytes"]) == len(png)
    # A named copied file keeps its name; pasting text is left to the text field.
    assert page.evaluate(PASTE, [b64, "copied.png", "image/png"]) is True
    page.locator("#attachments li").nth(1).locator("xpath=self::*[@data-state='ACTIVE']").wait_for()
    assert page.locator("#attachments .att-name").all_inner_texts() == [
        "pasted-1.png",
        "copied.png",
    ]
    assert page.evaluate(PASTE, ["", "just text", "text/plain"]) is False
    assert page.locator("#attachments li").count() == 2
    with page.expect_request(lambda r: ":streamGenerateContent" in r.url) as sent:
        send(page)
    parts = sent.value.post_data_json["contents"][0]["parts"]
    uris = {
        f["displayName"]: f["uri"] for f in httpx.get(f"{server.url}/v1beta/files").json()["files"]
    }
    assert parts == [
        {"fileData": {"fileUri": uris["pasted-1.png"], "mimeType": "image/png"}},
        {"fileData": {"fileUri": uris["copied.png"], "mimeType": "image/png"}},
        {"text": "What is this?"},
    ]
    page.screenshot(path=str(tmp_path / "pasted.png"))


def _strip_seconds(page: Any) -> list[float]:
    wait_until(page, "document.getElementById('inspect-panel').dataset.ready === '1'")
    return list(
        page.evaluate(
            "() => [...document.querySelectorAll('#strip .frame')]"
            ".map((li) => Number(li.dataset.seconds))"
        )
    )


def test_each_video_has_its_own_fps_and_clip(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    first = make_video(tmp_path / "first.webm", seconds=4.0, fps=10, fmt="webm-vp8")
    second = make_video(tmp_path / "second.webm", seconds=3.0, fps=10, fmt="webm-vp8")
    a = upload(page, "first.webm", first.read_bytes(), "video/webm")
    b = upload(page, "second.webm", second.read_bytes(), "video/webm")
    assert a.locator("fieldset.clip input").count() == 3
    page.click("#settings summary")
    page.fill("#fps", "2")  # the default of both
    # The first video: 1 s to 3 s at the default fps; committing the edit re-inspects it.
    page.evaluate("delete document.getElementById('inspect-panel').dataset.ready")
    page.get_by_label("start s for first.webm").fill("1")
    page.get_by_label("end s for first.webm").fill("3")
    page.get_by_label("end s for first.webm").press("Tab")
    wait_until(page, "document.getElementById('inspect-status').textContent.startsWith('first')")
    assert _strip_seconds(page) == pytest.approx([1.0, 1.5, 2.0, 2.5], abs=0.06)
    # The second: its own fps, the whole clip.
    b.get_by_label("fps for second.webm").fill("1")
    page.fill("#prompt", "What differs?")
    wait_until(page, "document.getElementById('token-count').dataset.tokens")
    with page.expect_request(lambda r: ":streamGenerateContent" in r.url) as sent:
        _, events = send(page)
    parts = sent.value.post_data_json["contents"][0]["parts"]
    uris = {
        f["displayName"]: f["uri"] for f in httpx.get(f"{server.url}/v1beta/files").json()["files"]
    }
    assert parts == [
        {
            "fileData": {"fileUri": uris["first.webm"], "mimeType": "video/webm"},
            "videoMetadata": {"fps": 2, "startOffset": "1s", "endOffset": "3s"},
        },
        {
            "fileData": {"fileUri": uris["second.webm"], "mimeType": "video/webm"},
            "videoMetadata": {"fps": 1},
        },
        {"text": "What differs?"},
    ]
    counted = int(page.get_attribute("#token-count", "data-tokens") or 0)
    assert events[-1]["usageMetadata"]["promptTokenCount"] == counted  # the server agrees
    assert page.inner_text("#status").startswith("Done")
    # Emptying a field falls back to the Settings again.
    b.get_by_label("fps for second.webm").fill("")
    page.fill("#fps", "")
    with page.expect_request(lambda r: ":streamGenerateContent" in r.url) as sent:
        send(page)
    parts = sent.value.post_data_json["contents"][0]["parts"]
    assert parts[0]["videoMetadata"] == {"startOffset": "1s", "endOffset": "3s"}
    assert "videoMetadata" not in parts[1]
    page.screenshot(path=str(tmp_path / "per-video.png"), full_page=True)
