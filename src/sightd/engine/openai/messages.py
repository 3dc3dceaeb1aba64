"""A `Prompt` as OpenAI chat messages: text and images in their order, videos as the upstream
takes them.

- images: `image_url` data URLs of the decoded image (already at the size the model needs);
- videos, natively: a header line saying where the clip sits in the source, one `video_url`
  (the sampled frames as an MP4 at the sampling rate), then the transcript lines at their
  source `MM:SS`;
- videos as frames: `engine.render`'s shared interleaving, each frame after its source
  `MM:SS` (a clip from 20:50 reads 20:50, not 00:00);
- model turns: their text (chat templates render no images in assistant turns);
- functions: declarations as an instruction and calls/results as text
  (`engine.render.functions_as_text`); the call itself is made under a JSON grammar upstream.

Encoding images is CPU work: build messages off the event loop.
"""

from __future__ import annotations

from typing import Any

from sightd.engine.render import (
    functions_as_text,
    interleave_video,
    speech_line,
    video_header,
)
from sightd.media.encode import image_data_url, video_data_url
from sightd.media.sampling import timestamp_mmss
from sightd.prompt import ImagePart, Prompt, PromptPart, TextPart, VideoPart

Message = dict[str, Any]


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _image(part: ImagePart) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image_data_url(part.image)}}


def native_video_content(video: VideoPart) -> list[dict[str, Any]]:
    """Header, the clip as one video, then its speech at source times."""
    header = video_header(video)
    if video.clipped:
        header += (
            f" Times inside the video count from {timestamp_mmss(video.clip_start_s)}: "
            f"its first frame is at {timestamp_mmss(video.clip_start_s)} of the source."
        )
    content = [_text(header)]
    frames = [f.image.image for f in video.frames]
    if frames:
        content.append(
            {"type": "video_url", "video_url": {"url": video_data_url(frames, video.fps)}}
        )
    content += [_text(speech_line(seg.start_s, seg.text)) for seg in video.transcript]
    return content


def _content(parts: tuple[PromptPart, ...], native_video: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append(_text(part.text))
        elif isinstance(part, ImagePart):
            out.append(_image(part))
        elif not isinstance(part, VideoPart):
            continue  # function parts: made text by `functions_as_text` before
        elif native_video:
            out += native_video_content(part)
        else:
            for item in interleave_video(part):
                if isinstance(item, TextPart):
                    out.append(_text(item.text))
                elif isinstance(item, ImagePart):
                    out.append(_image(item))
    return out


def to_messages(prompt: Prompt, *, native_video: bool) -> list[Message]:
    """The conversation as chat-completions `messages`."""
    prompt = functions_as_text(prompt)
    messages: list[Message] = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    for turn in prompt.turns:
        if turn.role == "model":
            text = "".join(p.text for p in turn.parts if isinstance(p, TextPart))
            messages.append({"role": "assistant", "content": text})
            continue
        content = _content(turn.parts, native_video)
        messages.append({"role": "user", "content": content or [_text("")]})
    return messages
