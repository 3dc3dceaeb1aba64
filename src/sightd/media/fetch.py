"""Fetching media from http(s) URLs without becoming an SSRF proxy.

A URL in `fileData.fileUri` makes this server open a connection on a client's behalf, so every
hop is vetted the way vLLM's media connector learned to (its SSRF advisories): only http and
https; the host resolved *by us* and every address it resolves to checked (loopback, private,
CGNAT, link-local with the 169.254.169.254 metadata service, multicast, reserved, unspecified,
IPv6 ULA/link-local and IPv4 embedded in IPv6); the connection then made to the vetted address
itself (Host header and TLS SNI keep the name), so a second DNS answer cannot rebind it;
redirects followed by hand, each hop vetted again; bytes capped by Content-Length up front and
by counting the stream; one deadline for the whole fetch. An operator allowlist of hostnames and
CIDRs opens chosen private destinations (an internal media server).

The deadline is wall-clock, for the whole fetch: a timeout per read cannot stop a server that
drips a byte at a time (headers included), so a watchdog shuts the fetch's sockets down when the
deadline passes, and the fetch fails with DEADLINE_EXCEEDED then, not when the server is done.

Blocking by design (httpx's sync client): `services.url_media` runs it in threads of its own
(bounded), and the body streams to a file, never into memory.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sightd import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
"""(host, port) → the addresses it resolves to; raises `OSError` when it does not resolve."""

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
DNS_TIMEOUT_S = 10.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DNS_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="sightd-dns")


@dataclass(frozen=True)
class Allowlist:
    """Operator-chosen destinations that may be private: exact hosts, `.suffix` hosts, CIDRs."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if entry.startswith("."):
                    suffixes.append(entry)
                else:
                    hosts.add(entry)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(s) or host == s[1:] for s in self.suffixes)

    def address_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_s: float
    allowlist: Allowlist = field(default_factory=Allowlist)
    max_redirects: int = MAX_REDIRECTS


@dataclass(frozen=True)
class FetchedMedia:
    path: Path
    mime_type: str | None  # the Content-Type header, parameters dropped; bytes decide later
    size_bytes: int
    final_url: str


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a destination address is refused, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None:
            return blocked_reason(embedded)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (this includes cloud metadata services)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (getaddrinfo), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0], None)
    return list(seen)


@dataclass(frozen=True)
class _Target:
    url: httpx.URL  # the URL as given (for Host, SNI and redirects)
    ip: IPAddress  # the vetted address we connect to
    fallbacks: tuple[IPAddress, ...] = ()  # the other vetted addresses, tried in order


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def vet(url: str, allowlist: Allowlist, resolve: Resolver, deadline: float) -> _Target:
    """Parse, check the scheme, resolve and check every address; refuse before any connect."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise errors.InvalidArgument(f"Not a valid media URL: {url!r} ({exc}).") from exc
    scheme = parsed.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise errors.InvalidArgument(
            f"Only http and https media URLs can be fetched, not {scheme or 'this'}: {url}",
            reason="URL_SCHEME_REFUSED",
        )
    host = parsed.host
    if not host:
        raise errors.InvalidArgument(f"The media URL has no host: {url}")
    if parsed.userinfo:
        raise errors.InvalidArgument(f"Media URLs may not carry credentials: {parsed.host}")
    port = parsed.port or (443 if scheme == "https" else 80)
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = [
            ipaddress.ip_address(a) for a in resolve_with_timeout(host, port, resolve, deadline)
        ]
        if not addresses:
            raise errors.Unavailable(f"The media URL's host {host} did not resolve.")
    if not allowlist.host_allowed(host):
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason is not None and not allowlist.address_allowed(ip):
                shown = host if literal is not None else f"{host} ({ip})"
                raise errors.InvalidArgument(
                    f"Refusing to fetch {url}: {shown} is {reason}. Media URLs must point to "
                    "public hosts (an operator can allow others with url_allowlist).",
                    reason="URL_ADDRESS_REFUSED",
                )
    return _Target(parsed, addresses[0], tuple(addresses[1:3]))


def resolve_with_timeout(host: str, port: int, resolve: Resolver, deadline: float) -> list[str]:
    """Resolve with a time limit: getaddrinfo itself has none, and an offline box may hang."""
    wait = max(0.0, min(DNS_TIMEOUT_S, deadline - time.monotonic()))
    future = _DNS_POOL.submit(resolve, host, port)
    try:
        return future.result(timeout=wait)
    except concurrent.futures.TimeoutError as exc:
        raise errors.Unavailable(f"Resolving the media URL's host {host} timed out.") from exc
    except OSError as exc:
        raise errors.Unavailable(
            f"The media URL's host {host} could not be resolved ({exc}); is this server "
            "offline? Upload the media with the Files API instead."
        ) from exc


def _pinned_request(
    client: httpx.Client,
    target: _Target,
    remaining: float,
    trace: Callable[[str, dict[str, object]], None] | None = None,
) -> httpx.Request:
    """A GET to the vetted IP that still names the host (Host header, TLS SNI + cert check)."""
    url = target.url
    pinned = url.copy_with(host=str(target.ip))
    authority = url.netloc.decode("ascii").rsplit("@", 1)[-1]
    extensions: dict[str, object] = {"sni_hostname": url.host}
    if trace is not None:
        extensions["trace"] = trace
    return client.build_request(
        "GET",
        pinned,
        headers={"Host": authority, "Accept": "*/*", "Accept-Encoding": "identity"},
        extensions=extensions,
        timeout=httpx.Timeout(max(remaining, 0.001)),
    )


class _Watchdog:
    """Shuts down the fetch's sockets at its deadline, waking a read blocked on a slow server.

    httpcore reports each new connection to the request's `trace` extension; the socket is
    kept, and at the deadline `shutdown` ends any read or write on it at once.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.name = "sightd-fetch-deadline"
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    @property
    def expired(self) -> bool:
        return self._fired or time.monotonic() >= self.deadline

    def trace(self, event: str, info: dict[str, object]) -> None:
        if event != "connection.connect_tcp.complete":
            return
        get_info = getattr(info.get("return_value"), "get_extra_info", None)
        sock = get_info("socket") if get_info is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if not self._fired:
                self._sockets.append(sock)
                return
        _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def fetch_url(
    url: str,
    dest: Path,
    limits: FetchLimits,
    *,
    resolve: Resolver = system_resolve,
    transport: httpx.BaseTransport | None = None,
) -> FetchedMedia:
    """Download `url` to `dest` under the SSRF policy and `limits`; errors are `SightdError`s.

    `limits.timeout_s` bounds the whole fetch by the wall clock: past it the connection is cut
    and the fetch raises `DeadlineExceeded`, however the server paces its bytes."""
    deadline = time.monotonic() + limits.timeout_s
    with _Watchdog(deadline) as watchdog:
        try:
            return _fetch(url, dest, limits, resolve, transport, watchdog)
        except (errors.SightdError, httpx.HTTPError) as exc:
            if watchdog.expired and not isinstance(exc, errors.DeadlineExceeded):
                raise _timeout(url, limits) from exc
            raise


