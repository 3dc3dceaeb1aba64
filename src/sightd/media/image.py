"""Image bytes → `ImagePart`: an RGB Pillow image no larger than the model needs, EXIF orientation
applied, with the original (oriented) size kept for boxes and token counts.

Untrusted input shapes every step:
- only plain raster formats are opened (never EPS/PDF, which shell out to Ghostscript);
- the size in the header is checked against `max_pixels` before any pixel is decoded;
- the whole image is loaded, so truncated files fail here (Pillow's `LOAD_TRUNCATED_IMAGES`
  stays False) instead of reaching the model half grey;
- any decoder failure becomes `InvalidArgument`; nothing from Pillow escapes untranslated.

JPEGs are decoded with `draft()` (DCT scaling) straight to near the target size: 4.4× faster for
a 12 MP photo to 768 px (notes/media-perf.md). The exact fit is then a Lanczos resize. The target
is either "longest side at most N" or, when the caller knows the model's resolution policy
(`size_for`), the exact size the model sees, so its processor has nothing left to resize.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from sightd.errors import InvalidArgument
from sightd.prompt import ImagePart

# Formats we let Pillow try. Which MIME types are *accepted* is `mime.resolve_mime`'s call; the
# decoder also reads GIF/BMP/TIFF (and MPO, the multi-frame JPEG phones write) harmlessly.
DECODABLE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "HEIF", "GIF", "BMP", "TIFF")

_EXIF_ORIENTATION = 0x0112
# EXIF orientation → the transpose that undoes it (as `ImageOps.exif_transpose` does).
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255)

_init_lock = threading.Lock()
_initialised = False


def _ensure_init() -> None:
    """Register the HEIF opener once, on first use (importing pillow-heif costs ~0.1 s).

    Also silences Pillow's DecompressionBombWarning process-wide: sightd enforces its own
    `max_pixels` before decoding, so the warning is noise for images under that limit.
    """
    global _initialised
    if _initialised:
        return
    with _init_lock:
        if _initialised:
            return
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            pass
        else:
            register_heif_opener()
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        _initialised = True


def _orientation(im: Image.Image, *, header_only: bool = False) -> int:
    """The EXIF orientation (1–8). With `header_only`, never decode pixels to find it: PNG's
    `getexif()` loads the whole image when no eXIf chunk came before the pixel data."""
    if header_only and im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block should not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _oriented(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def fit_longest_side(size: tuple[int, int], max_side_px: int) -> tuple[int, int]:
    """`size` scaled so the longest side is at most `max_side_px`, aspect kept."""
    w, h = size
    longest = max(w, h)
    if longest <= max_side_px:
        return size
    scale = max_side_px / longest
    return max(1, min(max_side_px, round(w * scale))), max(1, min(max_side_px, round(h * scale)))


def _high_bit_depth_to_l(im: Image.Image) -> Image.Image:
    """16-bit and float grey (`I;16*`, `I`, `F`) to 8-bit `L`, scaling instead of clipping."""
    arr = np.asarray(im)
    if im.mode == "F":
        data = arr.astype(np.float64)
        peak = float(np.nanmax(data)) if data.size else 0.0
        data = data * 255.0 if peak <= 1.0 else data
    else:
        data = arr.astype(np.float64)
        peak = float(data.max()) if data.size else 0.0
        if im.mode.startswith("I;16") or peak > 255:
            data = data / 257.0
    return Image.fromarray(np.clip(np.nan_to_num(data), 0, 255).round().astype(np.uint8), "L")


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: transparency composited on white, CMYK/palette/grey converted,
    16-bit and float grey scaled down to 8 bits."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _high_bit_depth_to_l(im).convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


SizeFor = Callable[[tuple[int, int]], tuple[int, int]]
"""The exact (width, height) to decode an image to, given its EXIF-oriented size."""


def _decode(
    src: Path | IO[bytes],
    *,
    max_side_px: int,
    max_pixels: int,
    field: str,
    size_for: SizeFor | None = None,
) -> ImagePart:
    if max_side_px <= 0:
        raise ValueError(f"max_side_px must be positive, got {max_side_px}")
    _ensure_init()
    try:
        with Image.open(src, formats=DECODABLE_FORMATS) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise InvalidArgument(
                    f"image too large: {w}×{h} pixels exceeds the limit of {max_pixels}",
                    field=field or None,
                )
            if size_for is None:
                target = fit_longest_side((w, h), max_side_px)
            else:  # a JPEG's EXIF precedes its pixels, so this guess is right where it matters
                target = _target(size_for, (w, h), _orientation(im, header_only=True))
            if im.format in ("JPEG", "MPO") and target[0] < w and target[1] < h:
                # DCT scaling to the smallest size that is still >= the target on both sides.
                im.draft(None, target)
            im.load()
            orientation = _orientation(im)  # after load: a PNG's eXIf may follow its pixels
            if size_for is not None:
                target = _target(size_for, (w, h), orientation)
            rgb = to_rgb(im)
            if rgb.size != target:
                rgb = rgb.resize(target, Image.Resampling.LANCZOS)
            if orientation in _TRANSPOSE:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
            if rgb is im:  # keep the pixels valid after the file is closed
                rgb = rgb.copy()
    except (InvalidArgument, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise _too_large(max_pixels, field) from exc
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error…
        raise InvalidArgument(
            f"could not decode image: {_describe(exc)}", field=field or None
        ) from exc
    return ImagePart(image=rgb, source_size_px=_oriented((w, h), orientation))


def _target(size_for: SizeFor, stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    """`size_for` of the oriented size, as a size of the stored (not yet transposed) pixels."""
    width, height = size_for(_oriented(stored, orientation))
    return _oriented((width, height), orientation)


def _too_large(max_pixels: int | None, field: str) -> InvalidArgument:
    # Pillow refused in `open` before we saw the size: its hard limit is 2 × MAX_IMAGE_PIXELS
    # (~179 M pixels), which therefore also caps `max_pixels`.
    message = f"image too large: more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels"
    if max_pixels is not None:
        message += f" exceeds the limit of {max_pixels}"
    return InvalidArgument(message, field=field or None)


def _describe(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):  # its text names the file or object
        return "not a recognised image format"
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__


def decode_image(
    data: bytes,
    *,
    max_side_px: int,
    max_pixels: int,
    field: str = "",
    size_for: SizeFor | None = None,
) -> ImagePart:
    """Decode image bytes into an RGB `ImagePart` whose longest side is at most `max_side_px`,
    or, with `size_for`, exactly `size_for(oriented size)` (the size the model sees).

    `source_size_px` is the original size after EXIF orientation. Raises `InvalidArgument`
    (naming `field`) for corrupt, truncated, unsupported or oversized (> `max_pixels`) input.
    """
    return _decode(
        io.BytesIO(data),
        max_side_px=max_side_px,
        max_pixels=max_pixels,
        field=field,
        size_for=size_for,
    )


def decode_image_file(
    path: Path,
    *,
    max_side_px: int,
    max_pixels: int,
    field: str = "",
    size_for: SizeFor | None = None,
) -> ImagePart:
    """`decode_image` from a file; Pillow reads it incrementally instead of whole into memory."""
    return _decode(
        Path(path), max_side_px=max_side_px, max_pixels=max_pixels, field=field, size_for=size_for
    )


def image_size(data: bytes, *, field: str = "") -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header only (no pixel decode).

    For token counting. Raises `InvalidArgument` when the bytes are not a readable image.
    """
    return _header_size(io.BytesIO(data), field)


def image_size_file(path: Path, *, field: str = "") -> tuple[int, int]:
    """`image_size` of a file, reading only as much of it as the header needs."""
    return _header_size(Path(path), field)


def _header_size(src: Path | IO[bytes], field: str) -> tuple[int, int]:
    _ensure_init()
    try:
        with Image.open(src, formats=DECODABLE_FORMATS) as im:
            return _oriented(im.size, _orientation(im, header_only=True))
    except Image.DecompressionBombError as exc:
        raise _too_large(None, field) from exc
    except Exception as exc:
        raise InvalidArgument(
            f"could not decode image: {_describe(exc)}", field=field or None
        ) from exc
