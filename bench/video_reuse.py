"""Reuse of an uploaded video: the second request's media processing against the first's.

Uploads a coded 720p30 H.264 file with an audio track through the Files API service, then runs
the Materializer (probe, 1 fps frames, transcript — the media part of a generateContent request,
no model) twice on it and prints the ratio; goal: second/first < 0.3. The first run decodes and
transcribes and fills the per-file cache; the second reads the cached probe, frames and
transcript.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.video_sampling import make_file  # noqa: E402
from sightd.media.probe import probe_file  # noqa: E402
from sightd.services.files import FileService  # noqa: E402
from sightd.services.inputs import FileMedia, GenerateInput, MediaIn, TextIn, TurnIn  # noqa: E402
from sightd.services.materialize import Materializer  # noqa: E402
from sightd.settings import Settings  # noqa: E402
from sightd.storage.db import create_db, init_schema  # noqa: E402

OWNER = "bench"


async def run(video: Path, data_dir: Path, speech: str) -> tuple[float, float, int]:
    settings = Settings(data_dir=data_dir, speech_backend=speech)
    db = create_db(settings.effective_database_url)
    init_schema(db)
    files = FileService(settings, db, probe_file)
    await files.start()
    stored = await files.upload_path(OWNER, video, mime_type="video/mp4")
    stored = await files.resolve_for_use(OWNER, stored.id)
    materializer = Materializer(settings, files)
    part = MediaIn(FileMedia(stored.id, "video/mp4"), "contents[0].parts[0]")
    inp = GenerateInput(model="bench", turns=(TurnIn("user", (part, TextIn("Summarize."))),))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        _prompt, usage = await materializer.prompt(OWNER, inp, 4096, lambda _t: 1)
        times.append(time.perf_counter() - start)
    await files.stop()
    db.dispose()
    return times[0], times[1], usage.total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--speech", default="pocketsphinx", help="speech backend (or none)")
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "sightd-bench"
    cache.mkdir(exist_ok=True)
    video = make_file(cache / f"reuse_{args.minutes:g}min.mp4", args.minutes)
    with tempfile.TemporaryDirectory(prefix="sightd-reuse-") as tmp:
        first, second, tokens = asyncio.run(run(video, Path(tmp), args.speech))
    ratio = second / first
    print(f"video: {args.minutes:g} min 720p30 H.264 + audio; prompt tokens {tokens}")
    print(f"first request media processing: {first:.2f} s; second: {second:.2f} s")
    print(f"ratio second/first = {ratio:.3f} (goal < 0.3): {'OK' if ratio < 0.3 else 'OVER'}")
    return 0 if ratio < 0.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
