"""What differs between the supported model families, in one table.

A family is detected from config.json's `model_type`. Everything else the backend needs that is
not the same for every family lives on `Family`: how a `Prompt` becomes the chat messages the
family's template expects (a video as one video input, or as frames), how big an image is
worth decoding, how long the context is, and which torchvision-free video processor (if any)
fills the processor's video slot. How many pixels each image and frame gets per
`mediaResolution` level is `resolution`'s table.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sightd.engine.render import flatten_videos, functions_as_text, native_video
from sightd.engine.tools import hermes_call, hermes_response, hermes_tools_block
from sightd.errors import FailedPrecondition, Unimplemented
from sightd.prompt import (
    FunctionCallPart,
    FunctionResponsePart,
    ImagePart,
    Prompt,
    TextPart,
    VideoPart,
)

if TYPE_CHECKING:
    from sightd.engine.transformers.no_torchvision import VideoFactory

log = logging.getLogger(__name__)

Message = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """One model family's quirks. `name` is what `ModelInfo.family` reports."""

    name: str
    model_types: tuple[str, ...]
    default_max_output_tokens: int
    # The answer follows "Assistant:" without a space (SmolVLM), so it starts with one.
    strip_leading_space: bool = False
    # Its video input as sightd feeds it (numpy stand-in without torchvision): Qwen2-VL-style
    # video math with per-frame ("qwen2") or whole-video ("qwen3") pixel bounds. None: the
    # model is shown videos as frames, and `NoVideoProcessor` fills the video slot.
    video: Literal["qwen2", "qwen3"] | None = None
    # The native box dialect the family was trained on (`grounding.native`), if any.
    grounding: str | None = None
    # The tool-call syntax the family was trained on (`engine.tools`): "hermes" is Qwen's
    # `<tool_call>` JSON. None: tools become an instruction and calls are made under a grammar.
    tool_syntax: Literal["hermes"] | None = None
    # The system prompt its template injects when none is given (kept when sightd writes the
    # system prompt itself, to add tools the template cannot render).
    default_system: str | None = None

    @property
    def native_video(self) -> bool:
        """Whether a `VideoPart` goes to the model as one video (else as frames)."""
        return self.video is not None

    @property
    def video_factory(self) -> VideoFactory | None:
        """The torchvision-free video processor for the video slot (None: image-only)."""
        if self.video is None:
            return None
        from sightd.engine.transformers.no_torchvision import NumpyQwenVideoProcessor

        return NumpyQwenVideoProcessor.factory(total_pixels=self.video == "qwen3")

    def messages(
        self,
        prompt: Prompt,
        video_input: Callable[[VideoPart], Any] | None = None,
        *,
        template_tools: bool = False,
    ) -> list[Message]:
        """The conversation in transformers' chat format, images inline in their order.

        Images are carried in the content items (`{"type": "image", "image": PIL}`), so the
        processor pairs each placeholder with its image. With `video_input` (and a family that
        takes video), a video is a header, one `{"type": "video"}` item holding
        `video_input(part)`, then its speech lines (`engine.render.native_video`); otherwise it
        is shown as its frames after their `MM:SS`. Model turns become "assistant" turns; the
        templates render only their text, so media there are dropped (with a log line).

        Function calls and results: with `template_tools` (the template renders tools) a call
        is an assistant message's `tool_calls` and a result a "tool" message, and the caller
        passes `prompt.tools` to the template; a family with a tool syntax whose template has
        none gets the same text written here (the tools block in the system prompt, calls and
        results in the turns); a family without one sees them as plain text.
        """
        native = self.native_video and video_input is not None
        if not native:
            prompt = flatten_videos(prompt)
        if self.tool_syntax is None:
            prompt = functions_as_text(prompt)
        written = self.tool_syntax is not None and not template_tools
        system = prompt.system
        if written and prompt.tools:
            head = system or self.default_system
            system = "\n\n".join(t for t in (head, hermes_tools_block(prompt.tools)) if t)
        messages: list[Message] = []
        if system:
            messages.append({"role": "system", "content": [_text(system)]})
        for turn in prompt.turns:
            role = "user" if turn.role == "user" else "assistant"
            content: list[dict[str, Any]] = []
            calls: list[FunctionCallPart] = []
            for part in turn.parts:
                if isinstance(part, TextPart):
                    content.append(_text(part.text))
                    continue
                if isinstance(part, FunctionCallPart):
                    calls.append(part)
                    continue
                if isinstance(part, FunctionResponsePart):
                    if written:
                        content.append(_text(hermes_response(part)))
                    else:
                        messages.append({"role": "tool", "content": part.response_json})
                    continue
                if role == "assistant":
                    log.warning("dropping media from a model turn: %s cannot show it", self.name)
                    continue
                if isinstance(part, ImagePart):
                    content.append({"type": "image", "image": part.image})
                elif isinstance(part, VideoPart) and video_input is not None:
                    timestamps = self.video == "qwen3"
                    for item in native_video(part, source_timestamps=timestamps):
                        if isinstance(item, TextPart):
                            content.append(_text(item.text))
                        else:
                            content.append({"type": "video", "video": video_input(item)})
            if calls and written:
                lead = "\n" if any(item.get("text") for item in content) else ""
                content.append(_text(lead + "\n".join(hermes_call(c) for c in calls)))
            elif calls:
                messages.append(_assistant_calls(content, calls))
                continue
            if not content and role == "user" and messages and messages[-1]["role"] == "tool":
                continue  # the turn held only function results
            if not content:  # SmolVLM's template indexes content[0]
                content.append(_text(""))
            messages.append({"role": role, "content": _joined(content)})
        return messages

    def image_max_side_px(self, image_processor: Any) -> int:
        """Longest image side worth decoding: larger images are downscaled by the processor anyway.

        Qwen resizes to at most `max_pixels` (size["longest_edge"] is a pixel count there); the
        side returned keeps every image up to a 2:1 aspect ratio at full processor resolution.
        SmolVLM/Idefics3 resize the longest side to size["longest_edge"] pixels.
        """
        size = dict(getattr(image_processor, "size", None) or {})
        if self.name.startswith("qwen"):
            max_pixels = size.get("longest_edge") or getattr(image_processor, "max_pixels", None)
            if not isinstance(max_pixels, int) or max_pixels <= 0:
                raise FailedPrecondition("the Qwen image processor has no max_pixels")
            return math.isqrt(2 * max_pixels)
        longest = size.get("longest_edge")
        if not longest:
            raise FailedPrecondition(f"the {self.name} image processor has no size.longest_edge")
        return int(longest)

    @staticmethod
    def context_tokens(config: dict[str, Any]) -> int:
        """Context window in tokens, from the text model's `max_position_embeddings`."""
        text = config.get("text_config") or {}
        for source in (text, config):
            value = source.get("max_position_embeddings")
            if isinstance(value, int) and value > 0:
                return value
        raise FailedPrecondition("config.json names no max_position_embeddings")


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _joined(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive hermes results of one turn are separated by a newline, as Qwen's template
    separates "tool" messages."""
    out: list[dict[str, Any]] = []
    for item in content:
        text = item.get("text")
        prev = out[-1].get("text") if out else None
        if (
            isinstance(text, str)
            and isinstance(prev, str)
            and prev.endswith("</tool_response>")
            and text.startswith("<tool_response>")
        ):
            out[-1] = _text(prev + "\n" + text)
            continue
        out.append(item)
    return out


def _assistant_calls(content: list[dict[str, Any]], calls: list[FunctionCallPart]) -> Message:
    """An assistant message with `tool_calls` for a template that renders them (its text as a
    string: an empty one is falsy there, so no newline precedes the first call)."""
    text = "".join(str(item.get("text", "")) for item in content)
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"type": "function", "function": {"name": c.name, "arguments": json.loads(c.args_json)}}
            for c in calls
        ],
    }


FAMILIES: tuple[Family, ...] = (
    Family(
        "qwen3-vl",
        ("qwen3_vl",),
        default_max_output_tokens=16384,
        video="qwen3",
        grounding="qwen3-vl",
        tool_syntax="hermes",
    ),
    Family(
        "qwen2.5-vl",
        ("qwen2_5_vl",),
        default_max_output_tokens=8192,
        video="qwen2",
        grounding="qwen2.5-vl",
        tool_syntax="hermes",
        default_system="You are a helpful assistant.",
    ),
    Family("smolvlm2", ("smolvlm",), default_max_output_tokens=2048, strip_leading_space=True),
    Family("smolvlm", ("idefics3",), default_max_output_tokens=2048, strip_leading_space=True),
)


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a model folder, as a dict (no transformers import needed)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FailedPrecondition(f"{folder} has no config.json, so it is not a model folder")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def detect_family(config: dict[str, Any]) -> Family:
    """The family of a model from its config.json, or Unimplemented naming the supported ones."""
    model_type = config.get("model_type")
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    supported = ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES)
    raise Unimplemented(f"model_type {model_type!r} is not supported; sightd serves {supported}")
