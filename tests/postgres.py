"""A throwaway PostgreSQL server for the tests: `initdb` into a temp folder and `postgres` on a
free loopback port, once per session. initdb refuses to run as root, so as root the cluster is
created and run as the unprivileged `nobody` user (via runuser), with the data folder owned by it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sightd.storage.db import create_db


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL for a private PostgreSQL server started for this session."""
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not initdb or not postgres:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) are not installed")
    pytest.importorskip("psycopg", reason="psycopg missing (pip install 'sightd[postgres]')")
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as non-root")
        owner = pwd.getpwnam("nobody")
        prefix = [runuser, "-u", owner.pw_name, "--"]
    root = Path(tempfile.mkdtemp(prefix="sightd-pg-"))
    data = root / "data"
    data.mkdir()
    if owner is not None:
        for path in (root, data):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    subprocess.run(
        [
            *prefix,
            initdb,
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        cwd=root,
    )
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(
        [
            *prefix,
            postgres,
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(root),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text(errors="replace"))
            time.sleep(0.05)
        engine = create_db(url)
        deadline = time.monotonic() + 30
        while True:  # accepting TCP is not yet accepting queries
            try:
                with engine.connect():
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        engine.dispose()
        yield url
    finally:
        pg_ctl = _pg_bin("pg_ctl")
        if pg_ctl:  # a clean stop lets runuser reap the server, leaving no zombie behind
            subprocess.run(
                [*prefix, pg_ctl, "stop", "-D", str(data), "-m", "fast", "-w"],
                capture_output=True,
                cwd=root,
                timeout=30,
            )
        else:
            proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
