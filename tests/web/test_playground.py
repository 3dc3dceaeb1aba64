"""The playground in Debian's headless Chromium against a live sightd with the tiny model (and
the tiny OWLv2 detector and SAM 2.1 segmenter): resumable uploads with progress, boxes drawn
where `box_2d` says (EXIF-rotated photos included), masks over their boxes, JSON and enum
answers, deleting files, API keys, untrusted text, a phone-width window.

Answers are read off the wire (the SSE body the page received) and compared with what the page
drew; a random model's words are never asserted. Each test saves screenshots in its tmp_path.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from sightd.grounding.boxes import to_pixels
from sightd.grounding.detections import Box1000
from tests.media_factory import image_bytes, scene_bytes
from tests.media_server import Route, media_server
from tests.video_factory import make_video
from tests.web.playground import (
    RECORD_UPLOADS,
    assert_boxes_match,
    drawn_overlay,
    open_page,
    send,
    sse,
    text_event,
    upload,
    wait_until,
)

pytestmark = pytest.mark.slow

DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be "
    "[ymin, xmin, ymax, xmax] normalized to 0-1000."
)
SEGMENT = "Give the segmentation masks for the wooden and glass items. Use descriptive labels."
XSS = '<img src=x onerror="window.__pwned=1">'


def _noise_png(side: int) -> bytes:
    """A PNG that does not compress: side² × 3 bytes and a little more."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
        buf, format="PNG", compress_level=0
    )
    return buf.getvalue()


def _exif_rotated_jpeg() -> bytes:
    """The scene stored as 640×480 pixels with EXIF orientation 6: shown as 480×640."""
    stored = Image.open(io.BytesIO(scene_bytes(480, 640))).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def _prompt(page: Any, text: str) -> None:
    page.fill("#prompt", text)


