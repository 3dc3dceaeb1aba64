"""Incremental detokenisation and stop sequences, without a model (table-driven)."""

from __future__ import annotations

import pytest

from sightd.engine.decoding import IncrementalDecoder, StopScanner


def _byte_decoder(ids: list[int]) -> str:
    """Token id = one byte, like byte-level BPE with a vocabulary of single bytes."""
    return bytes(ids).decode("utf-8", errors="replace")


def test_incremental_decoder_waits_for_whole_characters() -> None:
    decoder = IncrementalDecoder(_byte_decoder)
    out = [decoder.push([b]) for b in "aé€b".encode()]
    assert "".join(out) == "aé€b"
    assert "\ufffd" not in "".join(out)
    assert out[:3] == ["a", "", "é"]  # é is two bytes: nothing until the second arrives


def test_incremental_decoder_flushes_an_unfinished_character() -> None:
    decoder = IncrementalDecoder(_byte_decoder)
    assert decoder.push([0x6F]) == "o"
    assert decoder.push([0xE2]) == ""  # first byte of a 3-byte character
    assert decoder.flush() == "\ufffd"
    assert decoder.flush() == ""


@pytest.mark.parametrize(
    ("chunks", "stops", "emitted", "stopped"),
    [
        (["hello world"], (), "hello world", False),
        (["hello ", "wor", "ld"], ("world",), "hello ", True),
        (["ab", "cX", "Yd"], ("XY",), "abc", True),  # spans two chunks
        (["ab", "X", "Z"], ("XY",), "abXZ", False),  # a false start is released
        (["one. two."], (".", "two"), "one", True),  # earliest match wins
        (["END at start"], ("END",), "", True),
        (["tail X"], ("XYZ",), "tail X", False),  # held-back tail released by finish()
        (["", "", "x"], ("",), "x", False),  # empty stop sequences are ignored
    ],
)
def test_stop_scanner(
    chunks: list[str], stops: tuple[str, ...], emitted: str, stopped: bool
) -> None:
    scanner = StopScanner(stops)
    out = "".join(scanner.feed(c) for c in chunks) + scanner.finish()
    assert out == emitted
    assert scanner.stopped is stopped


def test_stop_scanner_holds_back_only_a_possible_prefix() -> None:
    scanner = StopScanner(("<stop>",))
    assert scanner.feed("abc<st") == "abc"
    assert scanner.feed("x") == "<stx"


def test_stop_scanner_ignores_text_after_a_stop() -> None:
    scanner = StopScanner(("!",))
    assert scanner.feed("hi! there") == "hi"
    assert scanner.feed("more") == ""
    assert scanner.finish() == ""


def test_stop_scanner_strips_leading_space_once() -> None:
    scanner = StopScanner((), strip_leading_space=True)
    assert scanner.feed(" ") == ""
    assert scanner.feed("  Hi there") == "Hi there"
    assert scanner.feed(" again") == " again"
