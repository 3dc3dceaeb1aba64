"""An S3 API server for the tests: moto in server mode on a free loopback port, once per
session, so the blob store is exercised through the same boto3 client code (HTTP, signing,
multipart) a user points at AWS S3, MinIO or R2. Import `s3_endpoint` into a test module (or a
conftest) to use it; `new_bucket` makes an empty bucket per test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on loopback; fake credentials in the environment (the AWS
    chain sightd uses reads them from there, as it would real ones)."""
    moto_server = pytest.importorskip("moto.server", reason="moto missing (the dev extra)")
    saved = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def new_bucket(endpoint: str) -> tuple[Any, str]:
    """(a boto3 client, the name of a new empty bucket) on the moto server."""
    from sightd.storage.s3 import make_client

    client = make_client(endpoint, "us-east-1")
    bucket = f"sightd-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket
