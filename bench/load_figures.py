"""Figures of `bench/load.py`: what its clients record, the server's memory and CPU read from
`/proc`, percentiles, and the printed report with its PASS/FAIL lines."""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WINDOW_S = 10.0
GOAL_LIST_P99_MS = 100.0


# --- what the clients record ---------------------------------------------------------------
@dataclass
class Record:
    """Everything the load clients saw, shared by the tasks of the one event loop."""

    t0: float
    by_route: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    gen_latency_s: list[float] = field(default_factory=list)
    gen_tokens: int = 0
    upload_bytes: int = 0
    uploads_done: int = 0
    upload_s: list[float] = field(default_factory=list)
    chunk_latency_s: list[float] = field(default_factory=list)

    def count(self, route: str, status: int | str) -> None:
        self.by_route[(route, str(status))] += 1

    def error(self, route: str, what: str) -> None:
        self.errors.append(f"{time.monotonic() - self.t0:7.1f}s {route}: {what}")


# --- server memory and CPU -----------------------------------------------------------------
def tree_pids(root_pid: int) -> list[int]:
    """`root_pid` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_rss_bytes(root_pid: int) -> int:
    """VmRSS of `root_pid` and its descendants."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system) used so far by `root_pid` and its live descendants."""
    ticks = 0
    for pid in tree_pids(root_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSnapshot:
    """Where the host's CPU time went so far: the server, this bench (clients and prober), all
    of it, and the kernel's CPU pressure stall total (`/proc/pressure/cpu`, `some`)."""

    at: float
    server_s: float
    bench_s: float
    host_busy_s: float
    pressure_s: float | None

    @classmethod
    def take(cls, server_pid: int) -> CpuSnapshot:
        server = tree_cpu_s(server_pid)
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        pressure = None
        try:
            some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
            pressure = int(some.rsplit("total=", 1)[1]) / 1e6
        except (OSError, IndexError, ValueError):
            pass
        return cls(
            at=time.monotonic(),
            server_s=server,
            bench_s=tree_cpu_s(os.getpid()) - server,
            host_busy_s=(sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"),
            pressure_s=pressure,
        )


class RssSampler(threading.Thread):
    """Samples the server tree's RSS once a second until stopped: (seconds since t0, bytes)."""

    def __init__(self, pid: int, t0: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.t0 = pid, t0
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.monotonic() - self.t0, tree_rss_bytes(self.pid)))
            self.halt.wait(1.0)


# --- figures --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """The q-th percentile of `values`, interpolated between the two nearest ranks (numpy's
    default), so a 10 s window of 98 probes and one of 100 read the same way; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    at = q / 100 * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def latency_line(ms: list[float]) -> str:
    return (
        f"n={len(ms):5d}  p50 {pct(ms, 50):7.1f}  p95 {pct(ms, 95):7.1f}  "
        f"p99 {pct(ms, 99):7.1f}  max {max(ms, default=math.nan):7.1f} ms"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


ACCESS_LIST = re.compile(r"method=GET route=/v1beta/files status=200 duration_ms=([0-9.]+)")


def server_list_ms(log_text: str) -> list[float]:
    """files.list durations the server's access log measured (its middleware, first to last)."""
    return [float(m.group(1)) for m in ACCESS_LIST.finditer(log_text)]


def report(
    args: argparse.Namespace,
    rec: Record,
    server_ms: list[float],
    probes: list[tuple[float, float, str]],
    rss: list[tuple[float, int]],
    rss_start: int,
    cpu: list[CpuSnapshot],
    wall_s: float,
) -> bool:
    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0))
    load1, load5, _ = os.getloadavg()
    print(
        f"\nsightd load test: {wall_s:.0f} s, {args.clients} generateContent clients "
        f"(maxOutputTokens {args.max_tokens}), {args.uploads} × {args.upload_mb} MB resumable "
        f"uploads, files.list every {args.probe_ms} ms"
    )
    print(
        f"host: {cpus} CPUs ({usable} usable by this process), load average "
        f"{load1:.1f} / {load5:.1f} (1 / 5 min); "
        f"server torch threads {args.torch_threads or 'auto'}"
    )

    if len(cpu) == 2:
        first, last = cpu
        span = last.at - first.at
        server_cores = (last.server_s - first.server_s) / span
        bench_cores = (last.bench_s - first.bench_s) / span
        host_cores = (last.host_busy_s - first.host_busy_s) / span
        print(
            f"CPU during the load, in cores busy: host {host_cores:.2f} of {cpus}; sightd server "
            f"{server_cores:.2f}; this bench's clients and prober {bench_cores:.2f}; everything "
            f"else on the host {max(0.0, host_cores - server_cores - bench_cores):.2f}"
        )
        if first.pressure_s is not None and last.pressure_s is not None:
            stalled = (last.pressure_s - first.pressure_s) / span
            print(
                f"CPU pressure (/proc/pressure/cpu some): a runnable task waited for a CPU "
                f"{100 * stalled:.0f}% of the time"
            )

    # requests by route and status
    for _, _, probe_verdict in probes:
        rec.count("files.list", probe_verdict)
    print("\nrequests by route and status:")
    for (route, status), n in sorted(rec.by_route.items()):
        print(f"  {route:18s} {status:>22s}  {n:6d}")

    # errors
    for t, _, v in probes:
        if v not in ("200", "429", "503"):
            rec.errors.append(f"{t:7.1f}s files.list: {v}")
    print(f"\nerrors other than well-formed 429/503: {len(rec.errors)}")
    for line in rec.errors[:20]:
        print("  " + line)
    if len(rec.errors) > 20:
        print(f"  … and {len(rec.errors) - 20} more")

    # files.list latency, while the load ran (not during the wait for the last calls)
    probes = [p for p in probes if p[0] < args.seconds]
    list_ms = [lat * 1000 for _, lat, v in probes if v == "200"]
    print("\nfiles.list latency (200s):")
    print(f"  overall     {latency_line(list_ms)}")
    windows: list[float] = []
    n_windows = max(1, math.ceil(max((t for t, _, _ in probes), default=0.0) / WINDOW_S))
    for w in range(n_windows):
        ms = [
            lat * 1000
            for t, lat, v in probes
            if v == "200" and w * WINDOW_S <= t < (w + 1) * WINDOW_S
        ]
        if not ms:
            continue
        windows.append(pct(ms, 99))
        label = f"{w * WINDOW_S:4.0f}-{(w + 1) * WINDOW_S:<4.0f}s"
        print(f"  {label}  {latency_line(ms)}")

    print(f"  server-side {latency_line(server_ms)}  (access log: inside the app)")
    slowest = sorted(((lat, t) for t, lat, v in probes if v == "200"), reverse=True)[:5]
    print("  slowest: " + ", ".join(f"{lat * 1000:.0f} ms at {t:.1f} s" for lat, t in slowest))

    # generation
    gen_ms = [s * 1000 for s in rec.gen_latency_s]
    print("\ngenerateContent:")
    print(
        f"  {len(gen_ms)} answered in {wall_s:.0f} s: {len(gen_ms) / wall_s:.2f} req/s, "
        f"{rec.gen_tokens / wall_s:.1f} output tokens/s"
    )
    print(f"  latency     {latency_line(gen_ms)}")

    # uploads
    chunk_ms = [s * 1000 for s in rec.chunk_latency_s]
    mb = rec.upload_bytes / 1e6
    median_upload_s = statistics.median(rec.upload_s) if rec.upload_s else math.nan
    print("\nuploads:")
    print(
        f"  {rec.uploads_done} × {args.upload_mb} MB finished and deleted: {mb:.0f} MB in "
        f"{wall_s:.0f} s = {mb / wall_s:.1f} MB/s aggregate; per upload "
        f"median {median_upload_s:.2f} s ({args.upload_mb * 1.048576 / median_upload_s:.1f} MB/s)"
    )
    print(f"  8 MiB chunk {latency_line(chunk_ms)}")

    # memory
    warm_at = min(args.warmup_s, wall_s)
    after_warm = next((b for t, b in rss if t >= warm_at), rss[-1][1] if rss else 0)
    peak = max((b for _, b in rss), default=0)
    end = rss[-1][1] if rss else 0
    growth_mb = (peak - after_warm) / 2**20
    print("\nserver RSS (process and children, sampled every second):")
    print(
        f"  before load {rss_start / 2**20:.0f} MB; after {warm_at:.0f} s warm-up "
        f"{after_warm / 2**20:.0f} MB; peak {peak / 2**20:.0f} MB; end {end / 2**20:.0f} MB; "
        f"peak - after warm-up {growth_mb:+.0f} MB"
    )

    # goals
    errors_ok = not rec.errors
    p99 = pct(list_ms, 99)
    list_ok = bool(list_ms) and p99 < GOAL_LIST_P99_MS
    windows_ok = bool(windows) and max(windows) < GOAL_LIST_P99_MS
    rss_ok = growth_mb < args.rss_bound_mb
    print("\ngoals:")
    print(
        f"  {verdict(errors_ok)} errors other than well-formed 429/503: {len(rec.errors)} (goal 0)"
    )
    print(
        f"  {verdict(list_ok)} files.list p99 overall {p99:.1f} ms (goal < {GOAL_LIST_P99_MS:.0f})"
    )
    print(
        f"  {verdict(windows_ok)} files.list p99 in every {WINDOW_S:.0f} s window: worst "
        f"{max(windows, default=math.nan):.1f} ms (goal < {GOAL_LIST_P99_MS:.0f})"
    )
    print(
        f"  {verdict(rss_ok)} RSS peak - after warm-up {growth_mb:+.0f} MB "
        f"(goal < {args.rss_bound_mb} MB)"
    )
    print(f"  {verdict(bool(gen_ms))} generateContent answered: {len(gen_ms)}")
    print(f"  {verdict(rec.uploads_done > 0)} uploads finished: {rec.uploads_done}")
    return errors_ok and list_ok and windows_ok and rss_ok and bool(gen_ms) and rec.uploads_done > 0