def test_upload_shows_progress_and_state(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    page.evaluate(RECORD_UPLOADS)
    big = _noise_png(1700)  # > 8 MiB: two chunks of the resumable protocol
    assert len(big) > 8 * 1024 * 1024
    item = upload(page, "noise.png", big, "image/png")
    progress = page.evaluate("window.__progress")
    states = [*page.evaluate("window.__seen"), item.get_attribute("data-state")]
    assert progress[-1] == [len(big), len(big)]
    assert any(0 < sent < len(big) for sent, _ in progress), progress  # seen part-way
    assert [sent for sent, _ in progress] == sorted(sent for sent, _ in progress)
    assert states[0] == "UPLOADING" and states[-1] == "ACTIVE", states
    row = page.locator("#files tbody tr").first
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert "noise.png" in cells[0] and cells[1] == "image/png"
    assert cells[2] == f"{len(big) / 1024 / 1024:.1f} MB" and cells[3] == "ACTIVE"
    assert re.fullmatch(r"in 4[78] h", cells[4])
    wait_until(page, "Number(document.getElementById('token-count').dataset.tokens) > 0")
    page.screenshot(path=str(tmp_path / "uploaded.png"))


@pytest.mark.parametrize(
    ("name", "data", "mime", "shown"),
    [
        ("scene.png", scene_bytes(640, 480), "image/png", (640, 480)),
        ("rotated.jpg", _exif_rotated_jpeg(), "image/jpeg", (480, 640)),
    ],
)
def test_detection_boxes_match_box_2d(
    make_server: Callable[..., Any],
    page: Any,
    tmp_path: Path,
    name: str,
    data: bytes,
    mime: str,
    shown: tuple[int, int],
) -> None:
    server = make_server(grounding="detector")
    open_page(page, server.url + "/")
    upload(page, name, data, mime)
    _prompt(page, DETECT)
    text, _ = send(page)
    items = json.loads(text)
    assert items, "the tiny detector finds something in the scene"
    drawn = drawn_overlay(page)
    assert drawn["natural"] == list(shown)  # EXIF orientation applied, as the server does
    assert_boxes_match(drawn, items)
    assert drawn["legend"] == [i["label"] for i in items]
    assert page.locator("#opacity-row").is_hidden()  # no masks, no slider
    # Hovering (or focusing) a label highlights its box and dims the others.
    page.hover("#legend li:nth-child(1) button")
    assert page.locator("#overlay g.det.hl").count() == 1
    assert page.get_attribute("#overlay g.det.hl", "data-index") == "0"
    assert "has-hl" in (page.get_attribute("#overlay", "class") or "")
    page.screenshot(path=str(tmp_path / f"detection-{name}.png"))
    page.mouse.move(0, 0)
    assert page.locator("#overlay g.det.hl").count() == 0
    page.focus(f"#legend li:nth-child({len(items)}) button")
    assert page.get_attribute("#overlay g.det.hl", "data-index") == str(len(items) - 1)
    assert page.locator("#answer").get_attribute("data-kind") == "spatial"


def test_segmentation_masks_lie_over_their_boxes(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server(grounding="detector", max_detections=4)
    open_page(page, server.url + "/")
    upload(page, "scene.png", scene_bytes(640, 480), "image/png")
    _prompt(page, SEGMENT)
    text, _ = send(page)
    items = json.loads(text)
    assert items and all(i["mask"].startswith("data:image/png;base64,") for i in items)
    drawn = drawn_overlay(page)
    assert_boxes_match(drawn, items)
    boxes = {b["index"]: b for b in drawn["boxes"]}
    assert sorted(m["index"] for m in drawn["masks"]) == list(range(len(items)))
    for mask in drawn["masks"]:
        box = boxes[mask["index"]]
        assert mask["xywh"] == box["xywh"]
        png = Image.open(io.BytesIO(base64.b64decode(mask["href"].split(",", 1)[1])))
        assert png.size == (box["xywh"][2], box["xywh"][3])
        rgba = np.asarray(png.convert("RGBA"))
        on = rgba[..., 3] > 0
        colour = tuple(int(box["stroke"][i : i + 2], 16) for i in (1, 3, 5))
        assert (rgba[on][:, :3] == colour).all()  # painted in its label's colour
    stroke_by_label: dict[str, set[str]] = {}
    for box in drawn["boxes"]:
        stroke_by_label.setdefault(box["label"], set()).add(box["stroke"])
    assert all(len(s) == 1 for s in stroke_by_label.values())
    strokes = [next(iter(s)) for s in stroke_by_label.values()]
    assert len(set(strokes)) == len(strokes)  # one colour per label
    assert drawn["opacity"] == "0.5" and page.locator("#opacity-row").is_visible()
    page.fill("#opacity", "0.8")
    page.dispatch_event("#opacity", "input")
    assert page.get_attribute("#overlay g.masks", "opacity") == "0.8"
    # The answer's JSON is shown formatted, long mask data URLs shortened.
    shown = page.inner_text("#answer")
    assert '"box_2d": [' in shown and "chars)" in shown
    page.screenshot(path=str(tmp_path / "segmentation.png"))


def test_json_mode_answer_is_formatted(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    _prompt(page, "Describe a cat.")
    page.click("#settings summary")
    page.select_option("#response-type", "application/json")
    schema = {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "legs": {"type": "INTEGER"}},
        "required": ["name", "legs"],
        "propertyOrdering": ["name", "legs"],
    }
    page.fill("#schema", "{not json")
    assert "not valid JSON" in page.inner_text("#schema-error")
    page.fill("#schema", json.dumps(schema))
    assert page.inner_text("#schema-error") == ""
    page.fill("#temperature", "0.7")
    page.fill("#max-tokens", "60")
    wait_until(page, "document.getElementById('token-count').dataset.tokens")
    counted = int(page.get_attribute("#token-count", "data-tokens") or 0)
    with page.expect_request(lambda r: ":streamGenerateContent" in r.url) as sent:
        text, events = send(page)
    request = sent.value.post_data_json
    assert request["generationConfig"] == {
        "temperature": 0.7,
        "maxOutputTokens": 60,
        "responseMimeType": "application/json",
        "responseSchema": schema,
    }
    value = json.loads(text)
    shown = page.inner_text("#answer")
    assert json.loads(shown) == value and set(value) == {"name", "legs"}
    assert shown == json.dumps(value, indent=2, ensure_ascii=False)  # formatted, 2 spaces
    assert page.get_attribute("#answer", "data-kind") == "json"
    usage = events[-1]["usageMetadata"]
    assert usage["promptTokenCount"] == counted  # countTokens before = usage after
    assert page.inner_text("#usage") == (
        f"Usage: prompt {usage['promptTokenCount']} + answer {usage['candidatesTokenCount']}"
        f" = {usage['totalTokenCount']} tokens"
    )
    page.screenshot(path=str(tmp_path / "json.png"))
    # text/x.enum: the schema editor offers an enum and the answer is one of its values.
    page.select_option("#response-type", "text/x.enum")
    page.fill("#schema", json.dumps({"type": "STRING", "enum": ["cat", "dog"]}))
    text, _ = send(page)
    assert text in ("cat", "dog") and page.inner_text("#answer") == text


def test_delete_a_file(make_server: Callable[..., Any], page: Any, tmp_path: Path) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    upload(page, "red.jpg", image_bytes(320, 240), "image/jpeg")
    upload(page, "blue.png", image_bytes(320, 240, fmt="PNG", color="blue"), "image/png")
    rows = page.locator("#files tbody tr")
    wait_until(page, "document.querySelectorAll('#files tbody tr').length === 2")
    names = httpx.get(f"{server.url}/v1beta/files").json()["files"]
    red = next(f["name"] for f in names if f["displayName"] == "red.jpg")
    button = page.get_by_role("button", name="Delete red.jpg")
    button.click()
    assert button.inner_text() == "Confirm delete"  # one click arms, the second deletes
    page.screenshot(path=str(tmp_path / "confirm-delete.png"))
    button.click()
    wait_until(page, "document.querySelectorAll('#files tbody tr').length === 1")
    assert "blue.png" in rows.first.inner_text()
    left = httpx.get(f"{server.url}/v1beta/files").json()["files"]
    assert [f["displayName"] for f in left] == ["blue.png"]
    assert httpx.get(f"{server.url}/v1beta/{red}").status_code == 404
    assert page.inner_text("#files-status") == "Deleted red.jpg."
    # A listed file can be attached again (its preview kept from this tab's upload).
    page.get_by_role("button", name="Attach blue.png").click()
    attached = page.locator("#attachments li").last
    assert attached.get_attribute("data-state") == "ACTIVE"
    assert attached.locator("img.thumb").get_attribute("src").startswith("blob:")


def _no_injection(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[onerror], [onerror]").count() == 0
    assert page.evaluate("[...document.images].every((i) => i.getAttribute('src') !== 'x')")


def test_untrusted_text_is_shown_as_text(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server(grounding="detector")
    open_page(page, server.url + "/")
    # A file name: in the attachment list and the Files table.
    item = upload(page, f"{XSS}.png", scene_bytes(640, 480), "image/png")
    assert item.locator(".att-name").inner_text() == f"{XSS}.png"
    page.locator("#files tbody tr").first.wait_for()
    assert page.locator("#files .display-name").first.inner_text() == f"{XSS}.png"
    # A label, for real: the detector labels its boxes with the prompt's words.
    _prompt(page, f"Show bounding boxes of all {XSS} in this image")
    text, _ = send(page)
    labels = {i["label"] for i in json.loads(text)}
    assert any("<img" in label for label in labels), labels
    drawn = drawn_overlay(page)
    assert {b["label"] for b in drawn["boxes"]} == labels == set(drawn["legend"])
    _no_injection(page)
    page.screenshot(path=str(tmp_path / "label.png"))

    # A model answer and a label as a model might write them (the tiny model writes gibberish,
    # so these answers are played back by the browser in place of the server's).
    def answer(body: str) -> Callable[[Any], None]:
        return lambda route: route.fulfill(
            status=200, headers={"content-type": "text/event-stream"}, body=body
        )

    page.route(re.compile(r".*:streamGenerateContent.*"), answer(sse(text_event(XSS, "STOP"))))
    assert send(page)[0] == XSS
    assert page.inner_text("#answer") == XSS
    assert page.get_attribute("#answer", "data-kind") == "text"
    _no_injection(page)
    page.unroute(re.compile(r".*:streamGenerateContent.*"))
    spatial = json.dumps(
        [
            {"box_2d": [100, 100, 500, 500], "label": XSS},
            {"box_2d": [1, 2], "label": "dropped: not a box"},
        ]
    )
    page.route(re.compile(r".*:streamGenerateContent.*"), answer(sse(text_event(spatial, "STOP"))))
    send(page)
    drawn = drawn_overlay(page)
    assert [b["label"] for b in drawn["boxes"]] == [XSS] == drawn["legend"]
    _no_injection(page)
    # Invalid or partial JSON is shown as text; the page keeps working.
    partial = '[{"box_2d": [100, 100, 5'
    page.unroute(re.compile(r".*:streamGenerateContent.*"))
    page.route(
        re.compile(r".*:streamGenerateContent.*"), answer(sse(text_event(partial, "MAX_TOKENS")))
    )
    send(page)
    assert page.inner_text("#answer") == partial
    assert page.get_attribute("#answer", "data-kind") == "text"
    assert page.locator("#viewer").is_hidden()
    # An error mid-stream is reported as text too.
    error = {"error": {"code": 500, "message": XSS, "status": "INTERNAL"}}
    page.unroute(re.compile(r".*:streamGenerateContent.*"))
    page.route(re.compile(r".*:streamGenerateContent.*"), answer(sse(text_event("a"), error)))
    send(page)
    assert page.inner_text("#status") == f"INTERNAL: {XSS}"
    _no_injection(page)


def test_api_key_stays_in_the_tab(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server(api_keys="s3cret-key")
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(server.url + "/")
    page.wait_for_selector("#key-form", state="visible")
    assert "UNAUTHENTICATED" in page.inner_text("#status")
    page.fill("#api-key", "wrong")
    page.press("#api-key", "Enter")
    wait_until(page, "document.getElementById('status').textContent.includes('API key not valid')")
    page.fill("#api-key", "s3cret-key")
    page.click("#key-form button[type=submit]")
    wait_until(page, "document.getElementById('model-stage').textContent === 'ready'")
    upload(page, "photo.png", image_bytes(64, 64, fmt="PNG"), "image/png")
    assert page.evaluate("sessionStorage.getItem('sightd.apiKey')") == "s3cret-key"
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    api = [r for r in requests if "/v1beta/" in r.url or "/upload/" in r.url]
    fetched = [r.url for r in requests if not r.url.startswith(("blob:", "data:"))]
    assert api and all(url.startswith(server.url + "/") for url in fetched), fetched
    keyed = [r for r in api if r.headers.get("x-goog-api-key") == "s3cret-key"]
    assert len(keyed) >= 4  # models, model status, files, upload start and chunks
    assert not any("s3cret-key" in r.url for r in requests)  # never in a URL
    page.screenshot(path=str(tmp_path / "keyed.png"))


def test_model_panel_shows_loading_then_family(
    make_server: Callable[..., Any], engine_handle: Any, page: Any, tmp_path: Path
) -> None:
    """No key asked when none is configured; the download's progress while the model loads,
    then its family."""
    from sightd.engine.base import LoadProgress
    from sightd.engine.loading import EngineHandle

    release = threading.Event()

    def slow_loader(settings: Any, progress: Callable[[LoadProgress], None]) -> Any:
        progress(LoadProgress("downloading", "Model tiny is downloading (42%)", 0.42))
        release.wait(60)
        return engine_handle.backend

    handle = EngineHandle(engine_handle.settings, loader=slow_loader)
    handle.start()
    server = make_server(engine=handle)
    page.goto(server.url + "/")
    wait_until(page, "document.getElementById('model-stage').textContent === 'downloading'")
    assert page.locator("#key-form").is_hidden()
    assert page.locator("#model-progress").is_visible()
    assert page.evaluate("document.getElementById('model-progress').value") == 0.42
    assert page.locator("#model-family").is_hidden()
    wait_until(page, "document.getElementById('token-count').textContent.includes('42%')")
    page.screenshot(path=str(tmp_path / "loading.png"))
    release.set()
    wait_until(page, "document.getElementById('model-stage').textContent === 'ready'")
    assert page.inner_text("#model-family") == "qwen3-vl"
    assert page.locator("#model-progress").is_hidden()
    wait_until(page, "document.getElementById('model-name').textContent === 'tiny-qwen3-vl'")
    assert "output ≤ 64 tokens" in page.inner_text("#model-description")  # the loaded limits
    wait_until(page, "document.getElementById('token-count').dataset.tokens")


@pytest.mark.parametrize("context_options", [{"viewport": {"width": 375, "height": 740}}])
def test_phone_width_and_keyboard(
    make_server: Callable[..., Any], page: Any, tmp_path: Path, context_options: dict[str, Any]
) -> None:
    server = make_server(path_prefix="/sightd")
    open_page(page, server.url + "/sightd")  # redirected to /sightd/; the API under the prefix
    assert page.url == server.url + "/sightd/"
    upload(page, "a-photo-with-a-rather-long-file-name.png", scene_bytes(640, 480), "image/png")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    # Keyboard only: Tab from the top reaches the file picker, the prompt and Send, in order.
    page.keyboard.press("Tab")
    order: list[str] = []
    for _ in range(30):
        active = page.evaluate("document.activeElement.id")
        if active and active not in order:
            order.append(active)
        page.keyboard.press("Tab")
    assert [i for i in order if i in ("file-input", "prompt", "send")] == [
        "file-input",
        "prompt",
        "send",
    ]
    page.focus("#prompt")
    page.keyboard.press("Control+Enter")  # sends
    wait_until(page, "document.getElementById('answer').dataset.done === '1'")
    assert page.inner_text("#status").startswith("Done")
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_video_with_clip_and_resolution(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    video = make_video(tmp_path / "clip.mp4", seconds=4.0, fps=10)
    item = upload(page, "clip.mp4", video.read_bytes(), "video/mp4")
    assert item.locator("video.thumb").count() == 1
    page.fill("#system", "Answer in one word.")
    _prompt(page, "What happens?")
    page.click("#settings summary")
    page.fill("#fps", "2")
    page.fill("#clip-start", "1")
    page.fill("#clip-end", "3")
    page.select_option("#media-resolution", "MEDIA_RESOLUTION_LOW")
    wait_until(page, "document.getElementById('token-count').dataset.tokens")
    with page.expect_request(lambda r: ":streamGenerateContent" in r.url) as sent:
        _, events = send(page)
    request = sent.value.post_data_json
    files = httpx.get(f"{server.url}/v1beta/files").json()["files"]
    assert request["contents"] == [
        {
            "role": "user",
            "parts": [
                {
                    "fileData": {"fileUri": files[0]["uri"], "mimeType": "video/mp4"},
                    "videoMetadata": {"fps": 2, "startOffset": "1s", "endOffset": "3s"},
                },
                {"text": "What happens?"},
            ],
        }
    ]
    assert request["systemInstruction"] == {"parts": [{"text": "Answer in one word."}]}
    assert request["generationConfig"] == {"mediaResolution": "MEDIA_RESOLUTION_LOW"}
    counted = int(page.get_attribute("#token-count", "data-tokens") or 0)
    assert events[-1]["usageMetadata"]["promptTokenCount"] == counted
    assert page.inner_text("#status").startswith("Done")
    page.screenshot(path=str(tmp_path / "video.png"))


def test_media_by_url(make_server: Callable[..., Any], page: Any, tmp_path: Path) -> None:
    routes = {"/scene.png": Route(scene_bytes(640, 480), content_type="image/png")}
    with media_server(routes) as media:
        server = make_server(grounding="detector", url_allowlist="127.0.0.1")
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        open_page(page, server.url + "/")
        url = media.url("/scene.png")
        page.fill("#url-input", url)
        page.press("#url-input", "Enter")
        assert page.locator("#attachments li").last.get_attribute("data-state") == "URL"
        _prompt(page, DETECT)
        with page.expect_request(lambda r: ":streamGenerateContent" in r.url) as sent:
            text, _ = send(page)
        parts = sent.value.post_data_json["contents"][0]["parts"]
        assert parts[0] == {"fileData": {"fileUri": url, "mimeType": "image/png"}}
        items = json.loads(text)
        assert items and page.locator("#legend li").count() == len(items)
        assert "No local preview" in page.inner_text("#stage")  # the page never fetched it
        assert not [u for u in requests if str(media.port) in u]
        assert media.hosts  # the server did
        page.screenshot(path=str(tmp_path / "url.png"))


PARSES = [
    # (answer text, items the page takes from it: None = not spatial, "text" = not JSON)
    ("not json at all", "text"),
    ('[{"box_2d": [100, 200, 300', "text"),
    ("[]", []),
    ('{"a": 1}', None),
    ('[{"box_2d": [1, 2, 3]}]', None),
    ('[{"box_2d": [1, 2, 3, 4], "label": "a"}]', [[[1, 2, 3, 4], "a", None]]),
    ('```json\n[{"box_2d": [1, 2, 3, 4], "label": "a"}]\n```', [[[1, 2, 3, 4], "a", None]]),
    ('{"items": [{"box_2d": ["5", "6", "7", "8"]}]}', [[[5, 6, 7, 8], "", None]]),
    (
        '[{"box_2d": [1, 2, 3, 4], "label": 7, "mask": "javascript:alert(1)"},'
        ' {"box_2d": [1, "x", 3, 4]}, "junk", null]',
        [[[1, 2, 3, 4], "7", None]],
    ),
    (
        '[{"box_2d": [0, 0, 10, 10], "label": "m", "mask": "data:image/png;base64,iVBORw0K"}]',
        [[[0, 0, 10, 10], "m", "data:image/png;base64,iVBORw0K"]],
    ),
]


def test_answer_parsing_is_total(make_server: Callable[..., Any], page: Any) -> None:
    """Garbage in, text or nothing out (the page's own module, run in the browser)."""
    server = make_server()
    open_page(page, server.url + "/")
    for text, expected in PARSES:
        got = page.evaluate(
            """async (text) => {
          const m = await import('./web/js/spatial.js');
          const value = m.parseJson(text);
          if (value === undefined) return "text";
          const items = m.spatialItems(value);
          return items && items.map((i) => [i.box, i.label, i.mask]);
        }""",
            text,
        )
        assert got == expected, text
    pixels = page.evaluate(
        """async () => {
      const m = await import('./web/js/spatial.js');
      return [m.toPixels([500, 250, 750, 1000], 640, 480),
              m.toPixels([750, 1000, 500, 250], 640, 480),
              m.toPixels([-5, 0, 2000, 999], 641, 479)];
    }"""
    )
    corners = to_pixels(Box1000(500, 250, 750, 1000), (640, 480))
    first = dict(zip(["x0", "y0", "x1", "y1"], corners, strict=True))
    assert pixels[0] == pixels[1] == first  # y first; corners in either order
    assert pixels[2] == {"x0": 0, "y0": 0, "x1": 640, "y1": 479}  # clamped to the image
    # An integer beyond 2^53 is shown as the model wrote it, not as the nearest double.
    big = '{"legs": -80670332808233307683344564449199, "ok": 12}'
    shown = page.evaluate(
        """async (text) => {
      const m = await import('./web/js/spatial.js');
      return JSON.stringify(m.parseJson(text));
    }""",
        big,
    )
    assert json.loads(shown) == json.loads(big) and "-80670332808233307683344564449199" in shown
