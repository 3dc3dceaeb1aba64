"""Browser fixtures for the playground: Debian's headless Chromium (`/usr/bin/chromium`, never a
downloaded browser) driven by Playwright, one browser per module and a fresh context per test;
and Debian's Firefox ESR (`/usr/bin/firefox-esr`) driven over WebDriver BiDi (`firefox.py`), one
browser per module and a fresh tab per test (`ff_page`).

Every page records Content-Security-Policy violations and uncaught errors; a test fails if any
happened, and its last state is saved as `final.png` in the test's own tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("SIGHTD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    # Only the loopback server resolves: the browser can reach nothing else.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
WATCH = """
window.__problems = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__problems.push(`CSP ${e.violatedDirective} ${e.blockedURI}`);
});
window.addEventListener("error", (e) => window.__problems.push(`error ${e.message}`));
window.addEventListener("unhandledrejection", (e) => {
  window.__problems.push(`rejection ${e.reason}`);
});
"""


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, with nothing that calls home."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break later tests that call asyncio.run (the CLI's)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; `make test` does it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def context_options() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the viewport."""
    return {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def page(browser: Any, context_options: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(60_000)
    context.add_init_script(WATCH)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror {exc}"))
    yield page
    try:
        page.screenshot(path=str(tmp_path / "final.png"), full_page=True)
        problems = page.evaluate("window.__problems || []") if page.url.startswith("http") else []
    finally:
        context.close()
    assert not errors + problems, errors + problems


@pytest.fixture(scope="module")
def firefox_browser() -> Iterator[Any]:
    from tests.web.firefox import FIREFOX, Firefox

    if not FIREFOX.exists():
        pytest.skip(f"{FIREFOX} is missing (apt-get install firefox-esr; `make test` does it)")
    pytest.importorskip("websockets.sync.client")
    browser = Firefox()
    yield browser
    browser.close()


@pytest.fixture
def ff_page(firefox_browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh Firefox tab at 1280×800 that records CSP violations, uncaught errors and console
    errors; the test fails if any happened, and its last state is saved as `final.png`."""
    page = firefox_browser.new_page(1280, 800)
    page.add_init_script(WATCH)
    seen = len(firefox_browser.events)
    firefox_browser.command(
        "session.subscribe", {"events": ["log.entryAdded"], "contexts": [page.context]}
    )
    yield page
    try:
        page.screenshot(tmp_path / "final.png", full_page=True)
        problems = page.evaluate("window.__problems || []") if page.url.startswith("http") else []
        logged = [
            f"{e['params'].get('type')} {e['params'].get('text')}"
            for e in firefox_browser.events[seen:]
            if e.get("method") == "log.entryAdded"
            and e["params"].get("level") == "error"
            and e["params"].get("source", {}).get("context") == page.context
        ]
    finally:
        page.close()
    assert not problems + logged, problems + logged
