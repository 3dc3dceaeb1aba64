"""Media named by URL (`fileData.fileUri`, Interactions `uri` blocks): fetched once, reused.

Downloads land in `<data_dir>/url-cache/<key>/media`, keyed by a hash of the URL (YouTube: of
the video id), and the key doubles as the video pipeline's cache key, so asking about the same
URL again reuses both the bytes and the decoded frames. Entries live `url_cache_ttl_s` from
their last use; expired ones (and their frame caches) are pruned by the next fetch, at most once
a minute, and a new download evicts least-recently-used entries past `url_cache_max_bytes`.

Fetches run in threads of their own (`url_fetch_concurrency` of them), never in the default
executor that decoding and SQL share, so slow media servers cannot starve other requests. Each
key may have `url_fetch_per_key` fetches in flight (more: 429), and the server as many as it
has threads (more: 503); each fetch ends at its `url_timeout_s` deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from sightd import errors
from sightd.media import youtube
from sightd.media.fetch import Allowlist, FetchLimits, Resolver, fetch_url, system_resolve
from sightd.settings import Settings
from sightd.storage import lru

log = logging.getLogger(__name__)
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True)
class UrlFile:
    """A fetched URL on disk, with the Content-Type its server sent (a hint, not the truth)."""

    path: Path
    mime_type: str | None
    cache_key: str


def cache_key(url: str) -> str:
    vid = youtube.video_id(url)
    name = f"youtube:{vid}" if vid else url.strip()
    return "url-" + hashlib.sha256(name.encode()).hexdigest()[:24]


class UrlSource:
    """Fetches URLs under the settings' policy into the URL cache (blocking; run in a thread)."""

    def __init__(
        self,
        settings: Settings,
        *,
        forget: Callable[[str], None] = lambda key: None,
        resolve: Resolver = system_resolve,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.root = settings.data_dir / "url-cache"
        self.forget = forget
        self.resolve = resolve
        self.transport = transport
        self.limits = FetchLimits(
            max_bytes=settings.url_max_bytes,
            timeout_s=settings.url_timeout_s,
            allowlist=Allowlist.parse(settings.url_allowlist),
        )
        self._last_prune = 0.0
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.url_fetch_concurrency, thread_name_prefix="sightd-url-fetch"
        )
        self._in_flight: dict[str, int] = {}  # owner → fetches submitted and not yet done
        self._counts = threading.Lock()

    async def fetch_async(self, owner: str, url: str, field: str) -> UrlFile:
        """`fetch` in the URL fetch threads, admitted under the per-key and server-wide caps.

        Cancelling the caller does not stop a fetch already running; it still ends by its
        deadline, and it counts against the caps until then."""
        self._admit(owner, url, field)
        try:
            work = self._pool.submit(self.fetch, url, field)
        except BaseException:
            self._release(owner)
            raise
        work.add_done_callback(lambda _: self._release(owner))
        return await asyncio.wrap_future(work)

    def _admit(self, owner: str, url: str, field: str) -> None:
        with self._counts:
            mine = self._in_flight.get(owner, 0)
            if mine >= self.settings.url_fetch_per_key:
                raise errors.ResourceExhausted(
                    f"This API key already has {mine} media URLs being fetched; retry when "
                    f"they are done ({url}).",
                    field=field,
                    retry_after_s=max(1.0, self.limits.timeout_s / 2),
                )
            if sum(self._in_flight.values()) >= self.settings.url_fetch_concurrency:
                raise errors.Unavailable(
                    f"The server is fetching as many media URLs as it can; retry later ({url}).",
                    field=field,
                    retry_after_s=max(1.0, self.limits.timeout_s / 2),
                )
            self._in_flight[owner] = mine + 1

    def _release(self, owner: str) -> None:
        with self._counts:
            left = self._in_flight.get(owner, 0) - 1
            if left > 0:
                self._in_flight[owner] = left
            else:
                self._in_flight.pop(owner, None)

    def close(self) -> None:
        """Stop taking fetches; those running end by their deadline."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def fetch(self, url: str, field: str) -> UrlFile:
        """The URL's bytes on disk: from the cache when fresh, else downloaded now."""
        try:
            return self._fetch(url)
        except errors.SightdError as exc:
            if exc.field is None:
                exc.field = field
            raise

    def _fetch(self, url: str) -> UrlFile:
        is_yt = youtube.is_youtube(url)
        if not self.settings.url_fetch:
            raise errors.InvalidArgument(
                f"This server does not fetch media from URLs ({url}); upload it with the Files "
                "API or send it inline."
            )
        if is_yt and not self.settings.youtube:
            raise errors.InvalidArgument(
                f"This server does not download YouTube videos ({url}); download the video and "
                "upload it with the Files API instead."
            )
        self.prune()
        key = cache_key(url)
        folder = self.root / key
        cached = self._cached(folder, key)
        if cached is not None:
            return cached
        if folder.exists():  # expired: its frames may be stale too
            shutil.rmtree(folder, ignore_errors=True)
            self.forget(key)
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=self.root))
        try:
            if is_yt:
                got = youtube.download(
                    url,
                    work,
                    max_bytes=self.limits.max_bytes,
                    timeout_s=self.limits.timeout_s,
                    resolve=self.resolve,
                )
                got.path.replace(work / "media")
            else:
                got = fetch_url(
                    url, work / "media", self.limits, resolve=self.resolve, transport=self.transport
                )
            (work / "meta.json").write_text(json.dumps({"url": url, "mime_type": got.mime_type}))
            with contextlib.suppress(OSError):  # a concurrent request stored it first
                work.replace(folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        lru.touch(folder)
        lru.evict(self.root, self.settings.url_cache_max_bytes, keep=key, on_evict=self.forget)
        found = self._cached(folder, key)
        if found is None:
            raise errors.Internal(f"The media fetched from {url} vanished from the cache.")
        return found

    def _cached(self, folder: Path, key: str) -> UrlFile | None:
        meta = folder / "meta.json"
        try:
            info = json.loads(meta.read_text())
            if time.time() - meta.stat().st_mtime > self.settings.url_cache_ttl_s:
                return None
            os.utime(meta)  # last use: what the TTL counts from
            lru.touch(folder)  # and what the size bound evicts by
        except (OSError, ValueError):
            return None
        mime = info.get("mime_type") if isinstance(info, dict) else None
        return UrlFile(folder / "media", mime if isinstance(mime, str) else None, key)

    def prune(self, *, force: bool = False) -> int:
        """Delete entries unused for a TTL (and their frame caches); returns how many."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_prune < PRUNE_EVERY_S:
                return 0
            self._last_prune = now
        removed = 0
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return 0
        cutoff = time.time() - self.settings.url_cache_ttl_s
        for entry in entries:
            stamp = entry / "meta.json" if not entry.name.startswith(".") else entry
            try:
                # Unfinished downloads get a generous grace: the fetch deadline, twice.
                grace = 2 * self.settings.url_timeout_s if entry.name.startswith(".") else 0
                if stamp.stat().st_mtime + grace >= cutoff:
                    continue
            except OSError:
                pass  # no meta: a broken entry
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.name.startswith("."):
                self.forget(entry.name)
            removed += 1
        if removed:
            log.info("URL cache: pruned %d expired entries", removed)
        return removed
