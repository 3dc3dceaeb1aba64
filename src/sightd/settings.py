"""Every knob sightd has, typed and described. The only module that reads the environment:
`Settings.load()` merges `SIGHTD_<NAME>` variables with explicit overrides (from the CLI, whose
flags are generated from these fields), so a flag, an env var and a test fixture all set the same
thing the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

GB = 1024**3
MB = 1024**2
ENV_PREFIX = "SIGHTD_"
DEFAULT_MODEL = "Qwen/Qwen3-VL-2B-Instruct"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sightd"


class Settings(BaseModel):
    """Server configuration. Field names double as `--flag-names` and `SIGHTD_` env vars."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- model / engine -------------------------------------------------------------------
    model: str = Field(
        DEFAULT_MODEL,
        description="Model to serve: a hub id (downloaded on first use) or a local folder.",
    )
    engine: Literal["transformers", "openai"] = Field(
        "transformers",
        description="Backend that runs the model: transformers (in-process) or openai (any "
        "OpenAI-compatible server: vLLM, SGLang, llama.cpp, Ollama, transformers serve; see "
        "--upstream-url).",
    )
    device: str = Field("auto", description="torch device: auto, cpu, cuda, cuda:1, mps.")
    dtype: str = Field(
        "auto",
        description="torch dtype: auto, float32, bfloat16, float16, or int8 (CPU only: the "
        "text model's Linear layers dynamically quantized to int8, vision kept float32).",
    )
    torch_threads: int = Field(
        0, description="CPU threads for torch (0: one per core, spin-waiting off)."
    )
    max_queue: int = Field(
        32, description="Generations waiting for the model before new ones get 429."
    )
    max_batch: int = Field(
        8,
        ge=1,
        le=256,
        description="Requests the in-process model decodes together (continuous batching); "
        "up to --max-queue more wait, then new ones get 429. Each holds its KV cache.",
    )
    max_concurrency: int = Field(
        64,
        ge=1,
        le=4096,
        description="Requests the openai engine keeps in flight upstream at once; up to "
        "--max-queue more wait, then new ones get 429.",
    )
    upstream_url: str | None = Field(
        None,
        description="Base URL of the OpenAI-compatible server for --engine openai, e.g. "
        "http://127.0.0.1:8000/v1.",
    )
    upstream_model: str | None = Field(
        None,
        description="Model name sent upstream (default: the first one the server lists).",
    )
    upstream_api_key: str | None = Field(
        None, description="Bearer key for the upstream server, if it wants one."
    )
    upstream_kind: Literal[
        "auto", "vllm", "sglang", "llamacpp", "ollama", "transformers", "openai"
    ] = Field(
        "auto",
        description="Upstream server's request dialect (top_k, video, structured outputs); "
        "auto asks the server.",
    )
    upstream_processor: str | None = Field(
        None,
        description="Folder (or hub id) with the upstream model's config, processor and "
        "tokenizer: its family, the frame native boxes refer to, exact text token counts.",
    )
    upstream_video: Literal["auto", "native", "frames"] = Field(
        "auto",
        description="Videos upstream: native (one video_url), frames (images after MM:SS), "
        "or auto (native where the server and model take video).",
    )
    upstream_context_tokens: int | None = Field(
        None, ge=1, description="Upstream context window (default: what the server reports)."
    )
    upstream_timeout_s: float = Field(
        600.0, gt=0, description="Longest wait for one upstream answer (whole request)."
    )
    upstream_connect_timeout_s: float = Field(
        5.0, gt=0, description="Longest wait to connect to the upstream server."
    )
    hub_offline: bool = Field(
        False, description="Never contact the model hub (local folders and cache only)."
    )
    hub_cache_dir: Path | None = Field(
        None, description="Where hub downloads are cached (default: the hub's own cache)."
    )

    # --- spatial understanding (boxes and masks) ------------------------------------------
    grounding: Literal["auto", "detector", "off"] = Field(
        "auto",
        description="How detection/segmentation prompts get boxes: auto (the model's native "
        "grounding when its family has one, else the detector), detector (always), off "
        "(prompts go to the model unchanged).",
    )
    detector_model: str = Field(
        "google/owlv2-base-patch16-ensemble",
        description="Open-vocabulary detector (OWLv2; hub id or folder) for models without "
        "native grounding; loaded on first use.",
    )
    segmenter_model: str = Field(
        "facebook/sam2.1-hiera-tiny",
        description="Box-prompted segmenter (SAM 2.1; hub id or folder) for segmentation "
        "masks; loaded on first use.",
    )
    detector_threshold: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Detector score that always makes a box an answer; below it only the "
        "3 best guesses (over 0.02) are kept.",
    )
    max_detections: int = Field(25, ge=1, le=100, description="Most boxes in one answer.")

    # --- HTTP ----------------------------------------------------------------------------
    host: str = Field("0.0.0.0", description="Address to bind (loopback only without API keys).")
    port: int = Field(8080, description="TCP port to listen on.")
    path_prefix: str = Field(
        "", description="Serve every route also under this path, e.g. /gemini."
    )
    public_base_url: str | None = Field(
        None,
        description="Base URL clients reach the server at, for upload and file URIs "
        "(default: taken from each request's Host / X-Forwarded-* headers).",
    )
    api_keys: list[str] = Field(
        default_factory=list,
        description="Accepted API keys, comma-separated. None: no auth, loopback only.",
    )
    log_level: str = Field("info", description="Logging level.")
    drain_timeout_s: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM: seconds in-flight requests and background interactions get "
        "to finish (new generations get 503) before they are cancelled (those interactions "
        "marked failed).",
    )
    replica_id: str | None = Field(
        None,
        max_length=64,
        description="This process's name among replicas sharing one database, stable across "
        "restarts (e.g. the pod name): a restart then fails its own interrupted background "
        "interactions at once. Default: a new random name per start (they fail when their "
        "lease lapses).",
    )
    interaction_lease_s: float = Field(
        60.0,
        ge=3,
        description="Lease of a running background interaction, renewed every third of it by "
        "its process; once lapsed (the process died) any replica marks it failed.",
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where files and the database live."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL for metadata (default: SQLite in data_dir; "
        "postgresql+psycopg://... for scale).",
    )
    blob_store: Literal["local", "s3"] = Field(
        "local",
        description="Where uploaded files' bytes live: local (data_dir/blobs; replicas must "
        "share that folder) or s3 (any S3-compatible store: AWS S3, MinIO, R2; the `s3` extra). "
        "S3 credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles), never from sightd settings.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 API endpoint for --blob-store s3, e.g. http://minio:9000 or "
        "https://<account>.r2.cloudflarestorage.com (default: AWS S3).",
    )
    s3_bucket: str | None = Field(
        None, description="Bucket for --blob-store s3 (must exist; required with s3)."
    )
    s3_prefix: str = Field(
        "sightd/", description="Key prefix of every object sightd writes to the bucket."
    )
    s3_region: str | None = Field(
        None, description="S3 region (default: from the AWS config chain)."
    )
    s3_part_bytes: int = Field(
        8 * MB,
        ge=5 * MB,
        le=5 * GB,
        description="Size of each stored part of an unfinished upload in S3 (at least 5 MiB; "
        "bytes are spooled to local disk until a part is full). Every replica must use the same "
        "value; changing it fails the uploads in progress.",
    )
    s3_cache_max_bytes: int = Field(
        20 * GB,
        ge=1,
        description="Bytes of S3 blobs kept on local disk for decoding (data_dir/s3/cache); "
        "least-recently-used entries go first.",
    )
    file_ttl_s: int = Field(48 * 3600, description="Seconds an uploaded file lives.")
    sweep_interval_s: float = Field(600.0, description="Seconds between expiry sweeps.")
    max_file_bytes: int = Field(2 * GB, description="Largest accepted upload (at most 20 GB).")
    storage_quota_bytes: int = Field(20 * GB, description="Stored bytes allowed per API key.")
    upload_session_ttl_s: int = Field(
        6 * 3600,
        description="Seconds an unfinished upload lives; the sweeper then drops its partial bytes.",
    )
    upload_idle_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds an upload body may go without a byte before it is dropped (a "
        "resumable chunk is rolled back to the last committed offset, freeing its session).",
    )
    max_upload_sessions_per_key: int = Field(
        64, ge=1, description="Unfinished upload sessions one API key may hold open at once."
    )
    interaction_ttl_s: int = Field(
        48 * 3600, description="Seconds a stored interaction lives; the sweeper then deletes it."
    )
    max_stored_interactions_per_key: int = Field(
        10_000, ge=1, description="Stored interactions one API key may keep at once."
    )
    interaction_storage_quota_bytes: int = Field(
        1 * GB, ge=1, description="Bytes of stored interaction records allowed per API key."
    )
    file_wait_s: float = Field(
        120.0, description="How long a request waits for a PROCESSING file before failing."
    )

    # --- media from URLs -------------------------------------------------------------------
    url_fetch: bool = Field(
        True,
        description="Fetch http(s) media URLs given as fileData.fileUri (SSRF-guarded: "
        "loopback, private, link-local and metadata addresses are refused).",
    )
    url_allowlist: list[str] = Field(
        default_factory=list,
        description="Hostnames (.example.com for subdomains) and CIDRs, comma-separated, that "
        "media URLs may reach even when private (e.g. an internal media server).",
    )
    url_max_bytes: int = Field(2 * GB, description="Largest media fetched from one URL.")
    url_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Overall wall-clock deadline for fetching one media URL (a slow or "
        "drip-feeding server is cut off at it: DEADLINE_EXCEEDED).",
    )
    url_fetch_concurrency: int = Field(
        8,
        ge=1,
        description="Media URL fetches running at once, in threads of their own; more are "
        "refused with 503.",
    )
    url_fetch_per_key: int = Field(
        4, ge=1, description="Media URL fetches one API key may have in flight; more get 429."
    )
    url_cache_ttl_s: int = Field(
        3600, ge=60, description="Seconds a fetched URL (and its decoded frames) is reused."
    )
    url_cache_max_bytes: int = Field(
        20 * GB,
        ge=1,
        description="Bytes the URL cache may hold; least-recently-used entries go first.",
    )
    media_cache_max_bytes: int = Field(
        20 * GB,
        ge=1,
        description="Bytes the decoded-frame cache may hold; least-recently-used entries go first.",
    )
    youtube: bool = Field(
        True, description="Download YouTube URLs with yt-dlp (the `youtube` extra)."
    )

    # --- request limits ------------------------------------------------------------------
    max_request_bytes: int = Field(20 * MB, description="generateContent/countTokens body limit.")
    max_interaction_bytes: int = Field(100 * MB, description="Interactions body limit.")
    max_image_pixels: int = Field(
        100_000_000, description="Decoded-pixel cap per image (decompression-bomb guard)."
    )
    max_image_decode_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Bytes of decoded pixels one image may need at its peak, judged from its "
        "header at the size the model needs (JPEG DCT-scaled); over it the image is a 400.",
    )
    image_decode_budget_bytes: int = Field(
        320 * 1024 * 1024,
        gt=0,
        description="Bytes of decoded pixels all concurrent image decodes may hold together; a "
        "decode waits for its share, then answers 503.",
    )
    image_decode_wait_s: float = Field(
        30.0, ge=0, description="How long a decode waits for its share of the decode budget."
    )
    max_images_per_request: int = Field(3600, description="Images allowed in one request.")
    max_videos_per_request: int = Field(10, description="Videos allowed in one request.")
    max_video_frames: int = Field(
        900,
        description="Frames sampled from one video at most; longer clips are sampled uniformly "
        "(times stay true) so the prompt fits the model.",
    )
    video_frame_side_px: int = Field(
        512, description="Longest side of a sampled video frame (default/high resolution)."
    )
    video_frame_low_side_px: int = Field(
        256, description="Longest side of a sampled video frame at mediaResolution LOW."
    )
    speech_backend: str = Field(
        "auto",
        description="Speech-to-text for audio tracks: auto (faster-whisper, else pocketsphinx), "
        "faster-whisper[:model], pocketsphinx, or none.",
    )

    @field_validator("api_keys", "url_allowlist", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("path_prefix")
    @classmethod
    def _norm_prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            value = "/" + value
        return value

    @field_validator("max_file_bytes")
    @classmethod
    def _cap_file(cls, value: int) -> int:
        if not 0 < value <= 20 * GB:
            raise ValueError("max_file_bytes must be between 1 byte and 20 GB")
        return value

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sightd.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from `SIGHTD_*` env vars, then `overrides` (None values are skipped)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


def env_flag(name: str) -> str | None:
    """Read a non-sightd variable that a library also reads (e.g. HF_HUB_OFFLINE)."""
    return os.environ.get(name)


def set_env_default(name: str, value: str) -> None:
    """Give a library's env knob a default before it is imported (OMP_WAIT_POLICY etc.)."""
    os.environ.setdefault(name, value)
