"""The resumable-upload state machine, with no HTTP in it.

    start ──► session (received 0) ──append(offset, bytes)──► received n ──finalize──► file row
                 │                         │                                   (PROCESSING)
                 └── expires / cancel ─────┴──► session row and partial blob dropped

A session is named by an unguessable bearer token (only its sha256 is stored). `received_bytes`
in SQL is the authority on how much of the partial blob is valid: bytes a crashed writer left past
it are cut off on the next append. Chunks stream to disk in bounded memory and are hashed as they
go; a re-sent chunk whose bytes are already stored is skipped (the SDKs re-send on a missing
status header), and a gap, bytes past the declared size, the per-file cap or the owner's quota
end the chunk with an error and leave the session as it was before that chunk.

One chunk (or finalize) at a time per session: a chunk or finalize that arrives while another
chunk of the same session is still being written is refused at once with ABORTED (409, reason
UPLOAD_CHUNK_IN_FLIGHT), as Google's resumable protocol answers a concurrent write, instead of
queueing behind it; the client queries the offset and resumes. A writer cannot hold the session
long: the API drops a body that stalls for `upload_idle_timeout_s`, and the stalled chunk's
bytes are rolled back to the committed offset. Cancel still waits for the chunk in flight.

Across replicas the writer also holds the session row (`storage/holds.py`): a chunk reaching
another replica waits up to `hold_s` for the hold to end (a dead replica's lapses in that time),
then is refused the same way.

Opening a session reserves its declared size: an owner's stored bytes plus what its open sessions
declared (or received, when no size was declared) stay within the quota, and an owner holds at
most `max_sessions` open sessions, so a key cannot pin disk with sessions it never finishes.
The checks and the write they guard (the new session; the bytes an undeclared session commits)
run in one transaction under the owner's database lock (`storage/locks.py`), so replicas sharing
a database cannot overshoot a limit between them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import secrets
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from sightd import errors
from sightd.storage.blobs import BlobStore
from sightd.storage.files import FileTable
from sightd.storage.holds import HOLD_S, SessionHolds, in_flight
from sightd.storage.locks import lock_owner
from sightd.storage.metadata import UPLOAD_SESSIONS, utcnow

log = logging.getLogger(__name__)

WRITE_BYTES = 1 << 20
"""Bytes gathered before each disk write: bounds memory per chunk whatever the chunk size."""
FILE_ID_RE = re.compile(r"[a-z0-9]{1,40}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_HASHER_CACHE = 256
DECLARED_SIZE_FIELD = "x-goog-upload-header-content-length"  # the header that declared it


def new_file_id() -> str:
    """A random `[a-z0-9]{12}` id (the SDK keeps only `[a-z0-9]+` when it parses file URIs)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class UploadSession:
    """An unfinished upload as stored (`id` is the token's sha256; `file_id` the internal id of
    the file it becomes, `name` its public id, unique per owner)."""

    id: str
    owner: str
    file_id: str
    name: str
    display_name: str | None
    mime_type: str
    declared_size: int | None
    received_bytes: int
    create_time: datetime
    expire_time: datetime


def _session_id(token: str) -> str:
    if not _TOKEN_RE.fullmatch(token):
        raise errors.NotFound("Upload session not found or expired.")
    return hashlib.sha256(token.encode()).hexdigest()


def _to_session(row: Any) -> UploadSession:
    values = row._asdict()
    values.pop("holder", None)
    values.pop("held_until", None)
    values["name"] = values["name"] or values["file_id"]  # rows from before names were scoped
    return UploadSession(**values)


def _write(fh: BinaryIO, hasher: Any, data: bytes) -> None:
    fh.write(data)
    hasher.update(data)


def _rollback(fh: BinaryIO, size: int) -> None:
    fh.truncate(size)
    fh.close()


