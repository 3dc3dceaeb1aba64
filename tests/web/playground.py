"""What the browser tests do with the playground, written once: open it, upload through the
file picker, send the prompt and read back the answer the server streamed."""

from __future__ import annotations

import json
import time
from typing import Any

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
