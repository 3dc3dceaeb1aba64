"""How a backend shows a `VideoPart` to its model.

Without native video input, the video becomes a header line, then its frames and speech merged
in time order: each frame after its `MM:SS` (source time: a clip from 20:50 starts at 20:50) and
each transcript line as `[MM:SS] (audio) text`. Every backend that flattens video uses this one
helper, so the model reads the same thing in-process and through a remote server.

With native video input (`native_video`), a header, the video as one input, then the speech
lines at their source `MM:SS`.
"""

from __future__ import annotations

import dataclasses

from sightd.engine.tools import call_as_text, generic_instruction, response_as_text
from sightd.media.sampling import timestamp_mmss
from sightd.prompt import (
    FunctionCallPart,
    FunctionResponsePart,
    ImagePart,
    Prompt,
    PromptPart,
    TextPart,
    Turn,
    VideoPart,
)

FlatPart = TextPart | ImagePart | FunctionCallPart | FunctionResponsePart


def video_header(video: VideoPart) -> str:
    """A one-line header the model reads before the frames (duration, rate, clip)."""
    return _video_facts(video) + "; each frame follows its MM:SS time."


def _video_facts(video: VideoPart) -> str:
    head = f"Video: {timestamp_mmss(video.duration_s)} long; frames sampled at {video.fps:g} fps"
    if video.clipped:
        start, end = timestamp_mmss(video.clip_start_s), timestamp_mmss(video.clip_end_s)
        head += f", clipped to {start}–{end}"
    return head


def native_video_header(video: VideoPart, *, source_timestamps: bool) -> str:
    """The header before a video the model takes as one input.

    `source_timestamps`: the model reads a time with every frame (Qwen3-VL's `<t seconds>`),
    set to the source's clock; otherwise its times count from the video's first frame, so the
    header says where that frame sits in the source.
    """
    head = _video_facts(video)
    if source_timestamps:
        return head + "; the video's timestamps are seconds of the source."
    if video.clipped:
        start = timestamp_mmss(video.frames[0].time_s if video.frames else video.clip_start_s)
        return head + f"; times in the video count from its first frame, at {start}."
    return head + "."


def native_video(video: VideoPart, *, source_timestamps: bool) -> list[TextPart | VideoPart]:
    """A video for a model that takes it natively: header, the video, then its speech as
    `[MM:SS] (audio)` lines at source times."""
    header = TextPart(native_video_header(video, source_timestamps=source_timestamps))
    speech = [TextPart(speech_line(seg.start_s, seg.text)) for seg in video.transcript]
    return [header, *([video] if video.frames else []), *speech]


def speech_line(start_s: float, text: str) -> str:
    return f"[{timestamp_mmss(start_s)}] (audio) {text}"


def interleave_video(video: VideoPart) -> list[FlatPart]:
    """The video as text and images: header, then frames and speech in time order."""
    events: list[tuple[float, int, FlatPart]] = [
        (seg.start_s, 0, TextPart(speech_line(seg.start_s, seg.text))) for seg in video.transcript
    ]
    events += [(f.time_s, 1, f.image) for f in video.frames]
    events.sort(key=lambda e: (e[0], e[1]))
    parts: list[FlatPart] = [TextPart(video_header(video))]
    for time_s, order, item in events:
        if order == 1:
            parts.append(TextPart(timestamp_mmss(time_s)))
        parts.append(item)
    return parts


def flatten_parts(parts: tuple[PromptPart, ...]) -> list[FlatPart]:
    out: list[FlatPart] = []
    for part in parts:
        if isinstance(part, VideoPart):
            out.extend(interleave_video(part))
        else:
            out.append(part)
    return out


def flatten_videos(prompt: Prompt) -> Prompt:
    """The prompt with every video replaced by its interleaved frames and text."""
    if not prompt.videos():
        return prompt
    turns = tuple(Turn(t.role, tuple(flatten_parts(t.parts))) for t in prompt.turns)
    return dataclasses.replace(prompt, turns=turns)


def functions_as_text(prompt: Prompt) -> Prompt:
    """The prompt for a model without a tool syntax: function calls and results in the history
    become text (a call as the JSON the model was asked for), and declared tools an instruction
    at the end of the system text."""
    turns = tuple(Turn(t.role, tuple(_function_text(p) for p in t.parts)) for t in prompt.turns)
    system = prompt.system
    if prompt.tools:
        system = "\n\n".join(s for s in (system, generic_instruction(prompt.tools)) if s)
    return dataclasses.replace(prompt, turns=turns, system=system, tools=())


def _function_text(part: PromptPart) -> PromptPart:
    if isinstance(part, FunctionCallPart):
        return TextPart(call_as_text(part))
    if isinstance(part, FunctionResponsePart):
        return TextPart(response_as_text(part))
    return part
