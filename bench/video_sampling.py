"""1 fps video sampling: sightd (`iter_frames`) against `ffmpeg -vf fps=1:round=up`, one run.

Reports, on the same file (a generated 10-minute 1280×720 30 fps H.264/AAC video whose pixels
name their frame, or `--file`):
- wall seconds of each, and the ratio sightd / ffmpeg (goal ≤ 1.0, stretch ≤ 0.6). Both give
  768-px RGB frames to Python: sightd as PIL images, ffmpeg as rgb24 through a pipe (the
  CLI-pipe approach a server would otherwise use). FFmpeg threads as it likes;
- frame-time accuracy: for each target second k, whether each tool returned the frame on
  screen at k (read back from the pixels), and sightd's reported time error;
- peak RSS of each (its own process); with `--long`, sightd's peak RSS and speed on a 60-minute
  file (goal < 500 MB), made by looping the 10-minute file (remuxed, no re-encoding).
`--sparse` adds the same comparison at 0.1 fps, `--plain` sightd with its seek and
skip-frame levers off. The ffmpeg CLI is `ffmpeg` on PATH, else the imageio-ffmpeg wheel's.

    .venv/bin/python bench/video_sampling.py [--file F] [--long] [--sparse] [--plain]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

MAX_SIDE_PX = 768
X264 = "keyint=250:min-keyint=25:bframes=3:b-adapt=0:b-pyramid=normal:ref=2"  # GOP 250, B-frames


def ffmpeg_exe() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def make_file(path: Path, minutes: float) -> Path:
    """The coded 720p30 test file; `ultrafast` plus B-frames encodes ~8× faster than real time
    on 2 cores while keeping the reordering real files have."""
    if path.exists():
        return path
    from tests.video_factory import make_video

    tmp = path.with_suffix(".part.mp4")
    started = time.perf_counter()
    make_video(
        tmp,
        seconds=minutes * 60,
        fps=30,
        size=(1280, 720),
        texture=True,
        with_audio=True,
        options={"preset": "ultrafast", "crf": "26", "x264-params": X264},
    )
    tmp.rename(path)
    print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def loop_file(src: Path, dst: Path, times: int) -> Path:
    """`src` repeated `times` times by remuxing packets with shifted timestamps."""
    if dst.exists():
        return dst
    import av

    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        streams = [*inp.streams.video, *inp.streams.audio]
        outs = {s.index: out.add_stream_from_template(s) for s in streams}
        first: dict[int, int] = {}
        end: dict[int, int] = {}
        for packet in inp.demux(*streams):  # each stream's span in decode time
            if packet.dts is not None:
                i = packet.stream.index
                first.setdefault(i, packet.dts)
                end[i] = max(end.get(i, packet.dts), packet.dts + (packet.duration or 0))
        for k in range(times):
            inp.seek(0)
            for packet in inp.demux(*streams):
                if packet.dts is None:
                    continue
                i = packet.stream.index
                shift = k * (end[i] - first[i])
                packet.dts += shift
                if packet.pts is not None:
                    packet.pts += shift
                packet.stream = outs[i]
                out.mux(packet)
    tmp.rename(dst)
    return dst


def run_worker(argv: list[str]) -> dict[str, Any]:
    """One measurement in a fresh process, so peak RSS is its own; returns its JSON."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", *argv], stdout=subprocess.PIPE, text=True
    )
    if proc.returncode:
        raise SystemExit(f"worker {argv} failed")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def worker(tool: str, path: str, fps: float, plain: bool) -> None:
    """Sample `path` with `tool`; print wall time, frames, codes and peak RSS as JSON."""
    from tests.video_factory import read_code

    codes: list[tuple[int, int]] = []
    times: list[float] = []
    started = time.perf_counter()
    if tool == "sightd":
        from sightd.media import video
        from sightd.media.sampling import plan_targets

        if plain:
            real_init = video._Sampler.__init__

            def init(self: Any, *args: Any, **kwargs: Any) -> None:
                real_init(self, *args, **kwargs)
                self.index, self.use_nonref = None, False

            video._Sampler.__init__ = init  # type: ignore[method-assign]
        info = video.probe_video(Path(path))
        plan = plan_targets(info.duration_s, fps=fps, video_fps=info.fps)
        threads = os.cpu_count() or 1
        for frame in video.iter_frames(
            Path(path), plan.targets_s, max_side_px=MAX_SIDE_PX, threads=threads
        ):
            times.append(frame.time_s)
            codes.append(read_code(frame.image))
    else:
        import numpy as np

        w, h = MAX_SIDE_PX, MAX_SIDE_PX * 9 // 16
        cmd = [ffmpeg_exe(), "-v", "error", "-i", path, "-map", "0:v:0"]
        cmd += ["-vf", f"fps={fps}:round=up,scale={w}:{h}:flags=area"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            size = w * h * 3
            while chunk := proc.stdout.read(size):
                if len(chunk) < size:
                    break
                codes.append(read_code(np.frombuffer(chunk, np.uint8).reshape(h, w, 3)))
    wall = time.perf_counter() - started
    cpu_s = sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    # Python's peak plus ffmpeg's (the child's peak; 0 for sightd, which runs in-process)
    rss_kb = sum(
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    result = {"wall_s": wall, "cpu_s": cpu_s, "rss_mb": rss_kb / 1024}
    print(json.dumps({**result, "times": times, "codes": codes}))


def accuracy(result: dict[str, Any], fps: float) -> str:
    """How many frames are the frame on screen at their target k / fps (from the pixels)."""
    codes = [tuple(c) for c in result["codes"]]
    expected = [(round(k / fps) % 64, 0) for k in range(len(codes))]
    exact = sum(c == e for c, e in zip(codes, expected, strict=True))
    text = f"{exact}/{len(codes)} frames are the one on screen at their target"
    if result["times"]:
        err = max(abs(t - k / fps) for k, t in enumerate(result["times"]))
        text += f"; reported time error max {err * 1000:.1f} ms"
    return text


def compare(path: Path, fps: float, plain: bool, coded: bool) -> None:
    duration_min = float(_duration_s(path)) / 60
    print(f"\n{path.name}: {duration_min:.1f} min, sampling at {fps:g} fps", flush=True)
    ours = run_worker(["sightd", str(path), str(fps)])
    theirs = run_worker(["ffmpeg", str(path), str(fps)])
    rows = [("sightd", ours), ("ffmpeg fps=round=up", theirs)]
    if plain:
        rows.append(("sightd, no seek/skip", run_worker(["sightd", str(path), str(fps), "plain"])))
    for name, r in rows:
        print(
            f"  {name:22s} {r['wall_s']:7.2f} s wall {r['cpu_s']:7.2f} s CPU "
            f"{len(r['codes']):5d} frames  peak RSS {r['rss_mb']:.0f} MB"
        )
        if coded:
            print(f"  {'':22s} {accuracy(r, fps)}")
    ratio, cpu_ratio = ours["wall_s"] / theirs["wall_s"], ours["cpu_s"] / theirs["cpu_s"]
    print(
        f"  ratio sightd / ffmpeg = {ratio:.2f} wall (goal ≤ 1.0, stretch ≤ 0.6); "
        f"{cpu_ratio:.2f} CPU"
    )


def _duration_s(path: Path) -> float:
    from sightd.media.video import probe_video

    return probe_video(path).duration_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, help="sample this file instead of a generated one")
    parser.add_argument("--long", action="store_true", help="also: peak RSS on a 60-minute file")
    parser.add_argument("--sparse", action="store_true", help="also compare at 0.1 fps")
    parser.add_argument("--plain", action="store_true", help="also: sightd without its levers")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sightd-bench"))
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, path, fps, *rest = args.worker
        worker(tool, path, float(fps), plain=bool(rest))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"ffmpeg: {ffmpeg_exe()}; cores: {os.cpu_count()}", flush=True)
    path = args.file or make_file(args.workdir / "v10_720p30.mp4", 10)
    compare(path, 1.0, args.plain, coded=args.file is None)
    if args.sparse:
        compare(path, 0.1, args.plain, coded=args.file is None)
    if args.long:
        long_path = loop_file(
            make_file(args.workdir / "v10_720p30.mp4", 10), args.workdir / "v60_720p30.mp4", 6
        )
        r = run_worker(["sightd", str(long_path), "1"])
        print(
            f"\n{long_path.name}: 60 min at 1 fps: {r['wall_s']:.1f} s "
            f"({3600 / r['wall_s']:.0f}× real time), {len(r['codes'])} frames, "
            f"peak RSS {r['rss_mb']:.0f} MB (goal < 500 MB)"
        )


if __name__ == "__main__":
    main()
