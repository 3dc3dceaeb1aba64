"""The S3 blob store against moto in server mode, through the boto3 client code a user points at
S3, MinIO or R2: part boundaries, resuming on another process after a re-send, rewinds past a
dead writer's bytes, ranged and cached reads, deletes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sightd import errors
from sightd.storage.s3 import S3BlobStore
from sightd.storage.uploads import UploadStore
from tests.s3 import new_bucket, s3_endpoint  # noqa: F401  (the moto server fixture)

MiB = 1024 * 1024
PART = 5 * MiB
DATA = os.urandom(13 * MiB + 12345)  # two full parts and a tail


@pytest.fixture
def store(s3_endpoint: str, tmp_path: Path) -> S3BlobStore:  # noqa: F811
    client, bucket = new_bucket(s3_endpoint)
    blobs = S3BlobStore(client, bucket, prefix="t/", work_dir=tmp_path / "s3", part_bytes=PART)
    blobs.ensure_dirs()
    return blobs


def _append(store: S3BlobStore, key: str, committed: int, data: bytes, piece: int = MiB) -> int:
    fh = store.open_append(key, committed)
    for i in range(0, len(data), piece):
        fh.write(data[i : i + piece])
    fh.close()
    return committed + len(data)


def _names(store: S3BlobStore, key: str) -> list[str]:
    return sorted(store._listing(key))


def _read_partial(store: S3BlobStore, key: str) -> bytes:
    out = bytearray()
    with store.open_partial(key) as fh:
        while data := fh.read(777_777):
            out += data
    return bytes(out)


def _object(store: S3BlobStore, blob_key: str) -> dict[str, Any]:
    return dict(store.client.get_object(Bucket=store.bucket, Key=store.prefix + blob_key))


@pytest.mark.parametrize(
    "cuts",
    [
        [len(DATA)],  # one request
        [8 * MiB, 16 * MiB],  # the SDKs' 8 MiB chunks (the last one short)
        [PART, 2 * PART],  # chunks ending exactly on part boundaries
        [1, PART - 1, PART + 1, 11 * MiB],  # every side of each boundary
    ],
)
def test_parts_and_tail_compose_into_one_multipart_object(
    store: S3BlobStore, cuts: list[int]
) -> None:
    key, done = "a" * 64, 0
    for cut in [*cuts, len(DATA)]:
        cut = min(cut, len(DATA))
        if cut > done:
            done = _append(store, key, done, DATA[done:cut], piece=300_001)
    # Full parts are exactly PART bytes; what is left over is one tail after the last part.
    assert _names(store, key) == ["part-00001", "part-00002", "tail-00002"]
    assert _read_partial(store, key) == DATA
    blob_key = store.finalize(key, "fileid1", len(DATA))
    got = _object(store, blob_key)
    assert got["Body"].read() == DATA
    assert got["ETag"].strip('"').endswith("-3")  # a 3-part multipart object


def test_resume_on_another_process_after_a_resend_keeps_the_sha256(
    store: S3BlobStore, db: Engine
) -> None:
    limits: dict[str, Any] = {
        "max_file_bytes": 64 * MiB,
        "quota_bytes": 64 * MiB,
        "session_ttl_s": 3600,
        "file_ttl_s": 3600,
    }

    async def chunk(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), 64 * 1024):
            yield data[i : i + 64 * 1024]

    async def scenario() -> tuple[str, int]:
        first = UploadStore(db, store, **limits)
        token, _ = await first.start("k", declared_size=len(DATA), mime_type="video/mp4")
        await first.append(token, 0, chunk(DATA[: 8 * MiB]))
        s = await first.append(token, 8 * MiB, chunk(DATA[8 * MiB : 11 * MiB]))
        assert s.received_bytes == 11 * MiB
        # "replica 2": a new store (no cached hash state) over the same database and bucket;
        # the client re-sends from 8 MiB (it never saw the last status) and finishes.
        second = UploadStore(db, store, **limits)
        s = await second.append(token, 8 * MiB, chunk(DATA[8 * MiB :]))
        assert s.received_bytes == len(DATA)
        done = await second.finalize(token)
        return done.file_id, done.received_bytes

    file_id, size = asyncio.run(scenario())
    assert size == len(DATA)
    from sqlalchemy import select

    from sightd.storage.metadata import FILES

    with db.connect() as conn:
        row = conn.execute(select(FILES).where(FILES.c.id == file_id)).one()
    assert row.sha256_hex == hashlib.sha256(DATA).hexdigest()
    assert _object(store, row.blob_key)["Body"].read() == DATA


def test_a_finalize_cut_off_before_its_commit_can_be_retried(
    store: S3BlobStore, db: Engine
) -> None:
    limits: dict[str, Any] = {
        "max_file_bytes": 64 * MiB,
        "quota_bytes": 64 * MiB,
        "session_ttl_s": 3600,
        "file_ttl_s": 3600,
    }
    data = DATA[: 6 * MiB]

    async def one(piece: bytes) -> AsyncIterator[bytes]:
        yield piece

    async def scenario() -> str:
        uploads = UploadStore(db, store, **limits)
        token, s = await uploads.start("k", declared_size=len(data), mime_type="video/mp4")
        await uploads.append(token, 0, one(data))
        # A replica composed the object, then died before recording the file in SQL.
        store.finalize(s.id, s.file_id, len(data))
        done = await UploadStore(db, store, **limits).finalize(token)
        return done.id

    session_id = asyncio.run(scenario())
    assert _names(store, session_id) == []  # dropped after the commit
    finished = store.client.list_objects_v2(Bucket=store.bucket, Prefix="t/blobs/")["Contents"]
    assert len(finished) == 2  # the dead replica's object is left over (unreferenced)


def test_rewind_ignores_what_a_dead_writer_left_past_the_commit(store: S3BlobStore) -> None:
    key = "b" * 64
    committed = _append(store, key, 0, DATA[: 3 * MiB])
    # A writer that died before SQL recorded its bytes left a longer tail and a whole part.
    _append(store, key, committed, DATA[3 * MiB : 7 * MiB])
    assert _names(store, key) == ["part-00001", "tail-00001"]
    # The next writer starts again at the committed 3 MiB: the part begins with those bytes.
    done = _append(store, key, committed, DATA[3 * MiB : 9 * MiB])
    done = _append(store, key, done, DATA[9 * MiB :])
    blob_key = store.finalize(key, "fileid2", done)
    assert _object(store, blob_key)["Body"].read() == DATA


def test_finalize_takes_only_the_committed_bytes(store: S3BlobStore) -> None:
    key = "c" * 64
    _append(store, key, 0, DATA[: 2 * MiB])
    _append(store, key, 2 * MiB, DATA[2 * MiB : 3 * MiB])  # never committed
    blob_key = store.finalize(key, "fileid3", 2 * MiB)
    assert _object(store, blob_key)["Body"].read() == DATA[: 2 * MiB]


def test_rollback_writes_nothing(store: S3BlobStore) -> None:
    key = "d" * 64
    committed = _append(store, key, 0, DATA[:MiB])
    fh = store.open_append(key, committed)
    fh.write(DATA[MiB : 2 * MiB])
    fh.truncate(committed)
    fh.close()
    assert _read_partial(store, key) == DATA[:MiB]


def test_missing_bytes_are_data_loss_not_garbage(store: S3BlobStore) -> None:
    key = "e" * 64
    done = _append(store, key, 0, DATA[: 6 * MiB])
    store.client.delete_object(Bucket=store.bucket, Key=store._partial_prefix(key) + "part-00001")
    with pytest.raises(errors.Aborted):
        store.open_append(key, done)
    with pytest.raises(errors.Aborted):
        store.open_append("f" * 64, 10)  # nothing stored at all


def test_zero_byte_file(store: S3BlobStore) -> None:
    key = "0" * 64
    store.open_append(key, 0).close()
    blob_key = store.finalize(key, "empty", 0)
    assert _object(store, blob_key)["Body"].read() == b""
    assert store.path_of(blob_key).read_bytes() == b""


def test_ranged_reads_cached_copies_and_delete(store: S3BlobStore) -> None:
    key = "1" * 64
    _append(store, key, 0, DATA)
    blob_key = store.finalize(key, "fileid4", len(DATA))
    with store.open_range(blob_key, PART - 10, PART + 9) as fh:
        assert fh.read() == DATA[PART - 10 : PART + 10]
    path = store.path_of(blob_key)
    assert path == store.local_path(blob_key) and path.read_bytes() == DATA
    assert store.path_of(blob_key) == path  # served from the cache
    store.delete(blob_key)
    assert not path.exists()
    with pytest.raises(errors.NotFound):
        store.path_of(blob_key)
    store.delete(blob_key)  # missing is fine


def test_cache_is_bounded_in_bytes_least_recently_used_first(
    s3_endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    client, bucket = new_bucket(s3_endpoint)
    store = S3BlobStore(
        client, bucket, work_dir=tmp_path / "s3", part_bytes=PART, cache_max_bytes=3 * MiB
    )
    keys = []
    for i in range(3):
        partial = f"{i}" * 64
        _append(store, partial, 0, DATA[: 2 * MiB])
        keys.append(store.finalize(partial, f"f{i}", 2 * MiB))
    first = store.path_of(keys[0])
    os.utime(first.parent, (1, 1))  # long unused
    store.path_of(keys[1])
    assert not first.exists()  # 4 MiB > 3 MiB: the least recently used went
    assert store.path_of(keys[0]).read_bytes() == DATA[: 2 * MiB]  # fetched again on demand


def test_finalize_keeps_the_parts_and_never_reuses_an_object(store: S3BlobStore) -> None:
    key = "2" * 64
    _append(store, key, 0, b"abc")
    first = store.finalize(key, "once", 3)
    assert _names(store, key) == ["tail-00000"]  # dropped by the caller after its SQL commit
    second = store.finalize(key, "once", 3)  # a retry (or a racing replica): its own object
    assert first != second
    assert _object(store, first)["Body"].read() == _object(store, second)["Body"].read() == b"abc"
    store.delete_partial(key)
    assert _names(store, key) == []


def test_an_unreachable_store_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    store = S3BlobStore(client, "nowhere", work_dir=tmp_path, part_bytes=PART)
    with pytest.raises(errors.Unavailable) as failed:
        store.open_append("a" * 64, 0)
    assert failed.value.reason == "BLOB_STORE_UNAVAILABLE"
    with pytest.raises(errors.Unavailable):
        store.path_of("blobs/" + "a" * 64)
