"""Typed requests that the API layer hands to services, whichever endpoint they came from.

generateContent, countTokens and the Interactions API all reduce to a `GenerateInput`: turns of
text and media references (inline bytes already base64-decoded, Files API ids, URLs), plus
generation options. Media are not decoded yet: that happens in `services.materialize`.

The Interactions API also hands over its input as typed steps (`InteractionInput`), because an
interaction is stored as a timeline of steps and continued from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sightd.engine.base import SamplingParams
from sightd.prompt import FunctionDecl, Role

_FILE_URI = re.compile(r"(?:^|/)files/([a-z0-9]+)/?$")


@dataclass(frozen=True)
class InlineMedia:
    data: bytes
    mime_type: str | None


@dataclass(frozen=True)
class FileMedia:
    file_id: str
    mime_type: str | None


@dataclass(frozen=True)
class UrlMedia:
    url: str
    mime_type: str | None


@dataclass(frozen=True)
class LocalMedia:
    """A file on this machine (the CLI's `ask` and `inspect`; never from HTTP requests)."""

    path: Path
    mime_type: str | None


MediaRef = InlineMedia | FileMedia | UrlMedia | LocalMedia


@dataclass(frozen=True)
class VideoOptions:
    """Per-part video metadata (`videoMetadata`): clip and sampling rate."""

    start_s: float | None = None
    end_s: float | None = None
    fps: float | None = None


@dataclass(frozen=True)
class TextIn:
    text: str


@dataclass(frozen=True)
class MediaIn:
    ref: MediaRef
    field: str  # where it sits in the request, for error messages
    video: VideoOptions | None = None
    resolution: str | None = None  # low | medium | high | ultra_high


@dataclass(frozen=True)
class FunctionCallIn:
    """A call the model made earlier (a model turn of the history); args as compact JSON."""

    name: str
    args_json: str
    id: str | None = None


@dataclass(frozen=True)
class FunctionResponseIn:
    """The result of a call, sent back by the client (a user turn); compact JSON."""

    name: str
    response_json: str
    id: str | None = None


PartIn = TextIn | MediaIn | FunctionCallIn | FunctionResponseIn

ToolMode = Literal["AUTO", "ANY", "NONE", "VALIDATED"]


@dataclass(frozen=True)
class ToolChoice:
    """Which declared functions the model may call, and how (`functionCallingConfig`):
    AUTO lets the model choose between text and calls, ANY makes it call one of `allowed`
    (all when empty), NONE forbids calls, VALIDATED lets it choose but checks its calls."""

    mode: ToolMode = "AUTO"
    allowed: tuple[str, ...] = ()
    field: str = "tool_config.function_calling_config"  # where it came from, for errors


@dataclass(frozen=True)
class TurnIn:
    role: Role
    parts: tuple[PartIn, ...]


@dataclass(frozen=True)
class GenerateInput:
    model: str
    turns: tuple[TurnIn, ...]
    system: str | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    candidate_count: int = 1
    response_mime_type: str | None = None
    response_schema: dict[str, object] | None = None
    media_resolution: str | None = None
    tools: tuple[FunctionDecl, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)


@dataclass(frozen=True)
class BlockIn:
    """One Interactions content block: text, or media (image, video, audio, document) by
    bytes or URI. `data_omitted` marks stored history whose large inline bytes were dropped.

    A `function_call` block holds `call`; a `function_result` block holds `result` (its name
    is "" when the client left it out: the call it answers names it) and `is_error`. `where`
    is where a function block sat in the request, for error messages."""

    type: str
    text: str | None = None
    data: bytes | None = None
    uri: str | None = None
    mime_type: str | None = None
    resolution: str | None = None
    data_omitted: bool = False
    call: FunctionCallIn | None = None
    result: FunctionResponseIn | None = None
    is_error: bool = False
    where: str | None = None


StepKind = Literal["user_input", "model_output", "function_call", "function_result"]


@dataclass(frozen=True)
class StepIn:
    """One step of an interaction's timeline (thought steps and blocks already dropped). A
    `function_call` or `function_result` step holds its one block of that type."""

    type: StepKind
    content: tuple[BlockIn, ...]


@dataclass(frozen=True)
class InteractionInput:
    """A checked `POST /interactions` body: this call's steps and options.

    `echo` is JSON the Interaction repeats back (generation_config, response_format, ...);
    services store it and never read it.
    """

    model: str
    steps: tuple[StepIn, ...]
    system: str | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    previous_interaction_id: str | None = None
    stream: bool = False
    background: bool = False
    store: bool = True
    echo: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[FunctionDecl, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)


ResolutionLevel = Literal["low", "medium", "high", "ultra_high"]


def media_ref_for_uri(uri: str, mime_type: str | None) -> MediaRef:
    """This server's File URI (any host, any version) or `files/<id>` → a file; else a URL."""
    match = _FILE_URI.search(uri.split("?", 1)[0])
    if match and (uri.startswith("files/") or "://" in uri):
        return FileMedia(match.group(1), mime_type)
    return UrlMedia(uri, mime_type)


def resolution_level(value: str | None) -> str | None:
    """`MEDIA_RESOLUTION_LOW` / `low` → `low`; unspecified → None."""
    if not value:
        return None
    level = value.lower().removeprefix("media_resolution_")
    return None if level in ("unspecified", "") else level
