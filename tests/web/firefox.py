"""Debian's Firefox ESR (`/usr/bin/firefox-esr`, never a downloaded browser) driven over WebDriver
BiDi, the W3C protocol Firefox speaks natively: no geckodriver, no Playwright-patched build.

`FirefoxPage` offers the few calls the playground's tests make, with Playwright's semantics
(`evaluate` takes a JS function or expression and returns its JSON-like value), so helpers such as
`playground.wait_until` work with either browser. Clicks and key presses are real input actions;
files are picked with `input.setFiles`, as a user would through the file dialog.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIREFOX = Path(os.environ.get("SIGHTD_TEST_FIREFOX", "/usr/bin/firefox-esr"))

# Nothing calls home, nothing updates; every host but the loopback goes to a closed proxy port
# (Firefox never proxies localhost), so the browser can reach nothing but the server under test.
PREFS: dict[str, Any] = {
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.share_proxy_settings": True,
    "network.proxy.allow_hijacking_localhost": False,
    "remote.prefs.recommended": True,
}
_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")
_FUNCTION = re.compile(r"^\s*(async\s+)?(\(|function\b|[A-Za-z_$][\w$]*\s*=>)")


class BiDiError(RuntimeError):
    """A command the browser answered with an error (or a script that threw)."""


class Firefox:
    """One headless Firefox ESR process and its BiDi session."""

    def __init__(self, executable: Path = FIREFOX) -> None:
        from websockets.sync.client import connect

        self._profile = tempfile.TemporaryDirectory(prefix="sightd-firefox-")
        prefs = "".join(f'user_pref("{k}", {json.dumps(v)});\n' for k, v in PREFS.items())
        Path(self._profile.name, "user.js").write_text(prefs)
        self.process = subprocess.Popen(
            [
                str(executable),
                *("--headless", "--no-remote", "--profile", self._profile.name),
                *("--remote-debugging-port", "0", "about:blank"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1", "MOZ_HEADLESS": "1"},
        )
        url = self._wait_listening(60.0)
        self._ws = connect(f"{url}/session", max_size=None, open_timeout=30)
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.handlers: list[Callable[[dict[str, Any]], None]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.command("session.new", {"capabilities": {"alwaysMatch": {}}})

    def _wait_listening(self, timeout_s: float) -> str:
        assert self.process.stderr is not None
        found: queue.Queue[str] = queue.Queue()

        def scan() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:  # drained until exit so Firefox never blocks
                match = _LISTENING.search(line)
                if match:
                    found.put(match.group(1))

        threading.Thread(target=scan, daemon=True).start()
        try:
            return found.get(timeout=timeout_s)
        except queue.Empty:
            self.close()
            raise RuntimeError("Firefox did not open its WebDriver BiDi port") from None

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            for raw in self._ws:
                message = json.loads(raw)
                if "id" in message and message["id"] in self._replies:
                    self._replies[message["id"]].put(message)
                elif message.get("type") == "event":
                    self.events.append(message)
                    for handler in list(self.handlers):
                        # Off this thread: a handler may send commands, whose replies it reads.
                        threading.Thread(target=handler, args=(message,), daemon=True).start()

    def command(self, method: str, params: dict[str, Any], timeout_s: float = 90.0) -> Any:
        ident = next(self._ids)
        reply: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies[ident] = reply
        with self._lock:
            self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        try:
            message = reply.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"{method}: no answer in {timeout_s} s") from None
        finally:
            del self._replies[ident]
        if message.get("type") == "error":
            raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
        return message["result"]

    def new_page(self, width: int = 1280, height: int = 800) -> FirefoxPage:
        context = self.command("browsingContext.create", {"type": "tab"})["context"]
        self.command(
            "browsingContext.setViewport",
            {"context": context, "viewport": {"width": width, "height": height}},
        )
        return FirefoxPage(self, context)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.command("session.end", {}, timeout_s=5)
        with contextlib.suppress(Exception):
            self._ws.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # Firefox and its content processes
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._profile.cleanup()


def _local(value: Any) -> dict[str, Any]:
    """A Python value as a BiDi LocalValue."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [_local(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), _local(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


def _remote(value: dict[str, Any]) -> Any:
    """A BiDi RemoteValue as the JSON-like Python value Playwright would return."""
    kind = value["type"]
    if kind in ("undefined", "null"):
        return None
    if kind == "number":
        raw = value["value"]
        return {"NaN": float("nan"), "-0": -0.0, "Infinity": float("inf")}.get(
            raw, float("-inf") if raw == "-Infinity" else raw
        )
    if kind in ("string", "boolean"):
        return value["value"]
    if kind == "bigint":
        return int(value["value"])
    if kind in ("array", "set", "nodelist", "htmlcollection"):
        return [_remote(v) for v in value.get("value", [])]
    if kind in ("object", "map"):
        return {
            (k if isinstance(k, str) else str(_remote(k))): _remote(v)
            for k, v in value.get("value", [])
        }
    if kind == "node":
        return {"sharedId": value.get("sharedId")}
    return value.get("value")


