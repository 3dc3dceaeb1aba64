"""The URL cache: one download per URL within the TTL, pruned (with its frame cache) after,
and the operator switches."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sightd import errors
from sightd.services.url_media import UrlSource, cache_key
from sightd.settings import Settings
from tests.media_server import MediaServer, Route, media_server


@pytest.fixture
def srv() -> Iterator[MediaServer]:
    with media_server(
        {"/a.png": Route(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, content_type="image/png")}
    ) as s:
        yield s


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, url_allowlist="127.0.0.1", **kw)  # type: ignore[arg-type]


def test_cached_within_ttl_then_pruned(srv: MediaServer, tmp_path: Path) -> None:
    forgotten: list[str] = []
    source = UrlSource(_settings(tmp_path), forget=forgotten.append)
    url = srv.url("/a.png")
    first = source.fetch(url, "contents[0].parts[0]")
    second = source.fetch(url, "contents[0].parts[0]")
    assert first == second and first.cache_key == cache_key(url) and first.mime_type == "image/png"
    assert len(srv.hosts) == 1
    old = time.time() - 7200
    os.utime(first.path.parent / "meta.json", (old, old))
    assert source.prune(force=True) == 1
    assert forgotten == [first.cache_key] and not first.path.exists()
    source.fetch(url, "f")
    assert len(srv.hosts) == 2


def test_expired_entry_is_refetched(srv: MediaServer, tmp_path: Path) -> None:
    source = UrlSource(_settings(tmp_path))
    got = source.fetch(srv.url("/a.png"), "f")
    old = time.time() - 7200
    os.utime(got.path.parent / "meta.json", (old, old))
    assert source.fetch(srv.url("/a.png"), "f").path.is_file()
    assert len(srv.hosts) == 2


def test_errors_carry_the_field(tmp_path: Path) -> None:
    source = UrlSource(Settings(data_dir=tmp_path))
    with pytest.raises(errors.InvalidArgument) as caught:
        source.fetch("http://169.254.169.254/", "contents[0].parts[1].fileData")
    assert caught.value.field == "contents[0].parts[1].fileData"


def test_switches(tmp_path: Path, srv: MediaServer) -> None:
    with pytest.raises(errors.InvalidArgument, match="does not fetch"):
        UrlSource(_settings(tmp_path, url_fetch=False)).fetch(srv.url("/a.png"), "f")
    with pytest.raises(errors.InvalidArgument, match="YouTube"):
        UrlSource(_settings(tmp_path, youtube=False)).fetch("https://youtu.be/9hE5-98ZeCg", "f")
    assert srv.hosts == []


def test_youtube_key_ignores_url_spelling() -> None:
    assert cache_key("https://youtu.be/9hE5-98ZeCg") == cache_key(
        "https://www.youtube.com/watch?v=9hE5-98ZeCg&t=3"
    )


def test_cache_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    """Issue: the URL cache had a TTL but no size bound."""
    body = b"\x89PNG\r\n\x1a\n" + b"\0" * 1000
    routes = {f"/{n}.png": Route(body, content_type="image/png") for n in "abc"}
    with media_server(routes) as srv:
        forgotten: list[str] = []
        source = UrlSource(_settings(tmp_path, url_cache_max_bytes=2600), forget=forgotten.append)
        a = source.fetch(srv.url("/a.png"), "f")
        b = source.fetch(srv.url("/b.png"), "f")
        old = time.time() - 100
        os.utime(a.path.parent, (old, old))
        os.utime(b.path.parent, (old + 50, old + 50))
        assert source.fetch(srv.url("/a.png"), "f") == a  # reuse touches "a"
        c = source.fetch(srv.url("/c.png"), "f")
        assert forgotten == [b.cache_key]
        assert a.path.exists() and c.path.exists() and not b.path.exists()
