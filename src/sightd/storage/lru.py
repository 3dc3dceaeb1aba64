"""Size bounds for on-disk caches made of one folder per entry (the media and URL caches).

An entry's last use is the mtime of its folder, which `touch` sets on every reuse; `evict` walks
the cache and deletes least-recently-used entries until the total is within `max_bytes`. Folders
whose names start with "." (downloads in flight) count toward the total but are never evicted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def touch(folder: Path) -> None:
    """Mark `folder` as used now (missing is fine)."""
    with contextlib.suppress(OSError):
        os.utime(folder)


def _size_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def evict(
    root: Path,
    max_bytes: int,
    *,
    keep: str | None = None,
    on_evict: Callable[[str], None] = lambda name: None,
) -> int:
    """Delete least-recently-used entries of `root` until it holds at most `max_bytes` (never
    the entry named `keep`: the one in use); returns how many were deleted."""
    entries: list[tuple[float, str, int]] = []
    total = 0
    try:
        children = list(root.iterdir())
    except OSError:
        return 0
    for child in children:
        try:
            used = child.stat().st_mtime
        except OSError:
            continue
        size = _size_bytes(child) if child.is_dir() else 0
        total += size
        if not child.name.startswith(".") and child.name != keep and child.is_dir():
            entries.append((used, child.name, size))
    removed = 0
    for _used, name, size in sorted(entries):
        if total <= max_bytes:
            break
        shutil.rmtree(root / name, ignore_errors=True)
        on_evict(name)
        total -= size
        removed += 1
    if removed:
        log.info("%s: evicted %d least-recently-used entries", root.name, removed)
    return removed
