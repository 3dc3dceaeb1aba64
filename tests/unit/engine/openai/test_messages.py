"""The prompt as chat messages: images in order, videos natively or as frames, and the times
the model reads are the source's (a clip from 20:50 reads 20:50)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from sightd.engine.openai.messages import to_messages
from sightd.prompt import (
    ImagePart,
    Prompt,
    TextPart,
    TimedFrame,
    TranscriptSegment,
    Turn,
    VideoPart,
)


def _img(color: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> ImagePart:
    return ImagePart(Image.new("RGB", size, color), size)


def _decode(url: str) -> Image.Image:
    head, data = url.split(",", 1)
    assert head.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_text_images_and_turns_in_order() -> None:
    prompt = Prompt(
        system="Be brief.",
        turns=(
            Turn("user", (_img((255, 0, 0)), TextPart("and"), _img((0, 0, 255)))),
            Turn("model", (TextPart("Red, "), TextPart("blue."))),
            Turn("user", (TextPart("Sure?"),)),
        ),
    )
    messages = to_messages(prompt, native_video=False)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Be brief." and messages[2]["content"] == "Red, blue."
    first = messages[1]["content"]
    assert [c["type"] for c in first] == ["image_url", "text", "image_url"]
    assert _decode(first[0]["image_url"]["url"]).getpixel((5, 5)) == (255, 0, 0)
    assert _decode(first[2]["image_url"]["url"]).getpixel((5, 5)) == (0, 0, 255)


CLIP = VideoPart(
    frames=tuple(TimedFrame(1250.0 + i, _img((10 * i, 0, 0), (64, 48))) for i in range(3)),
    transcript=(TranscriptSegment(1251.2, 1252.0, "hello there"),),
    fps=1.0,
    clip_start_s=1250.0,
    clip_end_s=1253.0,
    duration_s=3600.0,
)


def test_video_as_frames_reads_source_times() -> None:
    (message,) = to_messages(Prompt((Turn("user", (CLIP,)),)), native_video=False)
    texts = [c["text"] for c in message["content"] if c["type"] == "text"]
    assert texts[0].startswith("Video: 60:00 long") and "clipped to 20:50–20:53" in texts[0]
    assert texts[1:] == ["20:50", "20:51", "[20:51] (audio) hello there", "20:52"]
    assert sum(c["type"] == "image_url" for c in message["content"]) == 3


def test_native_video_is_one_clip_of_the_sampled_frames() -> None:
    av = pytest.importorskip("av")
    (message,) = to_messages(Prompt((Turn("user", (CLIP,)),)), native_video=True)
    kinds = [c["type"] for c in message["content"]]
    assert kinds == ["text", "video_url", "text"]
    assert "count from 20:50" in message["content"][0]["text"]
    assert message["content"][2]["text"] == "[20:51] (audio) hello there"
    url = message["content"][1]["video_url"]["url"]
    assert url.startswith("data:video/mp4;base64,")
    with av.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as container:
        frames = list(container.decode(video=0))
        assert len(frames) == 3 and (frames[0].width, frames[0].height) == (64, 48)
        assert float(container.streams.video[0].average_rate) == 1.0
