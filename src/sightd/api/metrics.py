"""Request counters for `/metrics`, written out in the Prometheus text exposition format (0.0.4)
by hand: no client library, one `Metrics` object per app on `app.state.metrics`.

Labels are bounded: a route is its template (`/v1beta/models/{target}:generateContent`), never
the raw path, and a request that matched no route counts as `unmatched`. Updates happen on the
event loop only (the access middleware, and the services through the `services.observe.Observer`
protocol this class satisfies), so plain dicts need no lock.

- Tokens: `sightd_prompt_tokens_total{modality}` (TEXT, IMAGE, VIDEO, AUDIO) and
  `sightd_output_tokens_total`, counted once per generation (generateContent, the stream,
  interactions) by the same rules as the responses' usage; countTokens is not counted.
- Decoding: `sightd_media_decode_seconds{kind}` (image, video: frames decoded and resized),
  per media part of a generation prompt, wall time around the worker thread.
- Engine queue: `sightd_generations_waiting` (queued for the in-process model, or for one of the
  openai engine's `max_concurrency` upstream slots) and, for the openai engine,
  `sightd_generations_running` (requests sent upstream now); read from local counters at scrape
  time by `api/ops.py`, never by asking the upstream.
- Storage: `sightd_stored_bytes`, `sightd_stored_files` and `sightd_keys_with_files`, totals
  over every key's live files, from one SQL aggregate at scrape time (bounded by a timeout;
  absent from a scrape it did not answer in time). Deliberately no per-key series: key labels
  are unbounded cardinality and would name tenants to whoever reads the scrape; per-key usage
  stays in the access log's hashed `key` field and the quota checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

# Seconds; generations run from tens of milliseconds (countTokens) to minutes (long videos).
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                      120.0, 300.0)  # fmt: skip
# Seconds; a small image decodes in about a millisecond, a long video's frames in minutes.
DECODE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0)  # fmt: skip


@dataclass
class Histogram:
    """Cumulative-on-output histogram: `counts[i]` observations fell in bucket i (≤ bound i,
    > bound i-1); the last slot is +Inf."""

    bounds_s: tuple[float, ...] = DURATION_BUCKETS_S
    counts: list[int] = field(default_factory=list)
    sum_s: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds_s) + 1)

    def observe(self, value_s: float) -> None:
        for i, bound in enumerate(self.bounds_s):
            if value_s <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.sum_s += value_s
        self.count += 1


@dataclass
class Metrics:
    """Every counter sightd exports; the access middleware feeds it, `/metrics` renders it."""

    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    durations: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    request_bytes: Counter[str] = field(default_factory=Counter)
    response_bytes: Counter[str] = field(default_factory=Counter)
    upload_bytes: int = 0
    in_flight: int = 0
    generations_in_flight: int = 0
    refused_draining: int = 0
    prompt_tokens: Counter[str] = field(default_factory=Counter)
    output_tokens: int = 0
    decode: dict[str, Histogram] = field(default_factory=dict)

    # --- services.observe.Observer ---------------------------------------------------------
    def tokens_used(self, prompt_by_modality: Mapping[str, int], output: int) -> None:
        for modality, n in prompt_by_modality.items():
            self.prompt_tokens[modality] += n
        self.output_tokens += output

    def media_decoded(self, kind: str, duration_s: float) -> None:
        self.decode.setdefault(kind, Histogram(DECODE_BUCKETS_S)).observe(duration_s)

    def started(self, generation: bool) -> None:
        self.in_flight += 1
        if generation:
            self.generations_in_flight += 1

    def finished(
        self,
        *,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        bytes_in: int,
        bytes_out: int,
        generation: bool,
    ) -> None:
        self.in_flight -= 1
        if generation:
            self.generations_in_flight -= 1
        self.requests[(method, route, status)] += 1
        self.durations.setdefault((method, route), Histogram()).observe(duration_s)
        self.request_bytes[route] += bytes_in
        self.response_bytes[route] += bytes_out
        if route.startswith("/upload/") or "/upload/" in route:
            self.upload_bytes += bytes_in

    def render(self, gauges: dict[str, tuple[str, float]] | None = None) -> str:
        """The exposition text; `gauges` adds `name → (help, value)` sampled at scrape time."""
        out: list[str] = []

        def head(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        head("sightd_http_requests_total", "counter", "HTTP requests by method, route, status.")
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(
                f'sightd_http_requests_total{{method="{method}",route="{_esc(route)}",'
                f'code="{status}"}} {n}'
            )
        head("sightd_http_request_duration_seconds", "histogram", "HTTP request latency.")
        for (method, route), hist in sorted(self.durations.items()):
            labels = f'method="{method}",route="{_esc(route)}"'
            out.extend(_histogram("sightd_http_request_duration_seconds", labels, hist))
        head("sightd_http_request_bytes_total", "counter", "Request body bytes read, by route.")
        for route, n in sorted(self.request_bytes.items()):
            out.append(f'sightd_http_request_bytes_total{{route="{_esc(route)}"}} {n}')
        head("sightd_http_response_bytes_total", "counter", "Response body bytes sent, by route.")
        for route, n in sorted(self.response_bytes.items()):
            out.append(f'sightd_http_response_bytes_total{{route="{_esc(route)}"}} {n}')
        head("sightd_upload_bytes_total", "counter", "Bytes received by the upload endpoint.")
        out.append(f"sightd_upload_bytes_total {self.upload_bytes}")
        head("sightd_http_requests_in_flight", "gauge", "HTTP requests being served now.")
        out.append(f"sightd_http_requests_in_flight {self.in_flight}")
        head(
            "sightd_generations_in_flight",
            "gauge",
            "generateContent, streamGenerateContent and interactions.create requests being "
            "served now (queued or running).",
        )
        out.append(f"sightd_generations_in_flight {self.generations_in_flight}")
        head(
            "sightd_requests_refused_draining_total",
            "counter",
            "New generations refused with 503 while the server was shutting down.",
        )
        out.append(f"sightd_requests_refused_draining_total {self.refused_draining}")
        head(
            "sightd_prompt_tokens_total",
            "counter",
            "Prompt tokens of generations (not countTokens), by modality.",
        )
        for modality, n in sorted(self.prompt_tokens.items()):
            out.append(f'sightd_prompt_tokens_total{{modality="{_esc(modality)}"}} {n}')
        head("sightd_output_tokens_total", "counter", "Tokens generated (all candidates).")
        out.append(f"sightd_output_tokens_total {self.output_tokens}")
        head(
            "sightd_media_decode_seconds",
            "histogram",
            "Time to decode one media part of a prompt, by kind (image, video).",
        )
        for kind, hist in sorted(self.decode.items()):
            out.extend(_histogram("sightd_media_decode_seconds", f'kind="{_esc(kind)}"', hist))
        for name, (help_text, value) in sorted((gauges or {}).items()):
            head(name, "gauge", help_text)
            out.append(f"{name} {_number(value)}")
        return "\n".join(out) + "\n"


def _histogram(name: str, labels: str, hist: Histogram) -> list[str]:
    """The `_bucket` (cumulative), `_sum` and `_count` lines of one labelled histogram."""
    lines = []
    cumulative = 0
    for bound, n in zip(hist.bounds_s, hist.counts, strict=False):
        cumulative += n
        lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
    lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {hist.count}')
    lines.append(f"{name}_sum{{{labels}}} {hist.sum_s!r}")
    lines.append(f"{name}_count{{{labels}}} {hist.count}")
    return lines


def _number(value: float) -> str:
    """Whole values exactly (a byte total is not rounded to 6 digits), others as repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