def _fetch(
    url: str,
    dest: Path,
    limits: FetchLimits,
    resolve: Resolver,
    transport: httpx.BaseTransport | None,
    watchdog: _Watchdog,
) -> FetchedMedia:
    deadline = watchdog.deadline
    current = url
    with httpx.Client(
        trust_env=False,  # a proxy would connect by name and undo the pinning
        follow_redirects=False,
        transport=transport,
        headers={"User-Agent": "sightd (media fetch)"},
    ) as client:
        for _ in range(limits.max_redirects + 1):
            target = vet(current, limits.allowlist, resolve, deadline)
            response = _connect(client, target, watchdog, url, limits)
            try:
                if response.status_code in REDIRECT_CODES:
                    location = response.headers.get("location")
                    if not location:
                        raise errors.InvalidArgument(f"{current} redirected without a Location.")
                    current = str(target.url.join(location))
                    continue
                if response.status_code >= 400:
                    raise errors.InvalidArgument(
                        f"Fetching {url} failed: the server answered HTTP {response.status_code}."
                    )
                size = _stream_to(response, dest, limits, watchdog, url)
            finally:
                response.close()
            content_type = response.headers.get("content-type")
            mime = content_type.split(";", 1)[0].strip().lower() if content_type else None
            return FetchedMedia(dest, mime or None, size, current)
    raise errors.InvalidArgument(f"Fetching {url} took more than {limits.max_redirects} redirects.")


def _connect(
    client: httpx.Client, target: _Target, watchdog: _Watchdog, url: str, limits: FetchLimits
) -> httpx.Response:
    """Send the GET to each vetted address in turn until one connects (IPv6 may have no route)."""
    failure: httpx.HTTPError | None = None
    for ip in (target.ip, *target.fallbacks):
        pinned = _Target(target.url, ip)
        remaining = watchdog.deadline - time.monotonic()
        try:
            return client.send(
                _pinned_request(client, pinned, remaining, watchdog.trace), stream=True
            )
        except httpx.TimeoutException as exc:
            raise _timeout(url, limits) from exc
        except httpx.ConnectError as exc:
            failure = exc
        except httpx.HTTPError as exc:
            failure = exc
            break
    raise errors.Unavailable(
        f"Could not connect to {target.url.host} to fetch {url} ({failure})."
    ) from failure


def _stream_to(
    response: httpx.Response, dest: Path, limits: FetchLimits, watchdog: _Watchdog, url: str
) -> int:
    """Write the body to `dest` (via a .part file), enforcing the byte cap and the deadline."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(url, limits)
    partial = dest.with_name(dest.name + ".part")
    size = 0
    try:
        with partial.open("wb") as fh:
            for chunk in response.iter_raw():  # as received: a chunk size would buffer
                size += len(chunk)
                if size > limits.max_bytes:
                    raise _too_large(url, limits)
                if watchdog.expired:
                    raise _timeout(url, limits)
                fh.write(chunk)
        if watchdog.expired:  # a cut connection can look like the end of the body
            raise _timeout(url, limits)
        partial.replace(dest)
    except httpx.TimeoutException as exc:
        raise _timeout(url, limits) from exc
    except httpx.HTTPError as exc:
        raise errors.Unavailable(f"The connection broke while fetching {url} ({exc}).") from exc
    finally:
        partial.unlink(missing_ok=True)
    return size


def _too_large(url: str, limits: FetchLimits) -> errors.SightdError:
    return errors.PayloadTooLarge(
        f"The media at {url} is larger than this server fetches ({limits.max_bytes} bytes); "
        "upload it with the Files API instead."
    )


def _timeout(url: str, limits: FetchLimits) -> errors.SightdError:
    return errors.DeadlineExceeded(f"Fetching {url} took longer than {limits.timeout_s:g} s.")
