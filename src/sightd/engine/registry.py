"""Engine name → backend factory, with the heavy imports deferred until a backend is built.

`settings.engine` picks the factory. Each factory checks its optional dependencies first (so a
missing extra fails before a multi-gigabyte download, with the `pip install` line in the
error), then finds the weights and loads them, reporting progress as it goes. `openai` puts
sightd in front of an OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama,
`transformers serve`); it needs no torch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sightd.engine.base import Backend, LoadProgress
from sightd.errors import InvalidArgument, MissingExtra
from sightd.prompt import Prompt
from sightd.settings import Settings

ProgressCallback = Callable[[LoadProgress], None]
BackendFactory = Callable[[Settings, ProgressCallback], Backend]


def _require(extra: str, *modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(module, extra)


def _load_transformers(settings: Settings, on_progress: ProgressCallback) -> Backend:
    _require("transformers", "torch", "transformers", "tokenizers", "safetensors")
    from sightd.engine.transformers.hub import resolve_model

    folder = resolve_model(
        settings.model,
        cache_dir=settings.hub_cache_dir,
        offline=settings.hub_offline,
        on_progress=on_progress,
    )
    on_progress(LoadProgress(stage="loading", message=f"Model {settings.model} is loading"))
    from sightd.engine.inprocess import InProcessBackend
    from sightd.engine.transformers.backend import TransformersBackend

    model = TransformersBackend(
        folder,
        source=settings.model,
        device=settings.device,
        dtype=settings.dtype,
        torch_threads=settings.torch_threads,
        max_batch=settings.max_batch,
    )
    return InProcessBackend(model, settings.max_queue)


def _load_openai(settings: Settings, on_progress: ProgressCallback) -> Backend:
    """A backend for an OpenAI-compatible server; ready at once (the server is asked lazily)."""
    if not settings.upstream_url:
        raise InvalidArgument(
            "--engine openai needs --upstream-url (e.g. http://127.0.0.1:8000/v1)",
            field="upstream_url",
        )
    from sightd.engine.openai.backend import OpenAIBackend, UpstreamConfig
    from sightd.engine.openai.processor import ModelFacts, facts_from_folder, facts_from_name

    facts: ModelFacts
    if settings.upstream_processor:
        from sightd.engine.transformers.hub import PROCESSOR_PATTERNS, resolve_model

        on_progress(LoadProgress(stage="loading", message=f"Reading {settings.upstream_processor}"))
        folder = resolve_model(
            settings.upstream_processor,
            cache_dir=settings.hub_cache_dir,
            offline=settings.hub_offline,
            on_progress=on_progress,
            allow_patterns=PROCESSOR_PATTERNS,
        )
        facts = facts_from_folder(folder)
    else:
        facts = facts_from_name(settings.upstream_model or settings.model)
    config = UpstreamConfig(
        url=settings.upstream_url,
        model=settings.upstream_model,
        served_as=settings.model,
        kind=settings.upstream_kind,
        video=settings.upstream_video,
        api_key=settings.upstream_api_key,
        context_tokens=settings.upstream_context_tokens,
        timeout_s=settings.upstream_timeout_s,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        max_concurrency=settings.max_concurrency,
        max_queue=settings.max_queue,
    )
    return OpenAIBackend(config, facts, count_tokens=_token_counter(facts.tokenizer_json))


def _token_counter(path: Path | None) -> Callable[[str], int] | None:
    """Exact counts with the model's own tokenizer.json, when it and `tokenizers` are here."""
    if path is None or importlib.util.find_spec("tokenizers") is None:
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


ENGINES: dict[str, BackendFactory] = {
    "transformers": _load_transformers,
    "openai": _load_openai,
}


@dataclass(frozen=True)
class VideoInput:
    """How the configured model takes a video: `native` (one video input; `source_timestamps`
    when the model reads each frame pair's source time) or as frames; `description` says so in
    words, with the family."""

    native: bool
    source_timestamps: bool
    description: str


def video_input(settings: Settings) -> VideoInput:
    """How the configured model takes a video, told without loading it (for `sightd inspect`).
    The family comes from a local folder's config.json, else from the model's name."""
    from sightd.engine.openai.processor import facts_from_name
    from sightd.engine.transformers.families import Family, detect_family, read_config

    model = settings.model
    if settings.engine == "openai":
        model = settings.upstream_model or settings.model
    family: Family | None
    try:
        family = detect_family(read_config(Path(model)))
    except Exception:  # not a local model folder, or not a family sightd knows
        family = facts_from_name(model).family
    name = family.name if family is not None else "family unknown"
    frames = VideoInput(False, False, f"frames (each an image after its MM:SS), {name}")
    takes_video = family is not None and family.native_video
    if settings.engine == "openai":
        if settings.upstream_video == "frames" or not (
            takes_video or settings.upstream_video == "native"
        ):
            return frames
        return VideoInput(
            True, False, f"native (one video_url) where the upstream server takes video, {name}"
        )
    if family is None or not takes_video:
        return frames
    if family.video == "qwen3":
        return VideoInput(
            True, True, f"native (one video; each pair of frames after its source time), {name}"
        )
    return VideoInput(True, False, f"native (one video; the header says where it starts), {name}")


def load_backend(settings: Settings, on_progress: ProgressCallback | None = None) -> Backend:
    """Build the backend `settings.engine` names; blocks while downloading and loading."""
    factory = ENGINES.get(settings.engine)
    if factory is None:
        known = ", ".join(sorted(ENGINES))
        raise InvalidArgument(f"unknown engine {settings.engine!r}; known: {known}", field="engine")
    return factory(settings, on_progress or (lambda _: None))


def prompt_token_counter(settings: Settings) -> Callable[[Prompt], int] | None:
    """The served model's own token count of a prompt, from its processor alone (no weights
    loaded, nothing downloaded), for `sightd inspect`; None when the model's files are not on
    this machine or transformers is not installed."""
    source = settings.model if settings.engine == "transformers" else settings.upstream_processor
    if not source or importlib.util.find_spec("transformers") is None:
        return None
    from sightd.engine.transformers.hub import resolve_model
    from sightd.engine.transformers.prompting import PromptRenderer

    try:
        folder = resolve_model(source, cache_dir=settings.hub_cache_dir, offline=True)
        renderer = PromptRenderer(folder)
    except Exception:  # not downloaded, or not a family sightd knows: no count, not an error
        return None
    return renderer.count
