"""The Files API and the resumable-upload protocol again, with the files' bytes in S3 (moto in
server mode) instead of a local folder: the same tests, a different `files_server`."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_files_protocol import (
    test_big_chunk_at_wrong_offset_gets_a_clean_400,
    test_chunk_errors_are_final,
    test_chunks_resend_query_and_finalize,
    test_failed_file_has_error_object,
    test_media_upload,
    test_zero_byte_file_is_one_empty_finalize,
)
from tests.api.test_files_sdk import test_upload_png_get_delete
from tests.live import LiveServer
from tests.s3 import new_bucket, s3_endpoint  # noqa: F401  (the moto server fixture)

__all__ = [
    "test_big_chunk_at_wrong_offset_gets_a_clean_400",
    "test_chunk_errors_are_final",
    "test_chunks_resend_query_and_finalize",
    "test_failed_file_has_error_object",
    "test_media_upload",
    "test_upload_png_get_delete",
    "test_zero_byte_file_is_one_empty_finalize",
]


@pytest.fixture
def files_server(
    make_files_server: Callable[..., LiveServer],
    s3_endpoint: str,  # noqa: F811
) -> LiveServer:
    client, bucket = new_bucket(s3_endpoint)
    server = make_files_server(
        blob_store="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_part_bytes=5 * 1024 * 1024,  # 8 MiB chunks straddle 5 MiB parts
    )
    server.s3 = (client, bucket)  # type: ignore[attr-defined]
    return server


def test_the_bytes_are_in_the_bucket(files_server: Any) -> None:
    """Guard for this module: the server above really stores in S3, not on local disk."""
    blobs = files_server.settings.data_dir / "blobs"
    test_media_upload(files_server)
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


def test_sdk_upload_in_8mib_chunks_lands_as_one_object(
    files_client: Any, files_server: Any, tmp_path: Path
) -> None:
    data = os.urandom(20 * 1024 * 1024 + 7)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    uploaded = files_client.files.upload(
        file=str(path), config={"mime_type": "application/octet-stream"}
    )
    assert uploaded.size_bytes == len(data)
    assert base64.b64decode(uploaded.sha256_hash).decode() == hashlib.sha256(data).hexdigest()
    client, bucket = files_server.s3
    listing = client.list_objects_v2(Bucket=bucket, Prefix="sightd/")["Contents"]
    assert [o["Size"] for o in listing] == [len(data)]  # one object; no partial left behind
    got = client.get_object(Bucket=bucket, Key=listing[0]["Key"])
    assert got["ETag"].strip('"').endswith("-5")  # 4 parts of 5 MiB and the rest
    assert got["Body"].read() == data
