"""Hugging Face `transformers serve` as a test upstream: an OpenAI-compatible chat-completions
server on a loopback port, run from its own venv (see setup_transformers_serve.sh) so that its
torch/torchvision do not have to match the project's.

    server = start_transformers_serve(model_dir)
    httpx.post(f"{server.url}/chat/completions", json={"model": server.model, ...})
    server.stop()

The server is pinned to one model folder (the positional `force_model`): requests must name
exactly that path as `model` (or leave `model` out), anything else is a 400.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

SETUP_SCRIPT = Path(__file__).with_name("setup_transformers_serve.sh")
SETUP_TIMEOUT_S = 1200.0
READY_TIMEOUT_S = 180.0


@functools.cache
def serve_python() -> Path:
    """The python of the upstream's venv, building the venv on first use (minutes)."""
    done = subprocess.run(
        ["bash", str(SETUP_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr[-4000:]
        raise RuntimeError(f"{SETUP_SCRIPT.name} failed ({done.returncode}):\n{tail}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def suppress_markup_tokens(model_dir: Path) -> None:
    """Make a random-weight model folder safe to serve: forbid every added token but EOS.

    `transformers serve` parses Qwen-family output for `<think>` and `<tool_call>` regions; a
    random model emits those tokens by chance, and then answers 500 (a tool call that is not
    JSON) or moves text to `reasoning_content`. With them suppressed (generation_config.json
    `suppress_tokens`, which the server applies to every request) answers are plain text.
    """
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    config_path = model_dir / "generation_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    eos = config.get("eos_token_id")
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    added = {token["id"] for token in tokenizer.get("added_tokens", [])}
    config["suppress_tokens"] = sorted(added - eos_ids)
    config_path.write_text(json.dumps(config, indent=2) + "\n")


class TransformersServe:
    """One `transformers serve` subprocess; restartable on the same port."""

    def __init__(
        self,
        python: Path,
        model_dir: Path,
        port: int,
        log_path: Path,
        device: str = "cpu",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.python = python
        self.model_dir = model_dir
        self.port = port
        self.log_path = log_path
        self.device = device
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    @property
    def url(self) -> str:
        """Base URL of the OpenAI API, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        """The name to send as `model`: the folder path exactly as the server was given it."""
        return str(self.model_dir)

    def command(self) -> list[str]:
        return [
            str(self.python.parent / "transformers"),
            "serve",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            self.device,
            *self.extra_args,
        ]

    def env(self) -> dict[str, str]:
        av_libs = sorted(self.python.parent.parent.glob("lib/python3*/site-packages/av.libs"))
        env = {
            "PATH": f"{self.python.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/tmp"),
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
            "LANG": "C.UTF-8",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "OMP_WAIT_POLICY": "PASSIVE",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            # torchcodec (audio of videos) finds FFmpeg in PyAV's wheel: see the setup script.
            "LD_LIBRARY_PATH": ":".join(str(path) for path in av_libs),
        }
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        return env

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        if self.running():
            raise RuntimeError(f"transformers serve already running on port {self.port}")
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        self._wait_ready(started + timeout_s)
        self.startup_s = time.monotonic() - started

    def _wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited with {self.process.returncode} before it was "
                    f"ready; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(
            f"transformers serve not ready on port {self.port}; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            # Its own session (start_new_session), so the group is this server alone.
            os.killpg(self.process.pid, sig)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after timeout_s."""
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait(10)

    def restart(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Stop (if running) and start again on the same port."""
        self.stop()
        self.start(timeout_s)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> TransformersServe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_transformers_serve(
    model_dir: Path,
    port: int | None = None,
    log_path: Path | None = None,
    *,
    device: str = "cpu",
    extra_args: tuple[str, ...] = (),
    timeout_s: float = READY_TIMEOUT_S,
) -> TransformersServe:
    """Start `transformers serve` pinned to model_dir and wait until /health answers 200.

    Builds the upstream venv first if needed. Raises RuntimeError with the log's tail when the
    server exits or is not ready within timeout_s.
    """
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="transformers-serve-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    server = TransformersServe(
        serve_python(),
        Path(model_dir).absolute(),
        port if port is not None else free_port(),
        log_path,
        device=device,
        extra_args=extra_args,
    )
    server.start(timeout_s)
    return server
