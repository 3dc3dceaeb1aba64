"""Token ids → text deltas, with stop sequences, shared by `generate` and `stream`.

Pure Python (no torch), so the tricky string logic is unit-testable on its own:
* `IncrementalDecoder` turns one token at a time into text without emitting half a UTF-8
  character (byte-level BPE splits multi-byte characters across tokens).
* `StopScanner` finds stop sequences even when they span tokens, and holds back only the tail
  that could still grow into one, so streamed text never contains (part of) a stop sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT_CHAR = "\ufffd"


class IncrementalDecoder:
    """Decode a growing token sequence into deltas (the prefix/read-offset scheme vLLM uses).

    Each step decodes a short window instead of the whole sequence, and waits while the window
    ends in an incomplete character.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def push(self, ids: Sequence[int]) -> str:
        """Add tokens; return the text they complete ("" while a character is unfinished)."""
        self._ids.extend(ids)
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        text = self._decode(self._ids[self._prefix_offset :])
        if len(text) > len(prefix) and not text.endswith(REPLACEMENT_CHAR):
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
            return text[len(prefix) :]
        return ""

    def flush(self) -> str:
        """Whatever is left at the end, unfinished characters included (as U+FFFD)."""
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        text = self._decode(self._ids[self._prefix_offset :])
        self._prefix_offset = self._read_offset = len(self._ids)
        return text[len(prefix) :] if len(text) > len(prefix) else ""


class StopScanner:
    """Cut the output at the first stop sequence, holding back text that may start one."""

    def __init__(self, stop_sequences: Sequence[str], *, strip_leading_space: bool = False) -> None:
        self._stops = tuple(s for s in stop_sequences if s)
        self._pending = ""
        self._strip = strip_leading_space
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add new text; return the part that is safe to emit now. Sets `stopped` on a match."""
        if self.stopped:
            return ""
        buf = self._pending + text
        if self._strip:
            buf = buf.lstrip()
            self._strip = not buf
        hits = [i for i in (buf.find(s) for s in self._stops) if i >= 0]
        if hits:
            self.stopped = True
            self._pending = ""
            return buf[: min(hits)]
        keep = self._partial_tail(buf)
        self._pending = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def finish(self) -> str:
        """The held-back tail once generation ended without completing a stop sequence."""
        tail, self._pending = ("" if self.stopped else self._pending), ""
        return tail

    def _partial_tail(self, buf: str) -> int:
        """Length of the longest suffix of `buf` that is a proper prefix of a stop sequence."""
        best = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(buf)), best, -1):
                if buf.endswith(stop[:length]):
                    best = length
                    break
        return best
