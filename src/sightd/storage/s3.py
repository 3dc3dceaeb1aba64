"""Blobs in S3-compatible object storage (AWS S3, MinIO, R2, Ceph…), through boto3.

Layout under `<bucket>/<prefix>`:

    partial/<session>/part-00001 … part-0000n   full parts of an unfinished upload, `part_bytes`
                                                each (part k holds bytes [(k-1)·P, k·P))
    partial/<session>/tail-0000n                the bytes after part n that do not fill a part
    blobs/<file id>-<random>                    a finished file (`finalize` composes it)

Partial uploads live in S3, not on one machine, so any replica can continue an upload after the
one that began it died: SQL's `received_bytes` says how many bytes are valid, the object listing
says where they are. Parts are plain objects rather than the parts of an open S3 multipart
upload because the parts of an unfinished multipart upload cannot be read back, and a replica
taking over an upload must re-read them to rebuild its sha256. `finalize` then builds the file
server-side with a multipart upload of `UploadPartCopy`s (no byte passes through sightd), so the
object stores once what S3 accepts as a multipart object: parts ≥ 5 MiB except the last. The
parts are dropped only after SQL records the file, so a crash mid-finalize loses nothing; what
such a crash can leave unreferenced (parts of a session whose row went, a composed object whose
row never came) is for a bucket lifecycle rule on `partial/` (expire after a few days).

Writes are spooled to a local file (never memory) until a part is full, then PUT from that
file; on close the unfilled remainder is PUT as the tail. A writer that dies leaves parts or a
tail past `received_bytes`: the next `open_append` ignores them (re-sent chunks carry the same
bytes at the same offsets, so an over-long part or tail still begins with the valid bytes).

Reads: decoders want a local path (PyAV and Pillow seek freely), so `path_of` downloads a finished
blob once into a local read-through cache, bounded in bytes with least-recently-used eviction
(storage/lru.py), using boto3's managed transfer (ranged GETs streamed to disk, never the whole
object in memory). `open_range` serves a byte range without the cache. A cached copy that is
evicted while a decoder has it open stays readable (POSIX unlink); the cache should hold the
media of the requests in flight (`s3_cache_max_bytes`, default 20 GiB).

Credentials come from the standard AWS chain (env vars, ~/.aws, instance roles); sightd never
stores or logs them. Every method blocks: call them off the event loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, BinaryIO, ParamSpec, TypeVar, cast

from sightd import errors
from sightd.storage import lru
from sightd.storage.blobs import safe_blob_name

MIN_PART_BYTES = 5 * 1024 * 1024
"""S3's smallest part (all but the last) of a multipart upload."""
_COPY_THREADS = 8
_PART_WIDTH = 5  # part-00001: S3 allows 10,000 parts
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _translated(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """S3 failures (refused, timed out, 5xx, denied) become UNAVAILABLE at this boundary, chained
    with `from`, instead of a 500; sightd's own errors pass through."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise errors.Unavailable(
                f"The blob store did not answer ({type(exc).__name__}); retry shortly.",
                retry_after_s=5.0,
                reason="BLOB_STORE_UNAVAILABLE",
            ) from exc

    return wrapper


def _part_name(k: int) -> str:
    return f"part-{k:0{_PART_WIDTH}d}"


def _tail_name(n: int) -> str:
    return f"tail-{n:0{_PART_WIDTH}d}"


def make_client(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client from the standard credential chain; a custom endpoint uses path-style
    addressing (MinIO and most self-hosted stores want it)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise errors.MissingExtra("boto3", "s3") from exc
    config = Config(
        s3={"addressing_style": "path"} if endpoint_url else {},
        retries={"max_attempts": 5, "mode": "standard"},
        # Checksums only where S3 requires them: several S3-compatible stores reject the
        # trailing checksums newer botocore sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )


class _PartWriter:
    """The file-like `open_append` returns: spools to disk, PUTs each full part, the tail on
    close. `truncate(start)` (the upload store's rollback) drops whatever this writer holds."""

    def __init__(self, store: S3BlobStore, session: str, committed: int, seed: BinaryIO) -> None:
        self._store = store
        self._session = session
        self._start = committed
        self._part = committed // store.part_bytes  # full parts before the spool
        self._spool = cast(BinaryIO, tempfile.TemporaryFile(dir=store.spool_dir))  # noqa: SIM115
        shutil.copyfileobj(seed, self._spool)
        self._written = committed
        self._closed = False
        self._discard = False

    @_translated
    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed upload part writer")
        view = memoryview(data)
        part = self._store.part_bytes
        while view:
            room = part - self._spool.tell()
            take = view[:room]
            self._spool.write(take)
            view = view[len(take) :]
            self._written += len(take)
            if self._spool.tell() == part:
                self._flush_part()
        return len(data)

    def _flush_part(self) -> None:
        self._spool.seek(0)
        self._store._put(self._session, _part_name(self._part + 1), self._spool)
        self._store._delete_partial_object(self._session, _tail_name(self._part))
        self._part += 1
        self._spool.seek(0)
        self._spool.truncate()

    def truncate(self, size: int | None = None) -> int:
        if size != self._start:
            raise ValueError("an S3 partial can only be rolled back to where this writer began")
        self._discard = True
        return self._start

    def tell(self) -> int:
        return self._written

    @_translated
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if not self._discard and self._spool.tell():
                self._spool.seek(0)
                self._store._put(self._session, _tail_name(self._part), self._spool)
        finally:
            self._spool.close()

    def __enter__(self) -> _PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PartReader:
    """The partial's bytes in order (parts, then the tail), streamed part by part."""

    def __init__(self, store: S3BlobStore, names: list[str]) -> None:
        self._store = store
        self._names = names
        self._body: Any = None

    @_translated
    def read(self, n: int = -1) -> bytes:
        while True:
            if self._body is None:
                if not self._names:
                    return b""
                self._body = self._store._get_body(self._names.pop(0))
            data = cast(bytes, self._body.read(n if n >= 0 else None))
            if data:
                return data
            self._body.close()
            self._body = None

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def __enter__(self) -> _PartReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3BlobStore:
    """The `BlobStore` seam over an S3 bucket (see the module docstring for the layout)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str = "",
        work_dir: Path,
        part_bytes: int = 8 * 1024 * 1024,
        cache_max_bytes: int = 20 * 1024**3,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"S3 parts must be at least {MIN_PART_BYTES} bytes")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_bytes = part_bytes
        self.spool_dir = work_dir / "spool"
        self.cache_dir = work_dir / "cache"
        self.cache_max_bytes = cache_max_bytes

    def ensure_dirs(self) -> None:
        """Create the local spool and cache folders (idempotent)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    # --- S3 calls -----------------------------------------------------------------------------
    def _partial_prefix(self, session: str) -> str:
        return f"{self.prefix}partial/{safe_blob_name(session)}/"

    def _object(self, blob_key: str) -> str:
        if ".." in blob_key.split("/") or blob_key.startswith("/"):
            raise ValueError(f"blob key escapes the store: {blob_key!r}")
        return self.prefix + blob_key

    def _put(self, session: str, name: str, body: IO[bytes]) -> None:
        key = self._partial_prefix(session) + name
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)

    def _get_body(self, key: str, byte_range: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if byte_range:
            kwargs["Range"] = byte_range
        return self.client.get_object(**kwargs)["Body"]

    def _delete_partial_object(self, session: str, name: str) -> None:
        key = self._partial_prefix(session) + name
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _listing(self, session: str) -> dict[str, int]:
        """name → size of every object of a partial upload."""
        prefix = self._partial_prefix(session)
        found: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                found[obj["Key"][len(prefix) :]] = int(obj["Size"])
        return found

    def _layout(self, session: str, size: int) -> tuple[int, str | None, int]:
        """For the first `size` bytes: (full parts, the object holding the rest, its length).
        Raises Aborted when the bytes are not all there."""
        listing = self._listing(session)
        n, rest = divmod(size, self.part_bytes)
        for k in range(1, n + 1):
            if listing.get(_part_name(k)) != self.part_bytes:
                raise errors.Aborted(
                    f"Upload data lost: part {k} of the first {size} bytes is missing; "
                    "restart the upload."
                )
        if not rest:
            return n, None, 0
        # A later part (left by a writer that died before committing) begins with these bytes.
        for name in (_part_name(n + 1), _tail_name(n)):
            if listing.get(name, -1) >= rest:
                return n, self._partial_prefix(session) + name, rest
        raise errors.Aborted(
            f"Upload data lost: the last {rest} of {size} bytes are missing; restart the upload."
        )

    # --- BlobStore ------------------------------------------------------------------------------
    @_translated
    def open_append(self, partial_key: str, committed_bytes: int) -> BinaryIO:
        _n, rest_key, rest = self._layout(partial_key, committed_bytes)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        seed: BinaryIO
        if rest_key is None:
            seed = cast(BinaryIO, _PartReader(self, []))
        else:
            seed = cast(BinaryIO, self._get_body(rest_key, f"bytes=0-{rest - 1}"))
        try:
            writer = _PartWriter(self, partial_key, committed_bytes, seed)
        finally:
            seed.close()
        return cast(BinaryIO, writer)

    @_translated
    def open_partial(self, partial_key: str) -> BinaryIO:
        listing = self._listing(partial_key)
        prefix = self._partial_prefix(partial_key)
        names, k = [], 1
        while _part_name(k) in listing:
            names.append(prefix + _part_name(k))
            k += 1
        if _tail_name(k - 1) in listing:
            names.append(prefix + _tail_name(k - 1))
        return cast(BinaryIO, _PartReader(self, names))

    @_translated
    def finalize(self, partial_key: str, file_id: str, size_bytes: int | None = None) -> str:
        """Compose the partial's first `size_bytes` (default: all it holds) into a new object.

        The parts stay until the caller drops them (`delete_partial`) after recording the file
        in SQL: a process that dies in between leaves an upload that can still be finalized
        (and, at worst, an unreferenced object), never a session whose bytes are gone. Each call
        writes a fresh object, so two replicas finalizing one session at once cannot clobber
        each other: the one whose SQL commit loses deletes only its own object."""
        if size_bytes is None:
            size_bytes = self._stored_size(partial_key)
        n, rest_key, rest = self._layout(partial_key, size_bytes)
        blob_key = f"blobs/{safe_blob_name(file_id)}-{uuid.uuid4().hex[:12]}"
        dest = self._object(blob_key)
        prefix = self._partial_prefix(partial_key)
        sources = [(prefix + _part_name(k), self.part_bytes) for k in range(1, n + 1)]
        if rest_key is not None:
            sources.append((rest_key, rest))
        if not sources:
            self.client.put_object(Bucket=self.bucket, Key=dest, Body=b"")
        else:  # one part may be of any size, so a lone tail goes the same way
            self._compose(sources, dest)
        return blob_key

    def _stored_size(self, session: str) -> int:
        listing = self._listing(session)
        k = 1
        while listing.get(_part_name(k)) == self.part_bytes:
            k += 1
        return (k - 1) * self.part_bytes + listing.get(_tail_name(k - 1), 0)

    def _compose(self, sources: list[tuple[str, int]], dest: str) -> None:
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=dest)["UploadId"]

        def copy(item: tuple[int, tuple[str, int]]) -> dict[str, Any]:
            number, (key, length) = item
            got = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=dest,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": key},
                CopySourceRange=f"bytes=0-{length - 1}",
            )
            return {"PartNumber": number, "ETag": got["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(_COPY_THREADS) as pool:
                parts = list(pool.map(copy, enumerate(sources, start=1)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=dest,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=dest, UploadId=upload_id)
            raise

    def local_path(self, blob_key: str) -> Path:
        """Where `path_of` keeps the blob on local disk (no I/O)."""
        return self.cache_dir / blob_key.replace("/", "_") / "blob"

    @_translated
    def path_of(self, blob_key: str) -> Path:
        """A local copy of a finished blob, downloaded once into the bounded cache."""
        path = self.local_path(blob_key)
        if path.is_file():
            lru.touch(path.parent)
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        work = self.cache_dir / f".dl-{uuid.uuid4().hex}"  # "." entries are never evicted
        work.mkdir()
        try:
            try:
                self.client.download_file(self.bucket, self._object(blob_key), str(work / "blob"))
            except Exception as exc:
                if _is_missing(exc):
                    raise errors.NotFound("The file's data is gone from the blob store.") from exc
                raise
            with contextlib.suppress(OSError):  # OSError: another thread fetched it first
                os.rename(work, path.parent)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        lru.evict(self.cache_dir, self.cache_max_bytes, keep=path.parent.name)
        return path

    @_translated
    def open_range(self, blob_key: str, start: int, end: int) -> BinaryIO:
        """A stream of bytes [start, end] of a finished blob (one ranged GET)."""
        return cast(BinaryIO, self._get_body(self._object(blob_key), f"bytes={start}-{end}"))

    @_translated
    def delete(self, blob_key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(blob_key))
        shutil.rmtree(self.local_path(blob_key).parent, ignore_errors=True)

    @_translated
    def delete_partial(self, partial_key: str) -> None:
        names = list(self._listing(partial_key))
        prefix = self._partial_prefix(partial_key)
        for i in range(0, len(names), 1000):
            batch = [{"Key": prefix + name} for name in names[i : i + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    code = str((response or {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")