class UploadStore:
    """Sessions in SQL, bytes in a `BlobStore`. Async methods; SQL and disk run in threads."""

    def __init__(
        self,
        db: Engine,
        blobs: BlobStore,
        *,
        max_file_bytes: int,
        quota_bytes: int,
        session_ttl_s: float,
        file_ttl_s: float,
        max_sessions: int = 64,
        clock: Callable[[], datetime] = utcnow,
        replica: str = "local",
        processing_lease_s: float = 60.0,
        hold_s: float = HOLD_S,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.session_ttl_s = session_ttl_s
        self.file_ttl_s = file_ttl_s
        self.max_sessions = max_sessions
        self._clock = clock
        self.replica = replica
        """Names this process in chunk holds and as the processing owner of finalized files."""
        self.processing_lease_s = processing_lease_s
        self._holds = SessionHolds(
            db, replica=replica, hold_s=hold_s, clock=clock, exists=self._load
        )
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # session id -> (sha256 state, bytes hashed): saves re-reading the partial per chunk.
        self._hashers: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    # --- public operations ------------------------------------------------------------------
    async def start(
        self,
        owner: str,
        *,
        declared_size: int | None,
        mime_type: str,
        display_name: str | None = None,
        file_id: str | None = None,
    ) -> tuple[str, UploadSession]:
        """Open a session; returns (bearer token, session). `file_id` is a caller-chosen id."""
        if declared_size is not None:
            if declared_size < 0:
                raise errors.InvalidArgument(
                    "Upload size must not be negative.", field=DECLARED_SIZE_FIELD
                )
            if declared_size > self.max_file_bytes:
                raise errors.PayloadTooLarge(
                    f"File of {declared_size} bytes exceeds the {self.max_file_bytes}-byte limit.",
                    field=DECLARED_SIZE_FIELD,
                )
        if file_id is not None and not FILE_ID_RE.fullmatch(file_id):
            raise errors.InvalidArgument(
                "File name must be files/ followed by 1-40 lowercase letters or digits.",
                field="file.name",
            )
        token = secrets.token_urlsafe(32)
        session = await asyncio.to_thread(
            self._insert_session,
            owner,
            _session_id(token),
            declared_size,
            mime_type,
            display_name,
            file_id,
        )
        await asyncio.to_thread(lambda: self._blobs.open_append(session.id, 0).close())
        return token, session

    async def get(self, token: str) -> UploadSession:
        """The live session for `token`; NotFound when unknown or expired."""
        return await asyncio.to_thread(self._load, _session_id(token))

    async def append(self, token: str, offset: int, chunks: AsyncIterable[bytes]) -> UploadSession:
        """Store the bytes of a chunk that starts at `offset`; returns the updated session."""
        sid = _session_id(token)
        async with self._writing(sid):
            s = await asyncio.to_thread(self._load, sid)
            if offset < 0 or offset > s.received_bytes:
                raise errors.InvalidArgument(
                    f"Upload offset {offset} does not match the {s.received_bytes} bytes "
                    "received so far.",
                    field="x-goog-upload-offset",
                    reason="UPLOAD_OFFSET_MISMATCH",
                )
            room, limit_error = await asyncio.to_thread(self._room, s)
            hasher = await self._hasher(s)
            fh = await asyncio.to_thread(self._blobs.open_append, sid, s.received_bytes)
            skip, written, buf = s.received_bytes - offset, 0, bytearray()
            try:
                async for piece in chunks:
                    if skip:
                        cut = min(skip, len(piece))
                        piece, skip = piece[cut:], skip - cut
                    if not piece:
                        continue
                    if written + len(buf) + len(piece) > room:
                        raise limit_error
                    buf += piece
                    if len(buf) >= WRITE_BYTES:
                        await asyncio.to_thread(_write, fh, hasher, bytes(buf))
                        written += len(buf)
                        buf.clear()
                if buf:
                    await asyncio.to_thread(_write, fh, hasher, bytes(buf))
                    written += len(buf)
                await asyncio.to_thread(fh.close)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(_rollback, fh, s.received_bytes))
                raise
            new_size = s.received_bytes + written
            if written:
                await asyncio.to_thread(self._commit_received, s, new_size)
            self._remember(sid, hasher, new_size)
            return dataclasses.replace(s, received_bytes=new_size)

    async def finalize(self, token: str) -> UploadSession:
        """Turn a complete session into a PROCESSING file row (`file_id`); returns the session."""
        sid = _session_id(token)
        async with self._writing(sid):
            s = await asyncio.to_thread(self._load, sid)
            if s.declared_size is not None and s.received_bytes != s.declared_size:
                raise errors.InvalidArgument(
                    f"Upload is incomplete: {s.received_bytes} of {s.declared_size} bytes "
                    "received.",
                    field="x-goog-upload-command",
                    reason="UPLOAD_INCOMPLETE",
                )
            sha256_hex = (await self._hasher(s)).hexdigest()
            blob_key = await asyncio.to_thread(
                self._blobs.finalize, sid, s.file_id, s.received_bytes
            )
            try:
                await asyncio.to_thread(self._commit_file, s, sha256_hex, blob_key)
            except BaseException:
                # The bytes are gone from the session, so the session goes too; the client was
                # told `final` with an error and restarts.
                await asyncio.shield(asyncio.to_thread(self._discard, s, blob_key))
                raise
            finally:
                self._hashers.pop(sid, None)
            # Only now, with the file recorded, may the partial go (an object store keeps its
            # parts until here so a crash mid-finalize loses nothing; the local store has
            # already moved its partial into place).
            try:
                await asyncio.shield(asyncio.to_thread(self._blobs.delete_partial, sid))
            except (errors.SightdError, OSError):
                log.warning("dropping the partial upload of files/%s failed", s.name, exc_info=True)
            return s

    async def cancel(self, token: str) -> None:
        """Drop a session and its partial bytes (idempotent for a known token)."""
        sid = _session_id(token)
        async with self._lock(sid):
            s = await asyncio.to_thread(self._load, sid)
            await asyncio.to_thread(self._discard, s, None)

    async def drop_expired(self) -> int:
        """Drop sessions past their expiry; returns how many."""
        expired = await asyncio.to_thread(self._expired_sessions)
        for s in expired:
            await asyncio.to_thread(self._discard, s, None)
        return len(expired)

    # --- internals (blocking; run in threads) -----------------------------------------------
    def _lock(self, sid: str) -> asyncio.Lock:
        lock = self._locks.get(sid)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sid] = lock
        return lock

    @asynccontextmanager
    async def _writing(self, sid: str) -> AsyncIterator[None]:
        """Exclusive use of the session for one chunk or finalize: this process's lock, free
        right now (or Aborted at once), then the session row's hold across replicas, renewed
        until the block ends and released after it."""
        lock = self._lock(sid)
        if lock.locked():
            raise in_flight()
        async with lock, self._holds.held(sid):
            yield

    async def _hasher(self, s: UploadSession) -> Any:
        """sha256 state over the first `received_bytes` of the partial blob."""
        cached = self._hashers.pop(s.id, None)
        if cached is not None and cached[1] == s.received_bytes:
            return cached[0]
        return await asyncio.to_thread(self._rehash, s)

    def _rehash(self, s: UploadSession) -> Any:
        hasher, left = hashlib.sha256(), s.received_bytes
        with self._blobs.open_partial(s.id) as fh:
            while left:
                data = fh.read(min(WRITE_BYTES, left))
                if not data:
                    raise errors.Aborted("Upload data lost; restart the upload.")
                hasher.update(data)
                left -= len(data)
        return hasher

    def _remember(self, sid: str, hasher: Any, size: int) -> None:
        self._hashers[sid] = (hasher, size)
        while len(self._hashers) > _HASHER_CACHE:
            self._hashers.popitem(last=False)

    def _load(self, sid: str) -> UploadSession:
        with self._db.connect() as conn:
            row = conn.execute(select(UPLOAD_SESSIONS).where(UPLOAD_SESSIONS.c.id == sid)).first()
        if row is None or row.expire_time <= self._clock():
            raise errors.NotFound("Upload session not found or expired.")
        return _to_session(row)

    def _used_bytes(self, conn: Connection, owner: str, except_session: str | None) -> int:
        now = self._clock()
        files = FileTable.stored_bytes_query(owner, now)
        # A session holds what it declared (never less than it received) or what it received.
        reserved = func.coalesce(UPLOAD_SESSIONS.c.declared_size, UPLOAD_SESSIONS.c.received_bytes)
        sessions = select(func.coalesce(func.sum(reserved), 0)).where(
            and_(UPLOAD_SESSIONS.c.owner == owner, UPLOAD_SESSIONS.c.expire_time > now)
        )
        if except_session is not None:
            sessions = sessions.where(UPLOAD_SESSIONS.c.id != except_session)
        return int(conn.execute(files).scalar_one()) + int(conn.execute(sessions).scalar_one())

    def _quota_error(self) -> errors.ResourceExhausted:
        return errors.ResourceExhausted(
            f"Storage quota of {self.quota_bytes} bytes exceeded; delete files first.",
            reason="STORAGE_QUOTA_EXCEEDED",
        )

    def _room(self, s: UploadSession) -> tuple[int, errors.SightdError]:
        """How many bytes may still follow, and the error for going past them."""
        got = s.received_bytes
        too_big = errors.PayloadTooLarge(f"File exceeds the {self.max_file_bytes}-byte limit.")
        with self._db.connect() as conn:
            used = self._used_bytes(conn, s.owner, s.id)
        limits: list[tuple[int, errors.SightdError]] = [
            (self.max_file_bytes - got, too_big),
            (self.quota_bytes - used - got, self._quota_error()),
        ]
        if s.declared_size is not None:
            over = errors.InvalidArgument(
                f"Upload has more bytes than the declared {s.declared_size}.",
                field="body",
                reason="UPLOAD_SIZE_MISMATCH",
            )
            limits.insert(0, (s.declared_size - got, over))
        return min(limits, key=lambda item: item[0])

    def _insert_session(
        self,
        owner: str,
        sid: str,
        declared_size: int | None,
        mime_type: str,
        display_name: str | None,
        file_id: str | None,
    ) -> UploadSession:
        now = self._clock()
        for _attempt in range(5):
            internal = new_file_id()
            public = file_id or internal  # server-made ids keep one value: URIs stay the same
            values: dict[str, Any] = {
                "id": sid,
                "owner": owner,
                "file_id": internal,
                "name": public,
                "display_name": display_name,
                "mime_type": mime_type,
                "declared_size": declared_size,
                "received_bytes": 0,
                "create_time": now,
                "expire_time": now + timedelta(seconds=self.session_ttl_s),
            }
            try:
                with self._db.begin() as conn:
                    # The limits and the insert they guard, atomic across replicas.
                    lock_owner(conn, UPLOAD_SESSIONS, owner)
                    self._check_start_limits(conn, owner, declared_size)
                    if not FileTable.taken(conn, internal, owner, public):
                        conn.execute(insert(UPLOAD_SESSIONS).values(**values))
                        return UploadSession(**values)
            except IntegrityError:
                # Either the random internal id or this owner's name is held by a session.
                if file_id is not None and self._name_reserved(owner, file_id):
                    raise errors.AlreadyExists(f"File files/{file_id} already exists.") from None
                continue
            if file_id is not None:
                raise errors.AlreadyExists(f"File files/{file_id} already exists.")
        raise errors.Aborted("Could not allocate a file id; retry.")

    def _check_start_limits(self, conn: Connection, owner: str, declared_size: int | None) -> None:
        open_sessions = select(func.count()).where(
            and_(UPLOAD_SESSIONS.c.owner == owner, UPLOAD_SESSIONS.c.expire_time > self._clock())
        )
        if int(conn.execute(open_sessions).scalar_one()) >= self.max_sessions:
            raise errors.ResourceExhausted(
                f"Too many open upload sessions (limit {self.max_sessions} per API key); "
                "finish or cancel some, or wait for them to expire.",
                reason="TOO_MANY_UPLOAD_SESSIONS",
            )
        if self._used_bytes(conn, owner, None) + (declared_size or 0) > self.quota_bytes:
            raise self._quota_error()

    def _name_reserved(self, owner: str, name: str) -> bool:
        query = select(UPLOAD_SESSIONS.c.id).where(
            and_(UPLOAD_SESSIONS.c.owner == owner, UPLOAD_SESSIONS.c.name == name)
        )
        with self._db.connect() as conn:
            return conn.execute(query).first() is not None

    def _commit_received(self, s: UploadSession, new_size: int) -> None:
        """Record the chunk's bytes (compare-and-set on the bytes it started from). A session of
        undeclared size reserved nothing, so its growth is checked against the quota again here,
        under the owner's lock: two replicas' concurrent chunks cannot both squeeze in."""
        with self._db.begin() as conn:
            if s.declared_size is None:
                lock_owner(conn, UPLOAD_SESSIONS, s.owner)
                if self._used_bytes(conn, s.owner, s.id) + new_size > self.quota_bytes:
                    self._hashers.pop(s.id, None)
                    raise self._quota_error()
            done = conn.execute(
                update(UPLOAD_SESSIONS)
                .where(
                    and_(
                        UPLOAD_SESSIONS.c.id == s.id,
                        UPLOAD_SESSIONS.c.received_bytes == s.received_bytes,
                    )
                )
                .values(received_bytes=new_size)
            ).rowcount
        if done != 1:
            self._hashers.pop(s.id, None)
            raise errors.Aborted("The upload session changed concurrently; query and resume.")

    def _commit_file(self, s: UploadSession, sha256_hex: str, blob_key: str) -> None:
        now = self._clock()
        with self._db.begin() as conn:
            gone = conn.execute(
                delete(UPLOAD_SESSIONS).where(UPLOAD_SESSIONS.c.id == s.id)
            ).rowcount
            if gone != 1:
                raise errors.Aborted("The upload session was finalized or dropped concurrently.")
            FileTable.insert_processing(
                conn,
                key=s.file_id,
                owner=s.owner,
                name=s.name,
                display_name=s.display_name,
                mime_type=s.mime_type,
                size_bytes=s.received_bytes,
                sha256_hex=sha256_hex,
                blob_key=blob_key,
                now=now,
                ttl_s=self.file_ttl_s,
                processing_owner=self.replica,
                lease_s=self.processing_lease_s,
            )

    def _discard(self, s: UploadSession, blob_key: str | None) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(UPLOAD_SESSIONS).where(UPLOAD_SESSIONS.c.id == s.id))
        self._blobs.delete_partial(s.id)
        if blob_key is not None:
            self._blobs.delete(blob_key)
        self._hashers.pop(s.id, None)

    def _expired_sessions(self) -> list[UploadSession]:
        with self._db.connect() as conn:
            rows = conn.execute(
                select(UPLOAD_SESSIONS).where(UPLOAD_SESSIONS.c.expire_time <= self._clock())
            ).all()
        return [_to_session(r) for r in rows]
