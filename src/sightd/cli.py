"""The `sightd` command: serve | ask | inspect | files | models.

Flags of `serve` (and the settings-taking commands) are generated from `Settings`' fields, so
every knob is a flag, an env var `SIGHTD_<NAME>`, and documented in one place.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
import types
import typing
from pathlib import Path
from typing import Any

from sightd import __version__
from sightd.settings import ENV_PREFIX, Settings

log = logging.getLogger("sightd")

LOOPBACK = "127.0.0.1"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def add_settings_flags(parser: argparse.ArgumentParser, only: set[str] | None = None) -> None:
    """One flag per Settings field, defaulting to None so env vars and defaults still apply."""
    hints = typing.get_type_hints(Settings)
    group = parser.add_argument_group("settings (each also read from SIGHTD_<NAME>)")
    for name, field in Settings.model_fields.items():
        if only is not None and name not in only:
            continue
        annotation = hints[name]
        help_text = f"{field.description} [{ENV_PREFIX}{name.upper()}]"
        if _is_bool(annotation):
            group.add_argument(
                _flag(name),
                dest=name,
                action="store_const",
                const=True,
                default=None,
                help=help_text,
            )
            continue
        origin = typing.get_origin(annotation)
        metavar = "LIST" if origin is list else _metavar(annotation)
        group.add_argument(_flag(name), dest=name, default=None, metavar=metavar, help=help_text)


def _metavar(annotation: Any) -> str:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if args else str
    return {int: "INT", float: "FLOAT", Path: "PATH"}.get(annotation, "TEXT")


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    return Settings.load(**overrides)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_host(settings: Settings) -> tuple[str, str | None]:
    """Where to listen, and a warning to log: without API keys only loopback is served."""
    if settings.auth_enabled:
        return settings.host, None
    if not _is_loopback(settings.host):
        return LOOPBACK, (
            "No API keys configured (set SIGHTD_API_KEYS or --api-keys): binding to "
            f"{LOOPBACK} only, not {settings.host}. Any key is accepted."
        )
    return settings.host, "No API keys configured: any key is accepted (loopback only)."


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sightd.api.shutdown import DrainingServer
    from sightd.app import create_app

    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
    host, warning = bind_host(settings)
    if warning:
        log.warning(warning)
    log.info(
        "sightd %s on http://%s:%d%s serving %s (data in %s)",
        __version__,
        host,
        settings.port,
        settings.path_prefix,
        settings.model,
        settings.data_dir,
    )
    log.info(
        "Point clients at it: GOOGLE_GEMINI_BASE_URL=http://%s:%d%s",
        host,
        settings.port,
        settings.path_prefix,
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # sightd.access writes the one line per request (api/middleware.py)
        # the drain phase already waited --drain-timeout-s; then what is left is cancelled
        timeout_graceful_shutdown=1,
    )
    metrics = app.state.metrics
    DrainingServer(config, app.state.drain, lambda: metrics.in_flight).run()
    return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_ask(args: argparse.Namespace) -> int:
    from sightd.localclient import ask

    settings = settings_from_args(args)
    _setup_logging("warning")
    return asyncio.run(
        ask(
            settings,
            [Path(p) for p in args.files],
            args.prompt,
            max_output_tokens=args.max_output_tokens,
        )
    )


def cmd_files(args: argparse.Namespace) -> int:
    from sightd.localclient import files_command

    settings = settings_from_args(args)
    _setup_logging("warning")
    return asyncio.run(files_command(settings, args))


def cmd_models(args: argparse.Namespace) -> int:
    if args.models_command == "tiny":
        from sightd.testing.tiny import build_tiny

        path = build_tiny(Path(args.dir), family=args.family, seed=args.seed)
        print(f"wrote a tiny random-weight {args.family} model to {path}")
        print(f"serve it with: sightd serve --model {path}")
        return 0
    settings = settings_from_args(args)
    if args.models_command == "pull":
        from sightd.engine.transformers.hub import pull

        path = pull(args.model_id, settings.hub_cache_dir)
        print(f"{args.model_id} is in {path}")
        print(f"serve it with: sightd serve --model {args.model_id}")
        return 0
    from sightd.services.models import ModelCatalog

    catalog = ModelCatalog(settings.model)
    for entry in catalog.entries():
        suffix = f" (alias of {entry.served_id})" if entry.is_alias else f" ({settings.model})"
        print(f"models/{entry.name}{suffix}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from sightd.localclient import inspect

    settings = settings_from_args(args)
    _setup_logging("warning")
    return asyncio.run(
        inspect(
            settings,
            Path(args.file),
            fps=args.fps,
            start_s=args.start,
            end_s=args.end,
            resolution=args.resolution,
            html_out=Path(args.html) if args.html else None,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sightd",
        description="A self-hosted Gemini API server for image and video understanding.",
    )
    parser.add_argument("--version", action="version", version=f"sightd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    add_settings_flags(serve)
    serve.set_defaults(func=cmd_serve)

    ask = sub.add_parser("ask", help="answer one prompt about local files, in-process")
    ask.add_argument("files", nargs="*", help="image files")
    ask.add_argument("prompt", help="the question")
    ask.add_argument("--max-output-tokens", type=int, default=None)
    add_settings_flags(
        ask,
        {
            "model",
            "device",
            "dtype",
            "torch_threads",
            "hub_offline",
            "hub_cache_dir",
            "data_dir",
            "max_image_pixels",
            "engine",
            "upstream_url",
            "upstream_model",
            "upstream_api_key",
            "upstream_kind",
            "upstream_processor",
            "upstream_video",
            "grounding",
            "detector_model",
            "segmenter_model",
        },
    )
    ask.set_defaults(func=cmd_ask)

    insp = sub.add_parser("inspect", help="print what the model would see of a video or image")
    insp.add_argument("file")
    insp.add_argument("--fps", type=float, default=None, help="frames per second (default 1)")
    insp.add_argument("--start", type=float, default=None, help="clip start, seconds")
    insp.add_argument("--end", type=float, default=None, help="clip end, seconds")
    insp.add_argument("--resolution", choices=["low", "medium", "high"], default=None)
    insp.add_argument(
        "--html", default=None, metavar="OUT.html", help="also write the view as an HTML file"
    )
    add_settings_flags(
        insp,
        {
            "data_dir",
            "max_video_frames",
            "video_frame_side_px",
            "video_frame_low_side_px",
            "speech_backend",
            "max_image_pixels",
            "model",
            "engine",
            "upstream_model",
            "upstream_video",
        },
    )
    insp.set_defaults(func=cmd_inspect)

    files = sub.add_parser("files", help="manage stored files (local data dir)")
    files_sub = files.add_subparsers(dest="files_command", required=True)
    f_list = files_sub.add_parser("list", help="list files")
    f_up = files_sub.add_parser("upload", help="store a local file")
    f_up.add_argument("path")
    f_up.add_argument("--display-name", default=None)
    f_up.add_argument("--mime-type", default=None)
    f_del = files_sub.add_parser("delete", help="delete a file")
    f_del.add_argument("name", help="files/<id> or <id>")
    for p in (f_list, f_up, f_del):
        p.add_argument("--api-key", default=None, help="act as this key's owner")
        add_settings_flags(
            p,
            {
                "data_dir",
                "database_url",
                "blob_store",
                "s3_endpoint_url",
                "s3_bucket",
                "s3_prefix",
                "s3_region",
                "file_ttl_s",
                "max_file_bytes",
                "storage_quota_bytes",
                "api_keys",
            },
        )
    files.set_defaults(func=cmd_files)

    models = sub.add_parser("models", help="list, download or build models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    m_list = models_sub.add_parser("list", help="names this server answers to")
    add_settings_flags(m_list, {"model"})
    m_pull = models_sub.add_parser("pull", help="download a hub model ahead of time")
    m_pull.add_argument("model_id")
    add_settings_flags(m_pull, {"hub_cache_dir", "hub_offline"})
    m_tiny = models_sub.add_parser("tiny", help="write a tiny random-weight model (offline)")
    m_tiny.add_argument("dir")
    m_tiny.add_argument(
        "--family", default="qwen3-vl", choices=["qwen3-vl", "qwen2.5-vl", "smolvlm2"]
    )
    m_tiny.add_argument("--seed", type=int, default=0)
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from sightd.errors import SightdError

    try:
        return int(args.func(args))
    except SightdError as exc:
        print(f"sightd: {exc.status}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
