"""`settings.model` → a local model folder: used as is, or downloaded from the Hugging Face hub.

The download fetches only what inference needs (configs, safetensors, tokenizer and template
files), shows the hub's progress bar on a terminal and reports byte progress through
`on_progress`, which is what the API's 503 messages quote while a first start downloads.
With no network or in offline mode it fails at once with a message that says how to run
without the hub, instead of hanging on retries; a copy already in the cache is still used.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sightd.engine.base import LoadProgress
from sightd.errors import Unavailable

log = logging.getLogger(__name__)

ProgressCallback = Callable[[LoadProgress], None]

# Configs, processor and tokenizer: what sightd reads of a model another server runs.
PROCESSOR_PATTERNS = ["*.json", "*.jinja", "*.txt", "*.model", "tokenizer*", "vocab*", "merges*"]
ALLOW_PATTERNS = [
    "*.json",
    "*.safetensors",
    "*.jinja",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "tokenizer*",
    "vocab*",
    "merges*",
]
HUB_TIMEOUT_S = 10.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def help_text(model: str, why: str) -> str:
    """The message of every "cannot get the model" error: what failed and the offline ways out."""
    return (
        f"Model {model} is not available: {why}. To run without the hub, serve a local model "
        "folder (`sightd serve --model /path/to/folder`) or build the small offline test model "
        "(`sightd models tiny DIR`, then `sightd serve --model DIR`)."
    )


def resolve_model(
    model: str,
    *,
    cache_dir: Path | None = None,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
    allow_patterns: list[str] | None = None,
) -> Path:
    """A local folder for `model`: an existing directory as is, else a hub id, downloaded
    (only the files `allow_patterns` match; default: everything inference needs)."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder
    if not _HUB_ID.match(model):
        raise Unavailable(help_text(model, "there is no such folder and it is not a hub id"))
    return download(
        model,
        cache_dir=cache_dir,
        offline=offline,
        on_progress=on_progress,
        allow_patterns=allow_patterns,
    )


def pull(model_id: str, cache_dir: Path | None = None) -> Path:
    """Download `model_id` into the hub cache (`sightd models pull ID`); return its folder."""
    return download(model_id, cache_dir=cache_dir)


def download(
    repo_id: str,
    *,
    cache_dir: Path | None = None,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
    allow_patterns: list[str] | None = None,
) -> Path:
    """Snapshot the inference files of `repo_id` (cached copies are reused, even offline)."""
    from huggingface_hub import HfApi, is_offline_mode, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    report = on_progress or (lambda _: None)
    if offline or is_offline_mode():
        cached = _cached_snapshot(repo_id, cache_dir)
        if cached is None:
            raise Unavailable(help_text(repo_id, "hub access is off and it is not in the cache"))
        return cached
    try:
        info = HfApi().model_info(repo_id, files_metadata=True, timeout=HUB_TIMEOUT_S)
    except GatedRepoError as e:
        raise Unavailable(help_text(repo_id, f"it is gated on the hub ({e})")) from e
    except RepositoryNotFoundError as e:
        raise Unavailable(help_text(repo_id, "the hub has no such model")) from e
    except Exception as e:  # no network, DNS, proxy, timeout, hub down
        cached = _cached_snapshot(repo_id, cache_dir)
        if cached is not None:
            log.warning("hub unreachable (%s); using the cached copy of %s", e, repo_id)
            return cached
        raise Unavailable(help_text(repo_id, f"the hub cannot be reached ({e})")) from e

    missing = _missing_bytes(repo_id, info, cache_dir)
    report(_downloading(repo_id, 0.0 if missing else 1.0, missing))
    folder = snapshot_download(
        repo_id,
        revision=info.sha,
        cache_dir=str(cache_dir) if cache_dir else None,
        allow_patterns=allow_patterns or ALLOW_PATTERNS,
        etag_timeout=HUB_TIMEOUT_S,
        tqdm_class=_progress_bar(repo_id, missing, report),
    )
    report(_downloading(repo_id, 1.0, missing))
    return Path(folder)


def _downloading(repo_id: str, fraction: float, total_bytes: int) -> LoadProgress:
    size = f" of {total_bytes / 1e9:.1f} GB" if total_bytes >= 1e8 else ""
    return LoadProgress(
        stage="downloading",
        message=f"Model {repo_id} is downloading ({int(fraction * 100)}%{size})",
        fraction=fraction,
    )


def _cached_snapshot(repo_id: str, cache_dir: Path | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(
            snapshot_download(
                repo_id,
                cache_dir=str(cache_dir) if cache_dir else None,
                allow_patterns=ALLOW_PATTERNS,
                local_files_only=True,
            )
        )
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def _missing_bytes(repo_id: str, info: Any, cache_dir: Path | None) -> int:
    """Bytes of the wanted files not yet in the cache: the denominator of the progress."""
    from huggingface_hub import try_to_load_from_cache

    siblings = {s.rfilename: s for s in (info.siblings or [])}
    total = 0
    for name in siblings:
        if not any(fnmatch.fnmatch(name, pattern) for pattern in ALLOW_PATTERNS):
            continue
        hit = try_to_load_from_cache(
            repo_id, name, cache_dir=str(cache_dir) if cache_dir else None, revision=info.sha
        )
        if not isinstance(hit, str):
            total += siblings[name].size or 0
    return total


def _progress_bar(repo_id: str, total_bytes: int, report: ProgressCallback) -> type[Any]:
    """The hub's tqdm (drawn on a terminal as usual) that also reports byte progress.

    `snapshot_download` sums every file into one "reconstruction" bar named
    huggingface_hub.snapshot_download; that bar's count over the missing bytes is the fraction.
    Reports are throttled to whole percents.
    """
    from huggingface_hub.utils.tqdm import tqdm as hub_tqdm

    lock = threading.Lock()
    last = [-1]

    class Progress(hub_tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._sightd_counts = kwargs.get("name") == "huggingface_hub.snapshot_download"
            self._sightd_bytes = 0.0  # counted here: a disabled bar (no TTY) does not count
            super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

        def update(self, n: float | None = 1) -> bool | None:
            shown: bool | None = super().update(n)
            if self._sightd_counts and total_bytes > 0:
                self._sightd_bytes += n or 0
                fraction = min(1.0, self._sightd_bytes / total_bytes)
                with lock:
                    percent = int(fraction * 100)
                    if percent == last[0]:
                        return shown
                    last[0] = percent
                report(_downloading(repo_id, fraction, total_bytes))
            return shown

    return Progress
