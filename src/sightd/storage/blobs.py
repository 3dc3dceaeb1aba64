"""Where uploaded bytes live. The interface is deliberately narrow (append to a partial blob,
finalize it under a file id, find it, delete it) so an object store stands in: `storage/s3.py`
keeps a partial as part objects in the bucket (any replica can continue it) and `finalize`
composes them server-side into one multipart object.

The local store keeps partial blobs apart from finished ones and publishes a finished blob by an
atomic rename, so a reader never sees half a file. Every method blocks: call them off the event
loop.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO, Protocol

from sightd import errors


class BlobStore(Protocol):
    """What storage/uploads.py and services/files.py need from a blob store."""

    def ensure_dirs(self) -> None:
        """Create the local folders the store uses (idempotent)."""
        ...

    def open_append(self, partial_key: str, committed_bytes: int) -> BinaryIO:
        """The partial blob opened for writing at `committed_bytes` (anything past it dropped)."""
        ...

    def open_partial(self, partial_key: str) -> BinaryIO:
        """The partial blob opened for reading (to re-hash it after a restart)."""
        ...

    def finalize(self, partial_key: str, file_id: str, size_bytes: int | None = None) -> str:
        """Publish the partial blob's first `size_bytes` (default: all of it) as a file's blob;
        returns the blob key to store. The caller drops the partial (`delete_partial`) once the
        file is recorded; a store may already have consumed it."""
        ...

    def local_path(self, blob_key: str) -> Path:
        """Where `path_of` puts a finished blob on local disk, without any I/O."""
        ...

    def path_of(self, blob_key: str) -> Path:
        """A local path to a finished blob, for decoders that want a file (an object store
        downloads it into a bounded cache first: call it off the event loop)."""
        ...

    def delete(self, blob_key: str) -> None:
        """Remove a finished blob (missing is fine)."""
        ...

    def delete_partial(self, partial_key: str) -> None:
        """Remove a partial blob (missing is fine)."""
        ...


def safe_blob_name(name: str) -> str:
    """`name` when it is safe as one path segment or object-name segment; else ValueError."""
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"unsafe blob name {name!r}")
    return name


class LocalBlobStore:
    """Blobs as files under `root`: `partial/<session>` while uploading, `files/<ab>/<id>` after."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._partial_dir = root / "partial"
        self._files_dir = root / "files"

    def ensure_dirs(self) -> None:
        """Create the folders (idempotent)."""
        self._partial_dir.mkdir(parents=True, exist_ok=True)
        self._files_dir.mkdir(parents=True, exist_ok=True)

    def _partial(self, partial_key: str) -> Path:
        return self._partial_dir / safe_blob_name(partial_key)

    def open_append(self, partial_key: str, committed_bytes: int) -> BinaryIO:
        path = self._partial(partial_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+b")
        try:
            actual = os.fstat(fd).st_size
            if actual < committed_bytes:
                raise errors.Aborted(
                    f"Upload data lost: {actual} of {committed_bytes} bytes on disk; "
                    "restart the upload."
                )
            if actual > committed_bytes:  # a writer died after writing but before committing
                fh.truncate(committed_bytes)
            fh.seek(committed_bytes)
        except BaseException:
            fh.close()
            raise
        return fh

    def open_partial(self, partial_key: str) -> BinaryIO:
        return open(self._partial(partial_key), "rb")  # the caller closes it

    def finalize(self, partial_key: str, file_id: str, size_bytes: int | None = None) -> str:
        src = self._partial(partial_key)
        try:
            with open(src, "r+b") as fh:
                actual = os.fstat(fh.fileno()).st_size
                if size_bytes is not None and actual < size_bytes:
                    raise errors.Aborted("Upload data lost; restart the upload.")
                if size_bytes is not None and actual > size_bytes:
                    fh.truncate(size_bytes)  # a writer died past the committed bytes
                os.fsync(fh.fileno())
        except FileNotFoundError:
            raise errors.Aborted("Upload data is gone (finalized elsewhere?)") from None
        key = f"files/{safe_blob_name(file_id)[:2]}/{file_id}"
        dst = self.root / key
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)  # never clobbers: a second finalizer of the same id fails here
        except FileExistsError:
            raise errors.Aborted(f"File {file_id} already has data") from None
        except OSError:  # filesystems without hard links: atomic rename instead
            os.replace(src, dst)
            return key
        os.unlink(src)
        return key

    def local_path(self, blob_key: str) -> Path:
        return self.path_of(blob_key)

    def path_of(self, blob_key: str) -> Path:
        path = (self.root / blob_key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"blob key escapes the store: {blob_key!r}")
        return path

    def delete(self, blob_key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(blob_key).unlink()

    def delete_partial(self, partial_key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._partial(partial_key).unlink()
