"""The URL fetch deadline is wall-clock for the whole fetch: a server that drips its headers or
its body a byte at a time (each read well inside any per-read timeout) is cut at the deadline,
and the fetch fails with DEADLINE_EXCEEDED then (issue 9, "Slow media URLs")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sightd import errors
from sightd.media.fetch import Allowlist, FetchLimits, fetch_url
from tests.drip_server import drip_server

DEADLINE_S = 1.0
SLACK_S = 0.5


@pytest.mark.parametrize(
    ("path", "interval_s"),
    [("/headers", 0.1), ("/body", 0.1), ("/body", 0.9)],
    ids=["headers-dripped", "body-dripped", "body-slow-drip"],
)
def test_drip_fed_url_cut_at_the_deadline(path: str, interval_s: float, tmp_path: Path) -> None:
    limits = FetchLimits(
        max_bytes=1 << 20, timeout_s=DEADLINE_S, allowlist=Allowlist.parse(["127.0.0.1/32"])
    )
    with drip_server(interval_s=interval_s, for_s=6.0) as server:
        started = time.monotonic()
        with pytest.raises(errors.DeadlineExceeded, match="took longer than 1 s"):
            fetch_url(server.url(path), tmp_path / "media", limits)
        took_s = time.monotonic() - started
    assert DEADLINE_S - 0.05 <= took_s < DEADLINE_S + SLACK_S, f"cut after {took_s:.2f} s"
    assert not (tmp_path / "media").exists()
