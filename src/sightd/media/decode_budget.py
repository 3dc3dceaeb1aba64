"""A process-wide budget of decoded-pixel bytes, shared by every image decode in the process.

A tiny file can declare a huge image (a 34-byte lossless WEBP or a 200 kB PNG of 10,000 ×
10,000), so what an image costs is judged by the bytes its decode will hold at its peak, from the
header and the size the model needs (`image.decode_cost_bytes`), never by its file size:

- an image whose decode would need more than `per_image_bytes` (or more than the whole budget)
  can never be decoded here: `InvalidArgument` (a 400 naming the field) before any pixel is read;
- otherwise the decode reserves its bytes before it starts and gives them back when it ends;
  while concurrent decodes hold too much of the budget it waits, up to `wait_s`, and then answers
  `Unavailable` (a 503 with a retry hint) rather than letting the process grow past the budget.

Blocking (a `threading.Condition`): decodes run in worker threads (generation and Files API
processing alike), and a waiter holds its thread only up to `wait_s`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sightd.errors import InvalidArgument, Unavailable

MiB = 1024 * 1024
DEFAULT_BUDGET_BYTES = 320 * MiB
DEFAULT_PER_IMAGE_BYTES = 256 * MiB
DEFAULT_WAIT_S = 30.0
BUSY_RETRY_S = 2.0


def _mib(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"


class DecodeBudget:
    """Bytes of decoded pixels the process's image decodes may hold at once."""

    def __init__(
        self,
        total_bytes: int = DEFAULT_BUDGET_BYTES,
        per_image_bytes: int = DEFAULT_PER_IMAGE_BYTES,
        wait_s: float = DEFAULT_WAIT_S,
    ) -> None:
        if total_bytes <= 0 or per_image_bytes <= 0:
            raise ValueError("decode budgets must be positive")
        self.total_bytes = total_bytes
        self.per_image_bytes = min(per_image_bytes, total_bytes)
        self.wait_s = wait_s
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used_bytes(self) -> int:
        with self._cond:
            return self._used

    def check(self, cost_bytes: int, what: str, field: str) -> None:
        """`InvalidArgument` naming `field` when one decode of `cost_bytes` can never fit."""
        if cost_bytes > self.per_image_bytes:
            raise InvalidArgument(
                f"image too large to decode: {what} needs about {_mib(cost_bytes)} of decoded "
                f"pixels, over the limit of {_mib(self.per_image_bytes)} per image; send a "
                "smaller image",
                field=field or None,
            )

    @contextmanager
    def reserve(
        self, cost_bytes: int, what: str, field: str, wait_s: float | None = None
    ) -> Iterator[None]:
        """Hold `cost_bytes` of the budget for the duration of the block.

        Raises `InvalidArgument` when the cost can never fit, `Unavailable` when it does not fit
        within `wait_s` (default: the budget's) because other decodes hold the budget.
        """
        self.check(cost_bytes, what, field)
        cost_bytes = max(0, cost_bytes)
        deadline = time.monotonic() + (self.wait_s if wait_s is None else wait_s)
        with self._cond:
            while self._used + cost_bytes > self.total_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(
                        "the server is busy decoding other images; retry shortly",
                        retry_after_s=BUSY_RETRY_S,
                        reason="IMAGE_DECODE_BUSY",
                    )
                self._cond.wait(left)
            self._used += cost_bytes
        try:
            yield
        finally:
            with self._cond:
                self._used -= cost_bytes
                self._cond.notify_all()
