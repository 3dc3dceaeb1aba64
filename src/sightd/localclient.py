"""In-process use of the service layer for the CLI: `sightd ask` and `sightd files`.

`ask` builds the same Materializer / GenerateService a request uses, so a one-shot answer on the
command line goes through exactly the code path of generateContent, without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import sys
from functools import partial
from pathlib import Path

from sightd.api.auth import ANONYMOUS, owner_of
from sightd.engine.base import ImagePart, SamplingParams, TextPart
from sightd.engine.loading import EngineHandle
from sightd.media.probe import probe_file
from sightd.services.files import FileService
from sightd.services.generate import CandidateDelta, CandidateDone, GenerateService
from sightd.services.inputs import (
    GenerateInput,
    LocalMedia,
    MediaIn,
    PartIn,
    TextIn,
    TurnIn,
    VideoOptions,
)
from sightd.services.materialize import Materializer
from sightd.services.models import ModelCatalog
from sightd.services.runner import ModelRunner
from sightd.settings import Settings
from sightd.storage.db import create_db, init_schema

LOCAL_OWNER = ANONYMOUS


async def ask(
    settings: Settings, paths: list[Path], prompt: str, max_output_tokens: int | None = None
) -> int:
    """Print the model's answer to `prompt` about the files at `paths`, streamed."""
    engine = EngineHandle(settings)
    engine.start()
    while not await asyncio.to_thread(engine.wait_ready, 1.0):
        print(f"\r{engine.progress.message}", end="", file=sys.stderr, flush=True)
    engine.require()
    db = create_db(settings.effective_database_url)
    init_schema(db)
    files = FileService(settings, db, probe_file)
    catalog = ModelCatalog(settings.model)
    service = GenerateService(engine, catalog, Materializer(settings, files), ModelRunner(1))
    parts: list[PartIn] = [MediaIn(LocalMedia(p, None), str(p)) for p in paths]
    parts.append(TextIn(prompt))
    inp = GenerateInput(
        model=catalog.served_id,
        turns=(TurnIn("user", tuple(parts)),),
        params=SamplingParams(max_output_tokens=max_output_tokens),
    )
    items = await service.stream(LOCAL_OWNER, inp)
    async for item in items:
        if isinstance(item, CandidateDelta):
            print(item.delta.text, end="", flush=True)
        elif isinstance(item, CandidateDone):
            print()
    db.dispose()
    return 0


async def files_command(settings: Settings, args: argparse.Namespace) -> int:
    """`sightd files list|upload|delete` on the local data dir, as the owner of `--api-key`."""
    owner = owner_of(args.api_key) if args.api_key else ANONYMOUS
    db = create_db(settings.effective_database_url)
    init_schema(db)
    files = FileService(
        settings, db, partial(probe_file, max_image_pixels=settings.max_image_pixels)
    )
    await files.start()
    try:
        if args.files_command == "upload":
            path = Path(args.path)
            mime = (
                args.mime_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            )
            stored = await files.upload_path(
                owner, path, mime_type=mime, display_name=args.display_name
            )
            stored = await files.get(owner, stored.id)
            print(
                f"{stored.name}\t{stored.state}\t{stored.mime_type}\t{stored.size_bytes}"
                + (f"\t{stored.error}" if stored.error else "")
            )
        elif args.files_command == "delete":
            await files.delete(owner, args.name.removeprefix("files/"))
            print(f"deleted {args.name}")
        else:
            token: str | None = None
            while True:
                page, token = await files.list(owner, 100, token)
                for f in page:
                    print(
                        f"{f.name}\t{f.state}\t{f.mime_type}\t{f.size_bytes}\t"
                        f"{f.display_name or ''}\texpires {f.expire_time:%Y-%m-%d %H:%M}Z"
                    )
                if not token:
                    break
    finally:
        await files.stop()
        db.dispose()
    return 0


INSPECT_IMAGE_SIDE_PX = 4096


async def inspect(
    settings: Settings,
    path: Path,
    *,
    fps: float | None,
    start_s: float | None,
    end_s: float | None,
    resolution: str | None,
) -> int:
    """Print what the model would see of `path`: frame times and sizes, transcript, tokens.

    Runs the Materializer exactly as a request does (same sampling, cache-free), minus the model.
    """
    db = create_db(settings.effective_database_url)
    init_schema(db)
    materializer = Materializer(settings, FileService(settings, db, probe_file))
    options = VideoOptions(start_s=start_s, end_s=end_s, fps=fps)
    part = MediaIn(LocalMedia(path, None), str(path), options, resolution)
    inp = GenerateInput(model="inspect", turns=(TurnIn("user", (part,)),))
    prompt, usage = await materializer.prompt(
        LOCAL_OWNER, inp, INSPECT_IMAGE_SIDE_PX, lambda _text: 0
    )
    pending_time: str | None = None
    frames = 0
    for item in prompt.turns[0].parts:
        if isinstance(item, TextPart):
            if _is_mmss(item.text):
                pending_time = item.text
            else:
                print(item.text)
        elif isinstance(item, ImagePart):
            frames += 1
            label = pending_time or "--:--"
            print(f"{label}  frame {item.image.width}x{item.image.height}")
            pending_time = None
    details = ", ".join(f"{m} {n}" for m, n in usage.by_modality.items() if n)
    print(f"{frames} frames; tokens: {usage.total} ({details})")
    db.dispose()
    return 0


def _is_mmss(text: str) -> bool:
    head, sep, tail = text.partition(":")
    return bool(sep) and head.isdigit() and tail.isdigit() and len(tail) == 2
