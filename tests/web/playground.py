"""What the browser tests do with the playground, written once: open it, upload through the
file picker, send the prompt and read back the answer the server streamed."""

from __future__ import annotations

import json
import time
from typing import Any

from sightd.grounding.boxes import to_pixels
from sightd.grounding.detections import Box1000

READY = "document.documentElement.dataset.ready === '1'"

# Records every value the upload progress bars take (a setter hook, so none is coalesced) and
# the states an attachment goes through (`window.__states`, the last one is its current state).
RECORD_UPLOADS = """
() => {
  window.__progress = [];
  const proto = HTMLProgressElement.prototype;
  const desc = Object.getOwnPropertyDescriptor(proto, "value");
  Object.defineProperty(proto, "value", {
    set(v) {
      desc.set.call(this, v);
      if (this.classList.contains("upload-progress")) {
        window.__progress.push([Number(v), Number(this.max)]);
      }
    },
    get() { return desc.get.call(this); },
    configurable: true,
  });
  window.__seen = [];
  new MutationObserver((records) => {
    for (const r of records) if (r.oldValue) window.__seen.push(r.oldValue);
  }).observe(document.getElementById("attachments"),
             {subtree: true, attributeFilter: ["data-state"], attributeOldValue: true});
}
"""


def wait_until(page: Any, expression: str, timeout_s: float = 60.0) -> Any:
    """Poll a JS expression until it is truthy. (Playwright's wait_for_function evaluates its
    predicate with `eval` inside the page, which the playground's CSP rightly refuses.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(f"() => ({expression})")
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.05)


def open_page(page: Any, url: str) -> None:
    """Load the playground and wait until it is interactive and knows the served model."""
    page.goto(url)
    wait_until(page, READY)
    wait_until(page, "document.getElementById('model-stage').textContent === 'ready'")


def upload(page: Any, name: str, data: bytes, mime: str, state: str = "ACTIVE") -> Any:
    """Pick a file (its upload starts at once) and wait for its attachment to reach `state`."""
    before = page.locator("#attachments li").count()
    page.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}])
    item = page.locator("#attachments li").nth(before)
    item.locator(f"xpath=self::*[@data-state='{state}']").wait_for()
    return item


def send(page: Any) -> tuple[str, list[dict[str, Any]]]:
    """Click Send; return the answer text as streamed and the SSE events, read off the wire,
    once the page has finished rendering it."""
    page.evaluate("delete document.getElementById('answer').dataset.done")
    with page.expect_response(lambda r: ":streamGenerateContent" in r.url) as info:
        page.click("#send")
    body = info.value.text()
    wait_until(page, "document.getElementById('answer').dataset.done === '1'")
    events = [
        json.loads(line[len("data:") :]) for line in body.splitlines() if line.startswith("data:")
    ]
    text = "".join(
        part.get("text", "")
        for event in events
        for cand in event.get("candidates", [])[:1]
        for part in cand.get("content", {}).get("parts", [])
    )
    return text, events


def sse(*bodies: dict[str, Any]) -> str:
    """An SSE stream of these events, as sightd frames them."""
    return "".join(f"data: {json.dumps(b)}\r\n\r\n" for b in bodies)


def text_event(text: str, finish: str | None = None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand], "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 9}}


def drawn_overlay(page: Any) -> dict[str, Any]:
    """The overlay as drawn: its frame, every box and mask, and their on-screen geometry."""
    wait_until(page, "document.getElementById('stage').dataset.drawn !== undefined")
    drawn: dict[str, Any] = page.evaluate(
        """() => {
      const svg = document.getElementById('overlay');
      const img = document.querySelector('#stage img');
      const r = (el) => {
        const b = el.getBoundingClientRect();
        return [b.x, b.y, b.width, b.height];
      };
      const num = (el, a) => Number(el.getAttribute(a));
      return {
        viewBox: svg.getAttribute('viewBox'),
        natural: [img.naturalWidth, img.naturalHeight],
        image: r(img),
        boxes: [...svg.querySelectorAll('rect.box')].map((el) => ({
          index: num(el, 'data-index'), stroke: el.getAttribute('stroke'),
          xywh: ['x', 'y', 'width', 'height'].map((a) => num(el, a)), screen: r(el),
          label: el.parentNode.querySelector('text').textContent,
        })),
        masks: [...svg.querySelectorAll('image.mask')].map((el) => ({
          index: num(el, 'data-index'), href: el.getAttribute('href'),
          xywh: ['x', 'y', 'width', 'height'].map((a) => num(el, a)),
        })),
        opacity: svg.querySelector('g.masks').getAttribute('opacity'),
        legend: [...document.querySelectorAll('#legend .legend-label')].map((e) => e.textContent),
      };
    }"""
    )
    return drawn


def assert_boxes_match(drawn: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Each drawn box is its item's `box_2d` in the image's own pixels (±1 px), in the SVG and
    on the screen."""
    width, height = drawn["natural"]
    assert drawn["viewBox"] == f"0 0 {width} {height}"
    assert len(drawn["boxes"]) == len(items)
    scale_x = drawn["image"][2] / width
    scale_y = drawn["image"][3] / height
    for box in drawn["boxes"]:
        item = items[box["index"]]
        x0, y0, x1, y1 = to_pixels(Box1000(*item["box_2d"]), (width, height))
        expected = [x0, y0, x1 - x0, y1 - y0]
        assert all(abs(a - b) <= 1 for a, b in zip(box["xywh"], expected, strict=True)), (
            box,
            item,
        )
        sx, sy, sw, sh = box["screen"]  # the stroke is drawn on the rect's outline
        ix, iy = drawn["image"][:2]
        assert abs((sx - ix) / scale_x - x0) <= 1 + 2 / scale_x
        assert abs((sy - iy) / scale_y - y0) <= 1 + 2 / scale_y
        assert abs(sw / scale_x - (x1 - x0)) <= 1 + 4 / scale_x
        assert abs(sh / scale_y - (y1 - y0)) <= 1 + 4 / scale_y
        assert box["label"] == item["label"]


# Ctrl+V of a copied image, as the page sees it: a paste event on the focused prompt whose
# clipboardData holds the file (`name` "" is a screenshot's unnamed clipboard image). Returns
# whether the page took the paste (preventDefault), so the image did not land in the text.
# (Headless browsers have no system clipboard holding images, so the event is made here.)
PASTE = """async ([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  if (b64) data.items.add(new File([bytes], name, {type}));
  else data.setData("text/plain", name);
  const prompt = document.getElementById("prompt");
  prompt.focus();
  const event = new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true});
  if (b64 && !event.clipboardData.files.length) {
    // Firefox keeps only the strings of a script-made clipboardData: hand the page ours.
    Object.defineProperty(event, "clipboardData", {value: data});
  }
  prompt.dispatchEvent(event);
  return event.defaultPrevented;
}"""