class FirefoxPage:
    """One tab: navigate, evaluate, click, type, pick files, play back responses, screenshots."""

    def __init__(self, browser: Firefox, context: str) -> None:
        self.browser = browser
        self.context = context
        self.url = "about:blank"

    def goto(self, url: str) -> None:
        result = self.browser.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )
        self.url = result.get("url") or url

    def add_init_script(self, source: str) -> None:
        """`source` runs in every document of this tab before the page's own scripts."""
        self.browser.command(
            "script.addPreloadScript",
            {"functionDeclaration": f"() => {{ {source} }}", "contexts": [self.context]},
        )

    def _call(self, function: str, args: list[Any], own: bool = False) -> dict[str, Any]:
        result = self.browser.command(
            "script.callFunction",
            {
                "functionDeclaration": function,
                "target": {"context": self.context},
                "arguments": [_local(a) for a in args],
                "awaitPromise": True,
                "resultOwnership": "root" if own else "none",
                "serializationOptions": {"maxObjectDepth": 20, "maxDomDepth": 0},
            },
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(f"the page threw: {details.get('text')}")
        return dict(result["result"])

    def evaluate(self, source: str, arg: Any = None) -> Any:
        """As Playwright's: a function is called with `arg`, anything else is an expression."""
        function = source if _FUNCTION.match(source) else f"() => ({source})"
        return _remote(self._call(function, [] if arg is None else [arg]))

    def element(self, selector: str) -> dict[str, Any]:
        """A reference to the first element matching `selector`, scrolled into view."""
        node = self._call(
            "(s) => { const el = document.querySelector(s);"
            " if (el) el.scrollIntoView({block: 'center'}); return el; }",
            [selector],
        )
        if node.get("type") != "node":
            raise BiDiError(f"no element matches {selector}")
        return {"sharedId": node["sharedId"]}

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre."""
        origin = {"type": "element", "element": self.element(selector)}
        self._actions(
            {
                "type": "pointer",
                "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerUp", "button": 0},
                ],
            }
        )

    def hover(self, selector: str) -> None:
        origin = {"type": "element", "element": self.element(selector)}
        self._actions(
            {
                "type": "pointer",
                "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "x": 0, "y": 0, "origin": origin}],
            }
        )

    def fill(self, selector: str, value: str) -> None:
        """Set a field's value and fire `input` and `change`, as Playwright's `fill` does."""
        self.evaluate(
            """([s, v]) => { const el = document.querySelector(s); el.focus(); el.value = v;
              el.dispatchEvent(new Event('input', {bubbles: true}));
              el.dispatchEvent(new Event('change', {bubbles: true})); }""",
            [selector, value],
        )

    def type(self, selector: str, text: str) -> None:
        """Focus the field, clear it and type `text` key by key."""
        s = selector
        self.evaluate(
            "(s) => { const el = document.querySelector(s); el.focus(); el.select(); }", s
        )
        keys = [{"type": "keyDown", "value": "\ue017"}, {"type": "keyUp", "value": "\ue017"}]
        for ch in text:
            keys += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        self._actions({"type": "key", "id": "keyboard", "actions": keys})

    def _actions(self, source: dict[str, Any]) -> None:
        self.browser.command("input.performActions", {"context": self.context, "actions": [source]})
        self.browser.command("input.releaseActions", {"context": self.context})

    def set_input_files(self, selector: str, paths: list[Path]) -> None:
        self.browser.command(
            "input.setFiles",
            {
                "context": self.context,
                "element": self.element(selector),
                "files": [str(p) for p in paths],
            },
        )

    def route(self, url: str, body: str, content_type: str = "text/event-stream") -> None:
        """Answer every request of this tab whose URL matches the regex `url` with `body` (as
        Playwright's `route.fulfill`); the others go on to the server."""
        self.browser.command(
            "session.subscribe",
            {"events": ["network.beforeRequestSent"], "contexts": [self.context]},
        )
        self.unroute()
        self._intercept = self.browser.command(
            "network.addIntercept", {"phases": ["beforeRequestSent"], "contexts": [self.context]}
        )["intercept"]
        pattern = re.compile(url)

        def answer(event: dict[str, Any]) -> None:
            params = event.get("params", {})
            if event.get("method") != "network.beforeRequestSent" or not params.get("isBlocked"):
                return
            if params.get("context") != self.context:
                return
            request = params["request"]
            if not pattern.search(request["url"]):
                self.browser.command("network.continueRequest", {"request": request["request"]})
                return
            header = {"name": "content-type", "value": {"type": "string", "value": content_type}}
            self.browser.command(
                "network.provideResponse",
                {
                    "request": request["request"],
                    "statusCode": 200,
                    "reasonPhrase": "OK",
                    "headers": [header],
                    "body": {"type": "string", "value": body},
                },
            )

        self._handler = answer
        self.browser.handlers.append(answer)

    def unroute(self) -> None:
        if getattr(self, "_handler", None) in self.browser.handlers:
            self.browser.handlers.remove(self._handler)
        if getattr(self, "_intercept", None):
            self.browser.command("network.removeIntercept", {"intercept": self._intercept})
            self._intercept = None

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        result = self.browser.command(
            "browsingContext.captureScreenshot",
            {"context": self.context, "origin": "document" if full_page else "viewport"},
        )
        Path(path).write_bytes(base64.b64decode(result["data"]))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.command("browsingContext.close", {"context": self.context})
