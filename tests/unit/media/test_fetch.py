"""The SSRF policy of URL fetching: which addresses are refused, that the refusal comes before
any connection (redirect hops included), that the connection goes to the vetted address (no
DNS rebinding), and the size and time caps."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sightd import errors
from sightd.media.fetch import (
    Allowlist,
    FetchLimits,
    Resolver,
    _pinned_request,
    _Target,
    blocked_reason,
    fetch_url,
    system_resolve,
    vet,
)
from tests.media_server import MediaServer, Route, media_server

LOOPBACK = Allowlist.parse(["127.0.0.1/32"])

BLOCKED = [
    "127.0.0.1",
    "127.9.9.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "169.254.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2001:db8::1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def _never(host: str, port: int) -> list[str]:
    raise AssertionError(f"no DNS lookup expected for {host}")


def _resolver(table: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.1:8080/x.mp4",
        "http://2130706433/",  # decimal 127.0.0.1
        "http://0x7f.1/",  # hex, short form
        "http://017700000001/",  # octal
        "http://0177.0.0.1/",
        "http://localhost/",
    ],
)
def test_refused_urls_with_the_system_resolver(url: str) -> None:
    """Odd spellings of private addresses resolve (without network) and are refused."""
    with pytest.raises(errors.InvalidArgument, match=r"Refusing to fetch|Not a valid"):
        vet(url, Allowlist(), system_resolve, _far())


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "data:,x"]
)
def test_other_schemes_refused(url: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=r"Only http and https|Not a valid"):
        vet(url, Allowlist(), _never, _far())


def test_every_resolved_address_is_checked() -> None:
    resolve = _resolver({"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(errors.InvalidArgument, match=r"10\.1\.2\.3"):
        vet("https://mixed.test/v.mp4", Allowlist(), resolve, _far())


def test_allowlist_by_host_suffix_and_cidr() -> None:
    resolve = _resolver({"media.corp": ["10.0.0.5"], "cdn.media.corp": ["10.0.0.6"]})
    hosts = Allowlist.parse(["media.corp"])
    assert str(vet("http://media.corp/a", hosts, resolve, _far()).ip) == "10.0.0.5"
    with pytest.raises(errors.InvalidArgument):
        vet("http://cdn.media.corp/a", hosts, resolve, _far())
    suffix = Allowlist.parse([".media.corp"])
    assert vet("http://cdn.media.corp/a", suffix, resolve, _far()).ip
    nets = Allowlist.parse(["10.0.0.4/31"])
    assert vet("http://media.corp/a", nets, resolve, _far()).ip
    with pytest.raises(errors.InvalidArgument):
        vet("http://cdn.media.corp/a", nets, resolve, _far())
    with pytest.raises(errors.InvalidArgument):  # the allowlist opens no other address
        vet("http://169.254.169.254/", nets, _never, _far())


def test_dns_failure_is_unavailable_and_fast() -> None:
    start = time.monotonic()
    with pytest.raises(errors.Unavailable, match="could not be resolved"):
        vet("https://nowhere.test/v.mp4", Allowlist(), _resolver({}), _far())
    assert time.monotonic() - start < 1


def _far() -> float:
    return time.monotonic() + 30


def _limits(**kw: object) -> FetchLimits:
    values: dict[str, object] = {"max_bytes": 1 << 20, "timeout_s": 10.0, "allowlist": LOOPBACK}
    values.update(kw)
    return FetchLimits(**values)  # type: ignore[arg-type]


@pytest.fixture
def srv() -> Iterator[MediaServer]:
    routes = {
        "/v.mp4": Route(b"\x00" * 5000, content_type="video/mp4"),
        "/to-metadata": Route(status=302, location="http://169.254.169.254/latest/meta-data/"),
        "/to-private": Route(status=301, location="http://10.0.0.1/x.mp4"),
        "/to-file": Route(status=302, location="file:///etc/passwd"),
        "/relative": Route(status=307, location="/v.mp4"),
        "/loop": Route(status=302, location="/loop"),
        "/big-announced": Route(b"x" * 10, content_length=10_000_000),
        "/big": Route(b"x" * 300_000),
        "/slow": Route(b"x" * 8192, delay_s=0.4),
        "/missing": Route(status=404),
    }
    with media_server(routes) as server:
        yield server


def test_fetch_streams_to_file(srv: MediaServer, tmp_path: Path) -> None:
    got = fetch_url(srv.url("/v.mp4"), tmp_path / "m", _limits())
    assert got.size_bytes == 5000 and got.path.read_bytes() == b"\x00" * 5000
    assert got.mime_type == "video/mp4"


def test_loopback_refused_without_allowlist(srv: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="loopback"):
        fetch_url(srv.url("/v.mp4"), tmp_path / "m", _limits(allowlist=Allowlist()))
    assert srv.hosts == []  # refused before connecting


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/to-metadata", "link-local"),
        ("/to-private", "private"),
        ("/to-file", "Only http and https"),
    ],
)
def test_redirect_hops_are_vetted(srv: MediaServer, tmp_path: Path, path: str, match: str) -> None:
    """Refused with INVALID_ARGUMENT (the policy), not UNAVAILABLE (a refused connect)."""
    with pytest.raises(errors.InvalidArgument, match=match):
        fetch_url(srv.url(path), tmp_path / "m", _limits())
    assert srv.hosts == [f"127.0.0.1:{srv.port}"]  # only the first hop was contacted
    assert not (tmp_path / "m").exists()


def test_relative_redirect_followed(srv: MediaServer, tmp_path: Path) -> None:
    got = fetch_url(srv.url("/relative"), tmp_path / "m", _limits())
    assert got.size_bytes == 5000 and got.final_url.endswith("/v.mp4")


def test_redirect_loop_bounded(srv: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="redirects"):
        fetch_url(srv.url("/loop"), tmp_path / "m", _limits(max_redirects=3))
    assert len(srv.hosts) == 4


def test_size_cap_from_content_length(srv: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(errors.PayloadTooLarge, match="larger"):
        fetch_url(srv.url("/big-announced"), tmp_path / "m", _limits(max_bytes=1000))


def test_size_cap_while_streaming(srv: MediaServer, tmp_path: Path) -> None:
    transport = httpx.HTTPTransport()
    with pytest.raises(errors.PayloadTooLarge):
        fetch_url(srv.url("/big"), tmp_path / "m", _limits(max_bytes=100_000), transport=transport)
    assert list(tmp_path.iterdir()) == []  # the partial file is gone


def test_size_cap_when_length_lies(tmp_path: Path) -> None:
    """A Content-Length under the cap does not let more bytes through."""

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from [b"x" * 700] * 8

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "10"}, stream=Body())

    with pytest.raises(errors.PayloadTooLarge):
        fetch_url(
            "http://127.0.0.1/x",
            tmp_path / "m",
            _limits(max_bytes=1000),
            transport=httpx.MockTransport(handler),
        )


def test_overall_deadline(srv: MediaServer, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded):
        fetch_url(srv.url("/slow"), tmp_path / "m", _limits(timeout_s=1.0))
    assert time.monotonic() - start < 3


def test_http_error_status(srv: MediaServer, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="HTTP 404"):
        fetch_url(srv.url("/missing"), tmp_path / "m", _limits())


def test_connection_refused_is_unavailable(tmp_path: Path) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(errors.Unavailable, match="Could not connect"):
        fetch_url(f"http://127.0.0.1:{port}/x", tmp_path / "m", _limits())


def test_dns_rebinding_uses_the_vetted_address(srv: MediaServer, tmp_path: Path) -> None:
    """The name is resolved once, by us; a second answer (private) is never asked for, and the
    connection goes to the vetted address while the Host header keeps the name."""
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), 2) - 1]

    got = fetch_url(
        srv.url("/v.mp4", host="rebind.test"), tmp_path / "m", _limits(), resolve=rebinding
    )
    assert got.size_bytes == 5000
    assert calls == ["rebind.test"]
    assert srv.hosts == [f"rebind.test:{srv.port}"]


def test_https_pins_the_ip_and_keeps_sni() -> None:
    target = _Target(
        httpx.URL("https://media.example:8443/v.mp4?x=1"), ipaddress.ip_address("93.184.216.34")
    )
    with httpx.Client() as client:
        request = _pinned_request(client, target, 5.0)
    assert request.url.host == "93.184.216.34" and request.url.port == 8443
    assert request.url.raw_path == b"/v.mp4?x=1"
    assert request.headers["Host"] == "media.example:8443"
    assert request.extensions["sni_hostname"] == "media.example"
    v6 = _Target(httpx.URL("https://media.example/v"), ipaddress.ip_address("2606:4700::1"))
    with httpx.Client() as client:
        request = _pinned_request(client, v6, 5.0)
    assert (
        str(request.url) == "https://[2606:4700::1]/v"
        and request.headers["Host"] == "media.example"
    )


def test_next_vetted_address_when_one_does_not_connect(srv: MediaServer, tmp_path: Path) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on .2

    limits = _limits(allowlist=Allowlist.parse(["127.0.0.0/8"]))
    got = fetch_url(srv.url("/v.mp4", host="two.test"), tmp_path / "m", limits, resolve=resolve)
    assert got.size_bytes == 5000 and srv.hosts == [f"two.test:{srv.port}"]
