"""Image bombs made in code: tiny files that decode to 10,000 × 10,000 (or any size).

PNG is written directly (IHDR + one streamed zlib IDAT of constant rows), so even a 16-bit
100 MP image costs the test only its compressed bytes; JPEG and WEBP are encoded by Pillow from a
flat image (about a second each). HEIC cannot be made quickly (x265 takes ~18 s for 100 MP), so it
is the one stored here: Pillow + pillow-heif 1.8, `Image.new("RGB", (10000, 10000), (127, 127,
127)).save(buf, "HEIF", quality=1)`, 23,221 bytes, zlib-compressed and base64-encoded.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

SIDE = 10_000
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → samples per pixel


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bomb(
    width: int = SIDE, height: int = SIDE, *, bit_depth: int = 8, color_type: int = 2
) -> bytes:
    """A valid PNG of `width`×`height` flat grey pixels (colour type 0 grey, 2 RGB, 4 grey +
    alpha, 6 RGBA; bit depth 8 or 16): a few hundred kB for 100 MP."""
    row = b"\0" + b"\x7f" * (width * _PNG_CHANNELS[color_type] * bit_depth // 8)
    deflate = zlib.compressobj(9)
    idat = b"".join([deflate.compress(row) for _ in range(height)] + [deflate.flush()])
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def pillow_bomb(fmt: str, size: int = SIDE, **save: object) -> bytes:
    """A flat grey `size`×`size` image encoded by Pillow (JPEG or WEBP; `lossless=True` makes a
    38-byte WEBP of 10,000 × 10,000)."""
    im = Image.new("RGB", (size, size), (127, 127, 127))
    buf = io.BytesIO()
    im.save(buf, fmt, **save)
    return buf.getvalue()


_HEIC_10000 = (
    "eNrt1j1oU1EUB/Bz32ttCm0NNMaARfoV20W0g0NxeWpdFDQOglm06csLuZCXXNJQ0+KQguJq/VicSqkILnYS6tSK"
    "QsfSybHgx2o2i1jquUkU7NC1B/o/ucn9Oi/55Qz3PSLqy1VmTT7QPnGEOjdmx6HO5IjUnTCoZKgZA/lsodwak9F+"
    "hfbFoC6UGl8y4ZHiF4d60OyJ0uP8MaR1MdeY2tUTPAmc1iw/44/ZYY/RlfBfymdtyob7VW38EvdznHZFuXbpSSNp"
    "q06/d3d2iI67k3xFwlNdam/PJrg2w7Vt673jZXjz7GWl9u0s0o1B6vyYLi4/ffl9e2BxrUbUVbNbD6f4io4JtV5e"
    "mfL4h3r9UqFc9AtVXu6mY5xDMT1tgua/G4k23xQ1uqrtihuJRLg7qU34t4Bck7Z5x23jYlwKsxmuX/rCqHrbHu1d"
    "Gkm+Sg5/XebIZof/i6Evhx3bu6o7sXnz0Qev3rmQqrVKJ6OpT0vzv04nV6uiVBRbeRb/VpdlonjqsTARt2tr8kzx"
    "lDiTc0YcKXpeHOlivzjSm5o0kroqTeS8EyZqfy4MFEkIA/VsCAPFpJ3Z/ZPCQOekHY7iTutb0p5F7nrCQDPSQC+k"
    "3V7F3e83pIF+SAP9FAZSp4R5rgvzCHuAVbeFeQJhnnvCPLPCPPfhOdCzAM+BntfwwAMPPIfkWYcHHnjggQceeOCB"
    "Bx544IEHHnjggQceeOCBBx544IEHHnjggQceeOCBBx544IEHHnjggQceeOCBBx544IEHHnjggQceeOCBBx544IHn"
    "KHr6Nv8AYhyYKA=="
)


def heic_bomb() -> bytes:
    """A 23 kB HEIC of 10,000 × 10,000 flat grey pixels (see the module docstring)."""
    return zlib.decompress(base64.b64decode(_HEIC_10000))


def all_bombs() -> dict[str, tuple[bytes, str]]:
    """Every image format sightd accepts, 10,000 × 10,000 from a tiny file: name →
    (bytes, MIME type). 16-bit PNG covers both of Pillow's paths: RGBA (read as 8-bit) and grey
    (kept 16-bit, `I;16`)."""
    return {
        "png-8-rgb": (png_bomb(), "image/png"),
        "png-16-rgba": (png_bomb(bit_depth=16, color_type=6), "image/png"),
        "png-16-grey": (png_bomb(bit_depth=16, color_type=0), "image/png"),
        "webp-lossless": (pillow_bomb("WEBP", lossless=True, method=0), "image/webp"),
        "webp-lossy": (pillow_bomb("WEBP", quality=10, method=0), "image/webp"),
        "jpeg": (pillow_bomb("JPEG", quality=10), "image/jpeg"),
        "heic": (heic_bomb(), "image/heic"),
    }
