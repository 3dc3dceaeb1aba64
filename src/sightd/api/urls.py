"""Absolute URLs the client can reach as written (upload URLs, file URIs).

The Python SDK posts chunks to the upload URL verbatim, so it must carry the scheme, host, port
and path prefix the client used: a configured public base URL wins, else the request's
X-Forwarded-* / Host headers.
"""

from __future__ import annotations

from fastapi import Request

from sightd.settings import Settings


def public_base_url(request: Request, settings: Settings) -> str:
    """`scheme://host[:port][/prefix]` with no trailing slash."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    headers = request.headers
    proto = headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = headers.get("x-forwarded-host") or headers.get("host") or request.url.netloc
    host = host.split(",")[0].strip()
    prefix = headers.get("x-forwarded-prefix", "").rstrip("/")
    if settings.path_prefix and request.url.path.startswith(settings.path_prefix + "/"):
        prefix += settings.path_prefix
    return f"{proto}://{host}{prefix}"
