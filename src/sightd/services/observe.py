"""What services report to whoever watches them (the API's `/metrics`), without importing it.

Services own this narrow protocol; `api/metrics.py`'s `Metrics` satisfies it structurally and is
handed in by `open_services(..., observer=...)`. Calls happen on the event loop (a decode is
timed around its `to_thread`), so an observer needs no lock. `NULL_OBSERVER` is the default
(CLI, unit tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Observer(Protocol):
    def tokens_used(self, prompt_by_modality: Mapping[str, int], output: int) -> None:
        """Tokens of one generation step: prompt tokens by Gemini modality (TEXT, IMAGE, VIDEO,
        AUDIO) once per generation, output tokens per finished candidate (countTokens never
        reports)."""

    def media_decoded(self, kind: str, duration_s: float) -> None:
        """One media part decoded for a prompt: `kind` is `image` or `video`."""


class _NullObserver:
    def tokens_used(self, prompt_by_modality: Mapping[str, int], output: int) -> None:
        pass

    def media_decoded(self, kind: str, duration_s: float) -> None:
        pass


NULL_OBSERVER: Observer = _NullObserver()
