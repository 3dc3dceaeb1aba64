"""Start and stop llama.cpp's `llama-server` on a converted GGUF + mmproj pair, for tests.

    server = start_llama_server(model_gguf, mmproj_gguf, log_path=tmp_path / "llama.log")
    ... OpenAI client at server.url ("http://127.0.0.1:PORT/v1"), model=server.model ...
    server.kill(); server.restart(); server.stop()

The binary comes from `build_llama_server.sh` (built once into the test cache) unless
`LLAMA_SERVER_BIN` names one. It runs with one thread (`-t 1`: OpenMP/thread-pool spinning makes
CPU inference 10-30x slower when anything else uses the CPU) on 127.0.0.1, no web UI, offline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BUILD_SCRIPT = Path(__file__).with_name("build_llama_server.sh")


def llama_server_binary() -> Path:
    """Path of `llama-server`: $LLAMA_SERVER_BIN, else built (once, cached) by the script."""
    if os.environ.get("LLAMA_SERVER_BIN"):
        return Path(os.environ["LLAMA_SERVER_BIN"])
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class LlamaServer:
    """One `llama-server` process; `restart()` brings it back on the same port."""

    def __init__(
        self,
        binary: Path,
        gguf: Path,
        mmproj: Path,
        port: int,
        log_path: Path,
        *,
        model: str = "tiny",
        ctx_size: int = 4096,
        parallel: int = 2,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 120.0,
    ) -> None:
        self.binary, self.gguf, self.mmproj = Path(binary), Path(gguf), Path(mmproj)
        self.port, self.log_path, self.model = port, Path(log_path), model
        self.ctx_size, self.parallel, self.extra_args = ctx_size, parallel, list(extra_args)
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """OpenAI-compatible base URL (append /chat/completions, /models)."""
        return f"{self.base_url}/v1"

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "-m",
            str(self.gguf),
            "--mmproj",
            str(self.mmproj),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "-a",
            self.model,
            "-t",
            "1",
            "-tb",
            "1",
            "-c",
            str(self.ctx_size),
            "-np",
            str(self.parallel),
            "--no-webui",
            "--offline",
            *self.extra_args,
        ]

    def start(self) -> LlamaServer:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("llama-server is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        try:
            self.wait_ready(self.ready_timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll GET /health until 200 (it answers 503 while the model loads)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"llama-server exited with {self.proc.returncode} before it was ready "
                    f"({' '.join(self.command())}); log tail:\n{_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
                    last = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code} {e.read()[:200]!r}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.1)
        raise TimeoutError(
            f"llama-server on port {self.port} not healthy after {timeout:.0f}s (last: {last}); "
            f"log tail:\n{_tail(self.log_path)}"
        )

    def _signal(self, sig: int, wait: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 10 s."""
        self._signal(signal.SIGTERM, 10)

    def kill(self) -> None:
        """SIGKILL: the upstream vanishes mid-whatever."""
        self._signal(signal.SIGKILL, 10)

    def restart(self) -> LlamaServer:
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_llama_server(
    gguf: Path,
    mmproj: Path,
    port: int | None = None,
    log_path: Path | None = None,
    **options: Any,
) -> LlamaServer:
    """Start `llama-server` and wait until /health says ok.

    options: model (alias to send as `model`, default "tiny"), ctx_size (4096), parallel (2),
    extra_args, ready_timeout (120 s).
    """
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    server = LlamaServer(
        llama_server_binary(), gguf, mmproj, port or free_port(), log_path, **options
    )
    return server.start()
