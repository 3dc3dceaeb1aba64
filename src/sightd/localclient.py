"""In-process use of the service layer for the CLI: `sightd ask`, `inspect` and `files`.

Each builds its services with `services.wiring.open_services`, as the HTTP app does, so a
one-shot answer on the command line goes through exactly the code path of generateContent
(spatial answers included), without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import sys
from pathlib import Path

from sightd.api.auth import ANONYMOUS, owner_of
from sightd.engine.base import SamplingParams
from sightd.engine.registry import prompt_token_counter, video_input
from sightd.engine.render import speech_line
from sightd.media.sampling import timestamp_mmss
from sightd.prompt import ImagePart, VideoPart
from sightd.services import inspect as inspection
from sightd.services.generate import CandidateDelta, CandidateDone
from sightd.services.inputs import (
    GenerateInput,
    LocalMedia,
    MediaIn,
    PartIn,
    TextIn,
    TurnIn,
    VideoOptions,
)
from sightd.services.wiring import open_services
from sightd.settings import Settings

LOCAL_OWNER = ANONYMOUS


async def ask(
    settings: Settings, paths: list[Path], prompt: str, max_output_tokens: int | None = None
) -> int:
    """Print the model's answer to `prompt` about the files at `paths`, streamed."""
    async with open_services(settings) as services:
        engine = services.engine
        while not await asyncio.to_thread(engine.wait_ready, 1.0):
            print(f"\r{engine.progress.message}", end="", file=sys.stderr, flush=True)
        engine.require()
        parts: list[PartIn] = [MediaIn(LocalMedia(p, None), str(p)) for p in paths]
        parts.append(TextIn(prompt))
        inp = GenerateInput(
            model=services.catalog.served_id,
            turns=(TurnIn("user", tuple(parts)),),
            params=SamplingParams(max_output_tokens=max_output_tokens),
        )
        items = await services.generate.stream(LOCAL_OWNER, inp)
        async for item in items:
            if isinstance(item, CandidateDelta):
                print(item.delta.text, end="", flush=True)
            elif isinstance(item, CandidateDone):
                print()
    return 0


async def files_command(settings: Settings, args: argparse.Namespace) -> int:
    """`sightd files list|upload|delete` on the local data dir, as the owner of `--api-key`."""
    owner = owner_of(args.api_key) if args.api_key else ANONYMOUS
    async with open_services(settings, start_engine=False) as services:
        files = services.files
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
    return 0


async def inspect(
    settings: Settings,
    path: Path,
    *,
    fps: float | None,
    start_s: float | None,
    end_s: float | None,
    resolution: str | None,
    html_out: Path | None = None,
) -> int:
    """Print what the model would see of `path`: frame times and sizes, transcript, tokens;
    with `html_out`, also write that view (frames inline) as a self-contained HTML file.

    Runs the Materializer exactly as a request does (same sampling, cache-free), minus the model.
    """
    async with open_services(settings, start_engine=False) as services:
        options = VideoOptions(start_s=start_s, end_s=end_s, fps=fps)
        part = MediaIn(LocalMedia(path, None), str(path), options, resolution)
        prompt, usage = await inspection.materialize(services.materializer, LOCAL_OWNER, part)
    frames = 0
    for item in prompt.turns[0].parts:
        if isinstance(item, ImagePart):
            frames += 1
            print(f"image {item.image.width}x{item.image.height}")
        elif isinstance(item, VideoPart):
            frames += len(item.frames)
            how = video_input(settings)
            print(f"video goes in as {how.description}")
            _print_video(settings, item)
    details = ", ".join(f"{m} {n}" for m, n in usage.by_modality.items() if n)
    print(f"{frames} frames; tokens: {usage.total} ({details})")
    counter = await asyncio.to_thread(prompt_token_counter, settings)
    own = None if counter is None else await asyncio.to_thread(counter, prompt)
    print(
        "the model's own count: unknown (its files are not on this machine)"
        if own is None
        else f"the model's own count: {own} tokens (its template, media at the size it sees)"
    )
    if html_out is not None:
        view = await asyncio.to_thread(
            inspection.inspection,
            settings,
            path.name,
            prompt,
            usage,
            max_frames=frames,
            model_tokens=own,
        )
        html_out.write_text(inspection.to_html(view), encoding="utf-8")
        print(f"wrote {html_out}")
    return 0


def _print_video(settings: Settings, video: VideoPart) -> None:
    """The video as the model reads it: header, then frames and speech in time order (a
    frames-only model reads exactly this; a native one takes the frames as one video)."""
    print(inspection.video_header_for(settings, video))
    speech = [(seg.start_s, 0, speech_line(seg.start_s, seg.text)) for seg in video.transcript]
    frames = [
        (f.time_s, 1, f"{timestamp_mmss(f.time_s)}  frame {f.image.image.width}x"
         f"{f.image.image.height}")
        for f in video.frames
    ]  # fmt: skip
    for _, _, line in sorted(speech + frames, key=lambda e: (e[0], e[1])):
        print(line)
