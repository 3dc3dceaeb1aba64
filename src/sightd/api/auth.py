"""API keys: `x-goog-api-key` header or `?key=`. Each key owns its files and interactions; the
owner id stored in SQL is a hash, never the key itself. With no keys configured every caller is
the same anonymous owner (and the server binds to loopback, see cli.serve).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request

from sightd import errors
from sightd.settings import Settings

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Caller:
    """Who is calling: `owner` scopes stored resources."""

    owner: str


def owner_of(key: str) -> str:
    """Stable, non-reversible owner id for an API key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def authenticate(settings: Settings, key: str | None) -> Caller:
    """Check `key` against the configured keys (constant-time)."""
    if not settings.auth_enabled:
        return Caller(ANONYMOUS)
    if not key:
        raise errors.Unauthenticated(
            "Method doesn't allow unregistered callers. Please pass an API key in the "
            "x-goog-api-key header or the key query parameter.",
            reason="API_KEY_MISSING",
        )
    key = key.strip()
    ok = False
    for allowed in settings.api_keys:
        ok |= hmac.compare_digest(allowed.encode(), key.encode())
    if not ok:
        raise errors.InvalidArgument(
            "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
        )
    return Caller(owner_of(key))


def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller of this request."""
    settings: Settings = request.app.state.settings
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    return authenticate(settings, key)
