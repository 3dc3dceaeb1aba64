"""The playground's first load: bytes transferred and time to interactive, in Debian's headless
Chromium against a live sightd serving the tiny model, one run.

Each round opens the page in a fresh browser context (empty cache), waits until the network is
idle (the page's own API calls included: models.list, the model status, files.list and the
first countTokens) and reads:
- bytes on the wire, from the DevTools protocol (`Network.loadingFinished.encodedDataLength`:
  headers and bodies as transferred), split into the page's static files and its API calls;
- time to interactive: the `sightd-interactive` performance mark main.js sets once every
  control is wired (ms from navigation start), beside DOMContentLoaded and load;
- time until the served model is shown (the first models.list answered and rendered).

Printed: the median of --rounds and the goals (< 300 kB, < 1000 ms).

    .venv/bin/python bench/web_first_load.py [--rounds 5] [--cpu-slowdown 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sightd.app import create_app  # noqa: E402
from sightd.settings import Settings  # noqa: E402
from sightd.testing.tiny import build_tiny  # noqa: E402
from tests.live import LiveServer  # noqa: E402
from tests.web.conftest import launch  # noqa: E402

GOAL_BYTES = 300 * 1000
GOAL_TTI_MS = 1000.0


def one_load(browser: Any, url: str, cpu_slowdown: float) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    if cpu_slowdown > 1:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
    urls: dict[str, str] = {}
    sizes: dict[str, float] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], float(e["encodedDataLength"])),
    )
    page.goto(url, wait_until="networkidle")
    deadline = time.monotonic() + 30
    while not page.evaluate("() => document.getElementById('model-stage').textContent"):
        if time.monotonic() > deadline:
            raise RuntimeError("the page never showed the model")
        time.sleep(0.02)
    timing = page.evaluate(
        """() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const mark = performance.getEntriesByName('sightd-interactive')[0];
      return {tti: mark ? mark.startTime : -1, dcl: nav.domContentLoadedEventEnd,
              load: nav.loadEventEnd};
    }"""
    )
    shown = page.evaluate(
        """() => {
      const r = performance.getEntriesByType('resource').find((e) => e.name.includes('/models?'));
      return r ? r.responseEnd : -1;
    }"""
    )
    context.close()
    static = sum(
        n
        for rid, n in sizes.items()
        if "/v1beta/" not in urls.get(rid, "") and "/web/model.json" not in urls.get(rid, "")
    )
    total = sum(sizes.values())
    return {
        "bytes": total,
        "static_bytes": static,
        "api_bytes": total - static,
        "requests": float(len(sizes)),
        "tti_ms": float(timing["tti"]),
        "dcl_ms": float(timing["dcl"]),
        "load_ms": float(timing["load"]),
        "model_shown_ms": float(shown),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu-slowdown", type=float, default=1.0, help="CDP CPU throttling")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny(Path(tmp) / "tiny-qwen3-vl", "qwen3-vl")
        settings = Settings(model=str(model), data_dir=Path(tmp) / "data", torch_threads=1)
        server = LiveServer(create_app(settings))
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                one_load(browser, server.url + "/", 1.0)  # warm the server, not the browser cache
                runs = [
                    one_load(browser, server.url + "/", args.cpu_slowdown)
                    for _ in range(args.rounds)
                ]
                version = browser.version
                browser.close()
        finally:
            server.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(
        f"playground first load, Chromium {version}, {args.rounds} fresh contexts (median)"
        + (f", CPU slowed {args.cpu_slowdown:g}x" if args.cpu_slowdown > 1 else "")
    )
    print(
        f"  transferred      {med('bytes') / 1000:8.1f} kB in {med('requests'):.0f} requests"
        f"  (static {med('static_bytes') / 1000:.1f} kB,"
        f" API calls {med('api_bytes') / 1000:.1f} kB)"
        f"  goal < {GOAL_BYTES / 1000:.0f} kB: {med('bytes') / GOAL_BYTES:.2f} of it"
    )
    print(
        f"  interactive      {med('tti_ms'):8.1f} ms  goal < {GOAL_TTI_MS:.0f} ms: "
        f"{med('tti_ms') / GOAL_TTI_MS:.2f} of it"
    )
    print(
        f"  DOMContentLoaded {med('dcl_ms'):8.1f} ms; load {med('load_ms'):.1f} ms; "
        f"model shown {med('model_shown_ms'):.1f} ms"
    )


if __name__ == "__main__":
    main()
