"""`make_blob_store`: the one place the blob store is chosen from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightd.services.wiring import make_blob_store
from sightd.settings import Settings
from sightd.storage.blobs import LocalBlobStore


def test_local_is_the_default(tmp_path: Path) -> None:
    store = make_blob_store(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"


def test_s3_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="s3-bucket"):
        make_blob_store(Settings(data_dir=tmp_path, blob_store="s3"))


def test_s3_store_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    from sightd.storage.s3 import S3BlobStore

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    settings = Settings(
        data_dir=tmp_path,
        blob_store="s3",
        s3_bucket="b",
        s3_prefix="/team/sightd/",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_region="eu-west-1",
        s3_part_bytes=6 * 1024 * 1024,
    )
    store = make_blob_store(settings)  # builds a client; no request is made
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.part_bytes) == ("b", "team/sightd/", 6 * 1024**2)
    assert store.client.meta.region_name == "eu-west-1"
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert store.cache_dir == tmp_path / "s3" / "cache"


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(s3_part_bytes=4 * 1024 * 1024)
