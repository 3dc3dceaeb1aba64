"""Browser fixtures for the playground: Debian's headless Chromium (`/usr/bin/chromium`, never a
downloaded browser) driven by Playwright, one browser per session and a fresh context per test.

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
