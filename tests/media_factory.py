"""Media made in code for the tests (no committed binaries)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def image_bytes(
    width: int = 640, height: int = 480, fmt: str = "JPEG", color: str = "red"
) -> bytes:
    """A simple scene: a coloured rectangle on white, encoded as `fmt`."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=color)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_bomb_header(width: int = 60000, height: int = 60000) -> bytes:
    """A PNG whose header declares a huge image (the pixel data is tiny and invalid)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def scene_bytes(width: int = 640, height: int = 480, fmt: str = "PNG") -> bytes:
    """A clear table-top scene for spatial prompts: a brown "wooden" block and a pale blue
    "glass" disc on a white background."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([width // 10, height // 3, width // 2, 5 * height // 6], fill=(139, 90, 43))
    draw.ellipse(
        [3 * width // 5, height // 5, 9 * width // 10, 3 * height // 5], fill=(170, 210, 240)
    )
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()
