"""Base64 payloads (`inlineData.data`), decoded the way Google's JSON parser accepts them:
standard or URL-safe alphabet, padding optional, whitespace and line breaks ignored.

pybase64 decodes 100 MB in ~0.05 s where the standard library takes ~0.45 s, so it is used when
installed. The common case (standard alphabet, padded, one line) takes one strict pass; only
inputs that fail it are normalised (whitespace dropped, URL-safe alphabet mapped, padding
restored: ~0.3 s more for 100 MB) and tried again.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

from sightd.errors import InvalidArgument

_decode: Callable[..., bytes]
try:
    import pybase64

    _decode = pybase64.b64decode
except ImportError:  # pragma: no cover - pybase64 is a dependency; the stdlib is the fallback
    import base64

    _decode = base64.b64decode

_WHITESPACE = b" \t\n\r\v\f"
_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")
_ECHO_CHARS = 40


def _invalid(data: str, field: str) -> InvalidArgument:
    shown = data[:_ECHO_CHARS] + ("..." if len(data) > _ECHO_CHARS else "")
    return InvalidArgument(
        f"Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed for \"{shown}\"",
        field=field or None,
    )


def decode_base64(data: str, field: str) -> bytes:
    """Decode `data`; `field` names the request field in the error (e.g.
    `contents[0].parts[1].inline_data.data`). Invalid input raises `InvalidArgument`."""
    try:
        return _decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        raw = data.encode("ascii")
    except UnicodeEncodeError:
        raise _invalid(data, field) from None
    raw = raw.translate(_URLSAFE_TO_STD, _WHITESPACE)
    if len(raw) % 4:  # unpadded or oddly padded: re-pad (copies, so only when needed)
        raw = raw.rstrip(b"=")
        if len(raw) % 4 == 1:  # one leftover character encodes less than a byte
            raise _invalid(data, field)
        raw += b"=" * (-len(raw) % 4)
    try:
        return _decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(data, field) from exc
