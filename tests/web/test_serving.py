"""How the playground is served (no browser): at `/` and under `--path-prefix`, every file with
the strict CSP, only files that ship, no inline script or style anywhere, the model status
route, and the package data that carries it all into a wheel."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from sightd.api.web import CSP, assets

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "sightd" / "web" / "static"
DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
}


def _directives(header: str) -> set[str]:
    return {d.strip() for d in header.split(";") if d.strip()}


def test_csp_is_strict() -> None:
    found = _directives(CSP)
    assert found >= DIRECTIVES
    assert not any("unsafe" in d or "*" in d or "http" in d for d in found)


def test_page_and_assets_at_root_and_under_the_prefix(make_server: Any) -> None:
    server = make_server(path_prefix="/sightd")
    for base in (server.url, server.url + "/sightd"):
        page = httpx.get(base + "/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert _directives(page.headers["content-security-policy"]) >= DIRECTIVES
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        for path, asset in assets().items():
            r = httpx.get(f"{base}/web/{path}")
            assert r.status_code == 200 and r.content == asset.body, path
            assert r.headers["content-security-policy"] == CSP
            again = httpx.get(f"{base}/web/{path}", headers={"if-none-match": r.headers["etag"]})
            assert again.status_code == 304
        assert (
            httpx.get(f"{base}/web/js/main.js")
            .headers["content-type"]
            .startswith("text/javascript")
        )
    moved = httpx.get(server.url + "/sightd")
    assert moved.status_code in (301, 307, 308) and moved.headers["location"].endswith("/sightd/")


@pytest.mark.parametrize(
    "path",
    [
        "/web/nothing.js",
        "/web/../__init__.py",
        "/web/%2e%2e/__init__.py",
        "/web/..%2f..%2fapi%2fweb.py",
        "/web/static/index.html",
        "/web//etc/passwd",
        "/web/js",
    ],
)
def test_only_shipped_files_are_served(server: Any, path: str) -> None:
    r = httpx.get(server.url + path)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            self.scripts.append(names)
        if tag == "style":
            self.bad.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.bad.append(f"{tag} {name}")
            if value and value.strip().lower().startswith("javascript:"):
                self.bad.append(f"{tag} {name}={value}")

    def handle_data(self, data: str) -> None:
        if self.scripts and self.lasttag == "script" and data.strip():
            self.bad.append("inline script")


def test_no_inline_script_or_style() -> None:
    markup = _Markup()
    markup.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert markup.scripts == [{"type": "module", "src": "web/js/main.js"}]
    assert markup.bad == []


def test_scripts_never_write_markup() -> None:
    """Untrusted text reaches the DOM as text only: no HTML sinks, no eval."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"setAttribute\(\s*[\"']on|createContextualFragment|DOMParser|srcdoc"
    )
    for path in sorted((STATIC / "js").glob("*.js")):
        found = sinks.findall(path.read_text(encoding="utf-8"))
        assert not found, (path.name, found)


def test_package_data_ships_every_static_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["sightd.web"]
    web = STATIC.parent
    files = [p.relative_to(web).as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files)
    assert set(assets()) == {f.removeprefix("static/") for f in files}


def test_model_status(make_server: Any) -> None:
    server = make_server(api_keys="k1")
    assert httpx.get(server.url + "/web/model.json").status_code == 401
    body = httpx.get(server.url + "/web/model.json", headers={"x-goog-api-key": "k1"}).json()
    assert body == {
        "model": "tiny-qwen3-vl",
        "stage": "ready",
        "fraction": 1.0,
        "family": "qwen3-vl",
    }
