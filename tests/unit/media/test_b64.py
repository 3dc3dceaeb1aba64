"""Base64 as Google's JSON parser takes it, with pybase64 and with the stdlib fallback."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from sightd.errors import InvalidArgument
from sightd.media import b64

FIELD = "contents[0].parts[0].inline_data.data"
DATA = bytes(range(256)) * 3 + b"\xfb\xff\xfe"  # exercises '+', '/', '-', '_' and padding


def wrapped(text: str, width: int = 76, sep: str = "\n") -> str:
    return sep.join(text[i : i + width] for i in range(0, len(text), width))


STD = base64.b64encode(DATA).decode()
URLSAFE = base64.urlsafe_b64encode(DATA).decode()


@pytest.fixture(params=["pybase64", "stdlib"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "stdlib":
        monkeypatch.setattr(b64, "_decode", base64.b64decode)
    else:
        pytest.importorskip("pybase64")
    yield request.param


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (STD, DATA),
        (URLSAFE, DATA),
        (STD.rstrip("="), DATA),
        (URLSAFE.rstrip("="), DATA),
        (wrapped(STD), DATA),
        (wrapped(STD, sep="\r\n") + "\r\n", DATA),
        (wrapped(URLSAFE, 60, " \t"), DATA),
        ("  " + STD + "\n", DATA),
        ("", b""),
        ("QQ==", b"A"),
        ("QQ", b"A"),
        ("QQ=", b"A"),  # partial padding, like none
        ("QUI", b"AB"),
        ("QUJD", b"ABC"),
        ("-_-_", base64.b64decode("+/+/")),
    ],
)
def test_decode_base64(decoder: str, text: str, expected: bytes) -> None:
    assert b64.decode_base64(text, FIELD) == expected


@pytest.mark.parametrize(
    "text",
    [
        "!!!!",
        "QQ==QQ==",  # padding only at the end
        "Q",  # one leftover character cannot encode a byte
        "QUJDR",
        "QUJD\x00",
        "héllo",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_decode_base64_rejects(decoder: str, text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        b64.decode_base64(text, FIELD)
    assert info.value.message.startswith(
        f"Invalid value at '{FIELD}' (TYPE_BYTES), Base64 decoding failed for "
    )
    assert info.value.field == FIELD


def test_error_echo_is_truncated() -> None:
    with pytest.raises(InvalidArgument) as info:
        b64.decode_base64("!" * 10_000, FIELD)
    assert len(info.value.message) < 200
    assert info.value.message.endswith('..."')


def test_large_payload_round_trip() -> None:
    data = bytes(range(256)) * 40_000  # 10 MB
    encoded = base64.b64encode(data).decode()
    assert b64.decode_base64(encoded, FIELD) == data
    assert b64.decode_base64(wrapped(encoded), FIELD) == data


def test_uses_pybase64_when_installed() -> None:
    pybase64 = pytest.importorskip("pybase64")
    decode: Callable[..., bytes] = b64._decode
    assert decode is pybase64.b64decode
