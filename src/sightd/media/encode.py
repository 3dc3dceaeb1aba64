"""Typed media → bytes a remote model server decodes: images as data URLs, sampled frames as a
small MP4.

A remote server receives what sightd already decided: an image at the size the model needs,
and for a native-video upstream exactly the frames sightd sampled (clip, fps, frame budget),
re-encoded as a video at the sampling rate so the server's own sampling takes all of them.
Encoding blocks: call it off the event loop.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from PIL.Image import Image

from sightd.errors import MissingExtra

JPEG_QUALITY = 92
SMALL_IMAGE_PX = 256 * 256  # at or below this, PNG (lossless) costs no more than JPEG


def image_data_url(image: Image) -> str:
    """`data:image/...;base64,...` of an RGB image: JPEG for photos, PNG when small."""
    buf = io.BytesIO()
    if image.width * image.height <= SMALL_IMAGE_PX:
        image.save(buf, format="PNG", optimize=False, compress_level=1)
        mime = "image/png"
    else:
        image.save(buf, format="JPEG", quality=JPEG_QUALITY)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def frames_mp4(frames: Sequence[Image], fps: float) -> bytes:
    """An H.264 MP4 (MPEG-4 Part 2 where no H.264 encoder is built in) of `frames`, one per
    1/`fps` s, sized to the first frame rounded down to even sides."""
    try:
        import av  # typed loosely below: PyAV's stubs type streams as a union
    except ImportError as e:
        raise MissingExtra("av", "video") from e
    if not frames:
        raise ValueError("no frames to encode")
    from fractions import Fraction

    width = max(2, frames[0].width - frames[0].width % 2)
    height = max(2, frames[0].height - frames[0].height % 2)
    rate = Fraction(fps).limit_denominator(1000)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream: Any = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "18"}
        for image in frames:
            if image.size != (width, height):
                image = image.resize((width, height))
            frame = av.VideoFrame.from_image(image.convert("RGB"))  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def video_data_url(frames: Sequence[Image], fps: float) -> str:
    return "data:video/mp4;base64," + base64.b64encode(frames_mp4(frames, fps)).decode("ascii")
