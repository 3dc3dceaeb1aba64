"""`sightd serve` as a real subprocess on a free loopback port: for tests that must measure the
server's own memory, or kill it with SIGKILL (in-process servers are `tests.live.LiveServer`)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`sightd serve --data-dir DATA_DIR --<setting> <value>…`, started and waited for until
    `ready_path` answers 200 (`/livez`: up; `/readyz`: the model loaded too)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        ready_path: str = "/livez",
        timeout_s: float = 90.0,
        **settings: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable,
            "-c",
            "from sightd.cli import main; raise SystemExit(main())",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ]
        for name, value in settings.items():
            args += ["--" + name.replace("_", "-"), value]
        self.log_path = data_dir / "serve.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sightd serve exited: {self.log_path.read_text()}")
            try:
                if httpx.get(self.url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sightd serve was not ready: {self.log_path.read_text()}")
            time.sleep(0.2)

    def memory_bytes(self, key: str) -> int:
        """`VmRSS` (now) or `VmHWM` (peak since the last `reset_peak`) of the server."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"{key} not in /proc/{self.proc.pid}/status")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
