"""1 GB upload through the official google-genai SDK: server memory and throughput.

Starts `sightd serve` as its own process (no model needed for uploads), writes a file of random
bytes, and reports in one run:
- the server's peak RSS growth during the upload (VmHWM after − VmRSS before), goal < 100 MB;
- upload throughput as a fraction of plain disk write speed (same size, same disk, 8 MiB
  writes + fsync), which is the ceiling for a server that streams to disk.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHUNK = 8 * 1024 * 1024


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_random(path: Path, size: int) -> float:
    """Write `size` random bytes with fsync; returns seconds (the disk-speed baseline)."""
    block = os.urandom(CHUNK)
    start = time.perf_counter()
    with path.open("wb") as f:
        written = 0
        while written < size:
            n = min(CHUNK, size - written)
            f.write(block[:n] if written % (3 * CHUNK) else os.urandom(n))
            written += n
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    from google import genai
    from google.genai import types

    with tempfile.TemporaryDirectory(prefix="sightd-bench-") as tmp:
        tmpdir = Path(tmp)
        source = tmpdir / "upload.bin"
        baseline = tmpdir / "baseline.bin"
        disk_s = _write_random(baseline, size)
        baseline.unlink()
        _write_random(source, size)
        port = _free_port()
        env = {
            **os.environ,
            "SIGHTD_DATA_DIR": str(tmpdir / "data"),
            "SIGHTD_HUB_OFFLINE": "1",
            "SIGHTD_MAX_FILE_BYTES": str(4 * 1024**3),
            "SIGHTD_LOG_LEVEL": "warning",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sightd.cli",
                "serve",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    raise SystemExit("server did not start")
                time.sleep(0.2)
            rss_before_kb = _status_kb(server.pid, "VmRSS")
            with contextlib.suppress(OSError):  # reset the peak: VmHWM then covers the upload
                Path(f"/proc/{server.pid}/clear_refs").write_text("5")
            client = genai.Client(api_key="bench", http_options=types.HttpOptions(base_url=url))
            start = time.perf_counter()
            uploaded = client.files.upload(
                file=str(source), config={"mime_type": "application/octet-stream"}
            )
            upload_s = time.perf_counter() - start
            peak_kb = _status_kb(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(10)
    growth_mb = (peak_kb - rss_before_kb) / 1024
    disk_mbps = args.size_mb / disk_s
    upload_mbps = args.size_mb / upload_s
    print(f"file: {args.size_mb} MB  ({uploaded.name}, {uploaded.size_bytes} bytes)")
    print(
        f"server RSS before upload: {rss_before_kb / 1024:.0f} MB; "
        f"peak during: {peak_kb / 1024:.0f} MB"
    )
    print(f"RSS growth: {growth_mb:.1f} MB (goal < 100 MB): {'OK' if growth_mb < 100 else 'OVER'}")
    print(
        f"disk write: {disk_mbps:.0f} MB/s; SDK upload: {upload_mbps:.0f} MB/s; "
        f"ratio upload/disk = {upload_mbps / disk_mbps:.2f}"
    )
    return 0 if growth_mb < 100 else 1


if __name__ == "__main__":
    raise SystemExit(main())
