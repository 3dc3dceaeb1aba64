"""The Files API service: uploads through `storage.uploads`, then processing (PROCESSING → ACTIVE
or FAILED) off the event loop, lookups scoped by owner, and the expiry sweep.

Processing runs the media probe in a worker thread once per finalized file. Requests that need a
file (`resolve_for_use`) wait, bounded, for it to leave PROCESSING: woken by an in-process event,
and re-reading SQL every second so a file processed by another worker is seen too.

Crash recovery: processing is leased to the replica running it (`storage/files.py` keeps the
rule). This service renews its leases every third of `lease_s` and, at start and on the same
beat, claims the PROCESSING files nobody runs (their replica died, or stopped and released
them) and processes them again, or marks them FAILED after `MAX_PROCESSING_ATTEMPTS` runs were
started, so no file stays PROCESSING forever and no replica is needed to come back for it. At
start under a stable `--replica-id` it also takes back its own earlier run's files at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sightd import errors
from sightd.media.probe import ProbeResult
from sightd.services.recovery import new_replica_id
from sightd.settings import Settings
from sightd.storage.blobs import BlobStore, LocalBlobStore
from sightd.storage.files import FileRow, FileState, FileTable
from sightd.storage.metadata import create_tables, utcnow
from sightd.storage.uploads import FILE_ID_RE, UploadStore

log = logging.getLogger("sightd.files")

__all__ = ["FileService", "FileState", "StoredFile"]

FINALIZE_WAIT_S = 2.0
"""How long finalize waits for processing, so small files come back ACTIVE from the upload and
the seeds' 5-second polling loops never sleep."""
RECHECK_S = 1.0
"""Waiters re-read SQL this often: another worker may have processed the file."""
PROBE_CONCURRENCY = 2
"""Probes running at once (video probing decodes; keep it from starving generation)."""
STILL_PROCESSING_RETRY_S = 5.0
PROCESSING_LEASE_S = 60.0
"""A processing lease's length: a dead replica's files are taken over within about this long."""
MAX_PROCESSING_ATTEMPTS = 3
"""Runs of one file's processing started before it is FAILED: a file whose probe kills its
process (out of memory, a decoder crash) must not go on to kill every replica in turn."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoredFile:
    """A file as stored. Times are aware UTC. `path` is where the blob is on local disk: always
    there with the local store; with an object store, only on files `resolve_for_use` returned
    (it fetches the blob into the local cache). `id` is the public id (after `files/`, unique per
    owner); `key` the internal one that blobs, caches and processing use (the same value for
    server-made ids)."""

    id: str
    key: str
    owner: str
    display_name: str | None
    mime_type: str
    size_bytes: int
    sha256_hex: str
    state: FileState
    error: str | None
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    path: Path
    video_metadata: dict[str, Any] | None
    blob_key: str

    @property
    def name(self) -> str:
        return f"files/{self.id}"


def _not_found(file_id: str) -> errors.NotFound:
    return errors.NotFound(f"File files/{file_id} not found, or it may have expired.")


def _encode_token(create_time: datetime, file_id: str) -> str:
    micros = (create_time - _EPOCH) // timedelta(microseconds=1)  # exact, unlike float seconds
    raw = f"{micros}:{file_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        micros, file_id = raw.split(":", 1)
        when = _EPOCH + timedelta(microseconds=int(micros))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise errors.InvalidArgument("Invalid page token.", field="pageToken") from exc
    return when, file_id


class FileService:
    """The Files API for the API layer: file rows through `storage.files.FileTable` (the one
    owner of the table's SQL), bytes through a `BlobStore` (local folder or S3), upload sessions
    through `storage.uploads.UploadStore`."""

    def __init__(
        self,
        settings: Settings,
        db: Engine,
        probe: Callable[[Path, str], ProbeResult],
        blobs: BlobStore | None = None,
        *,
        replica: str | None = None,
        stable_replica: bool = False,
        lease_s: float = PROCESSING_LEASE_S,
    ) -> None:
        self.settings = settings
        self.replica = replica or new_replica_id()
        """This process's name in processing leases and upload holds (shared with interactions)."""
        self.stable_replica = stable_replica
        self.lease_s = lease_s
        self._db = db
        self._rows = FileTable(db)
        self._probe = probe
        self.blobs: BlobStore = blobs or LocalBlobStore(settings.blob_dir)
        self.uploads = UploadStore(
            db,
            self.blobs,
            max_file_bytes=settings.max_file_bytes,
            quota_bytes=settings.storage_quota_bytes,
            session_ttl_s=settings.upload_session_ttl_s,
            file_ttl_s=settings.file_ttl_s,
            max_sessions=settings.max_upload_sessions_per_key,
            replica=self.replica,
            processing_lease_s=lease_s,
        )
        self._events: dict[str, asyncio.Event] = {}
        self._processing: dict[str, asyncio.Task[None]] = {}
        self._probe_slots = asyncio.Semaphore(PROBE_CONCURRENCY)
        self._sweeper: asyncio.Task[None] | None = None
        self._leases: asyncio.Task[None] | None = None
        self.on_delete: builtins.list[Callable[[str], None]] = []
        """Called (in a worker thread) with a file id after its blob is gone: derived caches."""

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Create tables and folders, take over files nobody is processing (a crash left them
        PROCESSING), start the sweeper and the lease keeper."""
        await asyncio.to_thread(create_tables, self._db)
        await asyncio.to_thread(self.blobs.ensure_dirs)
        await self.recover(own=self.stable_replica)
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="sightd-file-sweeper")
        self._leases = asyncio.create_task(self._lease_loop(), name="sightd-file-leases")

    async def stop(self) -> None:
        """Stop the sweeper and in-flight processing, and release this replica's processing
        leases so a live replica (or the next start) takes those files over at once."""
        tasks = list(self._processing.values())
        for loop_task in (self._sweeper, self._leases):
            if loop_task is not None:
                tasks.append(loop_task)
        self._sweeper = self._leases = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.to_thread(self._rows.release_processing, self.replica)
        except Exception:  # the leases then lapse instead
            log.warning("releasing processing leases failed", exc_info=True)

    async def recover(self, *, own: bool = False) -> tuple[builtins.list[str], builtins.list[str]]:
        """Claim the PROCESSING files nobody runs and process them here, or fail those started
        too often; returns (claimed, failed) internal ids."""
        claimed, failed = await asyncio.to_thread(
            self._rows.claim_abandoned,
            self.replica,
            self.lease_s,
            own=own,
            max_attempts=MAX_PROCESSING_ATTEMPTS,
        )
        if claimed:
            log.warning(
                "processing %d file(s) again: their server stopped before it finished (%s)",
                len(claimed),
                ", ".join(claimed[:10]),
            )
        if failed:
            log.warning(
                "marked %d file(s) FAILED: their processing was interrupted %d times (%s)",
                len(failed),
                MAX_PROCESSING_ATTEMPTS,
                ", ".join(failed[:10]),
            )
        for key in claimed:
            self._schedule(key)
        for key in failed:
            self._wake(key)
        return claimed, failed

    async def _lease_loop(self) -> None:
        """Every third of the lease: renew the leases of the files queued or probing here, then
        take over those whose replica died."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await asyncio.to_thread(
                    self._rows.renew_processing,
                    builtins.list(self._processing),
                    self.replica,
                    self.lease_s,
                )
                await self.recover()
            except Exception:
                log.exception("processing lease renewal failed")

    # --- uploads ----------------------------------------------------------------------------
    async def start_upload(
        self,
        owner: str,
        *,
        size_bytes: int | None,
        mime_type: str,
        display_name: str | None = None,
        file_id: str | None = None,
    ) -> str:
        """Open a resumable upload; returns its bearer token."""
        token, _ = await self.uploads.start(
            owner,
            declared_size=size_bytes,
            mime_type=mime_type,
            display_name=display_name,
            file_id=file_id,
        )
        return token

    async def upload_chunk(self, token: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Store one chunk; returns the bytes received so far."""
        return (await self.uploads.append(token, offset, chunks)).received_bytes

    async def upload_received(self, token: str) -> int:
        """Bytes received so far (the `query` command)."""
        return (await self.uploads.get(token)).received_bytes

    async def cancel_upload(self, token: str) -> None:
        await self.uploads.cancel(token)

    async def finalize_upload(self, token: str) -> StoredFile:
        """Create the file and start processing; waits briefly so small files return ACTIVE."""
        session = await self.uploads.finalize(token)
        key = session.file_id
        self._schedule(key)
        task = self._processing.get(key)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), FINALIZE_WAIT_S)
        return await self.get(session.owner, session.name)

    async def upload_whole(
        self,
        owner: str,
        chunks: AsyncIterable[bytes],
        *,
        size_bytes: int | None,
        mime_type: str,
        display_name: str | None = None,
        file_id: str | None = None,
    ) -> StoredFile:
        """A one-request upload (media or multipart): nothing is left behind when it fails."""
        token = await self.start_upload(
            owner,
            size_bytes=size_bytes,
            mime_type=mime_type,
            display_name=display_name,
            file_id=file_id,
        )
        try:
            await self.upload_chunk(token, 0, chunks)
            return await self.finalize_upload(token)
        except BaseException:
            with contextlib.suppress(errors.NotFound):
                await asyncio.shield(self.uploads.cancel(token))
            raise

    async def upload_path(
        self, owner: str, path: Path, *, mime_type: str, display_name: str | None = None
    ) -> StoredFile:
        """Store a local file (the CLI's `files upload`), read in bounded chunks off the loop."""

        async def chunks() -> AsyncIterator[bytes]:
            with open(path, "rb") as fh:
                while data := await asyncio.to_thread(fh.read, 1 << 20):
                    yield data

        return await self.upload_whole(
            owner,
            chunks(),
            size_bytes=path.stat().st_size,
            mime_type=mime_type,
            display_name=display_name,
        )

    # --- reads ------------------------------------------------------------------------------
    async def get(self, owner: str, file_id: str) -> StoredFile:
        """The caller's file; NotFound for unknown, expired or someone else's."""
        found = await asyncio.to_thread(self._fetch_named, owner, file_id)
        if found is None or found.owner != owner or found.expire_time <= utcnow():
            raise _not_found(file_id)
        return found

    async def stored_totals(self) -> tuple[int, int, int]:
        """(bytes, files, owners with files) over every key's live files (for `/metrics`)."""
        return await asyncio.to_thread(self._rows.stored_totals)

    async def list(
        self, owner: str, page_size: int, page_token: str | None
    ) -> tuple[builtins.list[StoredFile], str | None]:
        """Newest first; returns (page, next page token or None)."""
        after = _decode_token(page_token) if page_token else None
        rows = await asyncio.to_thread(self._page, owner, page_size + 1, after)
        if len(rows) <= page_size:
            return rows, None
        page = rows[:page_size]
        return page, _encode_token(page[-1].create_time, page[-1].key)

    async def delete(self, owner: str, file_id: str) -> None:
        """Delete the caller's file and its blob; NotFound when it is not theirs."""
        deleted = await asyncio.to_thread(self._delete_row, owner, file_id)
        if deleted is None:
            raise _not_found(file_id)
        key, blob_key = deleted
        await asyncio.to_thread(self.blobs.delete, blob_key)
        await self._forget(key)
        self._wake(key)

    async def _forget(self, file_id: str) -> None:
        for hook in self.on_delete:
            try:
                await asyncio.to_thread(hook, file_id)
            except Exception:
                log.exception("cleaning up after files/%s failed", file_id)

    async def resolve_for_use(self, owner: str, file_id: str) -> StoredFile:
        """An ACTIVE file for generation, waiting up to `file_wait_s` while it is PROCESSING."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.file_wait_s
        while True:
            found = await self.get(owner, file_id)
            if found.state == "PROCESSING":
                event = self._events.setdefault(found.key, asyncio.Event())
                try:  # read again after registering, so a wake-up in between is not lost
                    found = await self.get(owner, file_id)
                except errors.NotFound:
                    self._events.pop(found.key, None)
                    raise
            if found.state != "PROCESSING":
                self._events.pop(found.key, None)
            if found.state == "ACTIVE":
                path = await asyncio.to_thread(self.blobs.path_of, found.blob_key)
                return dataclasses.replace(found, path=path)
            if found.state == "FAILED":
                raise errors.FailedPrecondition(
                    f"File {found.name} failed processing: {found.error or 'unknown error'}",
                    reason="FILE_FAILED",
                )
            left = deadline - loop.time()
            if left <= 0:
                raise errors.Unavailable(
                    f"File {found.name} is still being processed; retry shortly.",
                    retry_after_s=STILL_PROCESSING_RETRY_S,
                    reason="FILE_PROCESSING",
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(RECHECK_S, left))

    # --- processing and expiry --------------------------------------------------------------
    def _schedule(self, file_id: str) -> None:
        if file_id in self._processing:
            return
        task = asyncio.create_task(self._process(file_id), name=f"sightd-probe-{file_id}")
        self._processing[file_id] = task
        task.add_done_callback(lambda _t: self._processing.pop(file_id, None))

    async def _process(self, file_id: str) -> None:
        try:
            async with self._probe_slots:
                found = await asyncio.to_thread(self._fetch, file_id)
                if found is None or found.state != "PROCESSING":
                    return
                try:
                    path = await asyncio.to_thread(self.blobs.path_of, found.blob_key)
                    result = await asyncio.to_thread(self._probe, path, found.mime_type)
                except Exception as exc:  # a probe bug must not leave the file PROCESSING
                    log.exception("probing files/%s failed", file_id)
                    result = ProbeResult(
                        found.mime_type, error=f"processing error ({type(exc).__name__})"
                    )
                await asyncio.to_thread(
                    self._rows.set_processed,
                    file_id,
                    error=result.error,
                    mime_type=result.mime_type,
                    video_metadata=result.video_metadata,
                )
        finally:
            self._wake(file_id)

    def _wake(self, file_id: str) -> None:
        event = self._events.pop(file_id, None)
        if event is not None:
            event.set()

    async def sweep(self) -> int:
        """Delete expired files (rows, then blobs) and stale upload sessions; returns the count."""
        removed = 0
        for file_id, blob_key in await asyncio.to_thread(self._rows.expired):
            if await asyncio.to_thread(self._rows.delete_expired, file_id):
                await asyncio.to_thread(self.blobs.delete, blob_key)
                await self._forget(file_id)
                self._wake(file_id)
                removed += 1
        return removed + await self.uploads.drop_expired()

    async def _sweep_loop(self) -> None:
        while True:
            try:
                swept = await self.sweep()
                if swept:
                    log.info("expiry sweep removed %d files/sessions", swept)
            except Exception:
                log.exception("expiry sweep failed")
            await asyncio.sleep(self.settings.sweep_interval_s)

    # --- rows (blocking; run in threads) ----------------------------------------------------
    def _to_file(self, row: FileRow) -> StoredFile:
        return StoredFile(
            id=row.name,
            key=row.id,
            owner=row.owner,
            display_name=row.display_name,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes,
            sha256_hex=row.sha256_hex,
            state=row.state,
            error=row.error,
            create_time=row.create_time,
            update_time=row.update_time,
            expire_time=row.expire_time,
            path=self.blobs.local_path(row.blob_key),
            video_metadata=row.video_metadata,
            blob_key=row.blob_key,
        )

    def _fetch(self, key: str) -> StoredFile | None:
        """A file by internal id (processing; no owner check)."""
        row = self._rows.get(key)
        return None if row is None else self._to_file(row)

    def _fetch_named(self, owner: str, name: str) -> StoredFile | None:
        """The owner's file by public id."""
        if not FILE_ID_RE.fullmatch(name):
            return None
        row = self._rows.get_named(owner, name)
        return None if row is None else self._to_file(row)

    def _page(
        self, owner: str, limit: int, after: tuple[datetime, str] | None
    ) -> builtins.list[StoredFile]:
        return [self._to_file(r) for r in self._rows.page(owner, limit, after)]

    def _delete_row(self, owner: str, name: str) -> tuple[str, str] | None:
        """Delete the owner's file `name`; returns (internal id, blob key) or None."""
        if not FILE_ID_RE.fullmatch(name):
            return None
        return self._rows.delete_named(owner, name)
