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

Memory is bounded by what the decode holds, not by the file size (a 34-byte WEBP can declare
10,000 × 10,000): `decode_cost_bytes` estimates a decode's peak from the header and the target
(JPEG's DCT scaling counted), and with a `DecodeBudget` the decode reserves that much of the
process-wide budget first, or fails with a 400 naming the field when it can never fit. After the
one unavoidable full-size decode (PNG, WEBP, HEIF have no reduced decoding in Pillow) the image is
converted to RGB and box-reduced in strips (`_fit_rgb`), so no full-size 16-bit, float, RGBA or
second RGB copy is ever made; the final fit to the target is a Lanczos resize of the reduced image.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError, _imaging

from sightd.errors import InvalidArgument, SightdError
from sightd.media.decode_budget import DecodeBudget
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
_PILLOW_BLOCK_BYTES = 64 * 1024 * 1024


def _ensure_init() -> None:
    """Register the HEIF opener once, on first use (importing pillow-heif costs ~0.1 s).

    Also silences Pillow's DecompressionBombWarning process-wide: sightd enforces its own
    `max_pixels` before decoding, so the warning is noise for images under that limit.

    And makes Pillow allocate big images in blocks of `_PILLOW_BLOCK_BYTES` (64 MiB; Pillow's
    default is 16 MiB): glibc serves blocks above its largest dynamic mmap threshold (32 MiB)
    with `mmap` and gives them back on free, whereas 16 MiB blocks land in per-thread malloc
    arenas that keep them, so a 10,000 × 10,000 decode left the process ~250 MB larger for good.
    Small images still get blocks only as large as they need.
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
        if _imaging.get_block_size() < _PILLOW_BLOCK_BYTES:
            _imaging.set_block_size(_PILLOW_BLOCK_BYTES)
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


def _high_bit_depth_scale(im: Image.Image) -> float:
    """The factor that maps a 16-bit or float grey image (`I;16*`, `I`, `F`) to 0–255, from the
    whole image's extrema (no copy): 16-bit is divided by 257, float in 0–1 multiplied by 255."""
    if im.mode.startswith("I;16"):
        return 1 / 257
    try:
        _low, high = im.getextrema()
        peak = float(high)  # type: ignore[arg-type]
    except Exception:  # NaN-only float images and the like: no scaling
        return 1.0
    if im.mode == "F":
        return 255.0 if peak <= 1.0 else 1.0
    return 1 / 257 if peak > 255 else 1.0


def _high_bit_depth_to_l(im: Image.Image, scale: float | None = None) -> Image.Image:
    """16-bit and float grey (`I;16*`, `I`, `F`) to 8-bit `L`, scaling instead of clipping.

    `scale` is `_high_bit_depth_scale` of the whole image when `im` is one strip of it."""
    if scale is None:
        scale = _high_bit_depth_scale(im)
    data = np.asarray(im).astype(np.float32) * np.float32(scale)
    return Image.fromarray(np.clip(np.nan_to_num(data), 0, 255).round().astype(np.uint8), "L")


def to_rgb(im: Image.Image, *, high_bit_scale: float | None = None) -> Image.Image:
    """Any Pillow mode to RGB: transparency composited on white, CMYK/palette/grey converted,
    16-bit and float grey scaled down to 8 bits (by `high_bit_scale` when given)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _high_bit_depth_to_l(im, high_bit_scale).convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


_STRIP_BYTES = 8 * 1024 * 1024
"""About how many bytes of full-size pixels `_fit_rgb` converts at a time."""
_REDUCING_GAP = 2.0
"""Box-reduce by an integer factor while the result stays >= this × the target (as Pillow's
`thumbnail`), then Lanczos: the quality of a full Lanczos at a fraction of the memory and time."""


def _reduce_factor(size: tuple[int, int], target: tuple[int, int]) -> int:
    factor = int(min(size[0] / target[0], size[1] / target[1]) / _REDUCING_GAP)
    return max(1, factor)


def _stored_px_bytes(mode: str) -> int:
    """Bytes per pixel of Pillow's storage for `mode` (RGB is stored in 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


# Peak bytes a format's decoder holds per pixel, on top of the image itself, measured on
# 10,000 × 10,000 images (Pillow 13, pillow-heif 1.8): Pillow's WEBP decoder keeps libwebp's
# output, its animation canvas and a bytes copy besides the image; pillow-heif keeps its RGB
# buffer. The others decode row by row into the image.
_DECODER_EXTRA_PX_BYTES: dict[str, int] = {"WEBP": 12, "HEIF": 4, "GIF": 1, "TIFF": 4}
_SLACK_BYTES = 16 * 1024 * 1024  # allocator and codec bookkeeping, measured at 3–10 MiB


def decode_cost_bytes(im: Image.Image, target: tuple[int, int]) -> int:
    """Estimated peak bytes of decoded pixels to turn `im` (opened, not loaded; after `draft`
    for a JPEG, so its size is the DCT-scaled one) into RGB at `target`: the decoder's output
    and buffers, the strip-reduced RGB copy (`_fit_rgb`) and Pillow's two-pass resize."""
    w, h = im.size
    full = w * h * (_stored_px_bytes(im.mode) + _DECODER_EXTRA_PX_BYTES.get(im.format or "", 0))
    factor = _reduce_factor((w, h), target)
    reduced = strips = 0
    rw, rh = w, h
    if factor > 1 or im.mode != "RGB":
        rw, rh = -(-w // factor), -(-h // factor)
        reduced = rw * rh * 4
        strips = 4 * max(_STRIP_BYTES, w * factor * 16)
    if (rw, rh) != target:  # a horizontal pass to (target width, rh), then a vertical one
        out = (target[0] * rh + target[0] * target[1]) * 4
    else:  # already RGB at the target: a copy that outlives the file
        out = target[0] * target[1] * 4
    return full + reduced + strips + out + _SLACK_BYTES


def _fit_rgb(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    """RGB at `target` from a loaded image of any mode, never copying it whole: strips are
    converted to RGB and box-reduced by an integer factor, then one Lanczos resize fits."""
    w, h = im.size
    factor = _reduce_factor((w, h), target)
    if factor == 1 and im.mode == "RGB":
        reduced = im
    else:
        high_bit_scale = (
            _high_bit_depth_scale(im)
            if im.mode in ("I", "F") or im.mode.startswith("I;16")
            else None
        )
        reduced = Image.new("RGB", (-(-w // factor), -(-h // factor)))
        rows = max(1, _STRIP_BYTES // (w * 4 * factor)) * factor
        for top in range(0, h, rows):
            strip = to_rgb(im.crop((0, top, w, min(h, top + rows))), high_bit_scale=high_bit_scale)
            if factor > 1:
                strip = strip.reduce(factor)
            reduced.paste(strip, (0, top // factor))
    if reduced.size != target:
        reduced = reduced.resize(target, Image.Resampling.LANCZOS)
    return reduced


SizeFor = Callable[[tuple[int, int]], tuple[int, int]]
"""The exact (width, height) to decode an image to, given its EXIF-oriented size."""


def _decode(
    src: Path | IO[bytes],
    *,
    max_side_px: int,
    max_pixels: int,
    field: str,
    size_for: SizeFor | None = None,
    budget: DecodeBudget | None = None,
    wait_s: float | None = None,
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
            reservation: AbstractContextManager[None] = nullcontext()
            if budget is not None:
                cost = decode_cost_bytes(im, target)
                reservation = budget.reserve(cost, f"a {w}×{h} {im.format}", field, wait_s)
            with reservation:
                im.load()
                orientation = _orientation(im)  # after load: a PNG's eXIf may follow its pixels
                if size_for is not None:
                    target = _target(size_for, (w, h), orientation)
                rgb = _fit_rgb(im, target)
                if rgb is im:  # keep the pixels valid after the file is closed
                    rgb = rgb.copy()
                im.close()  # free the full-size pixels before the reservation ends
            if orientation in _TRANSPOSE:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
    except (SightdError, MemoryError):
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
    budget: DecodeBudget | None = None,
    wait_s: float | None = None,
) -> ImagePart:
    """Decode image bytes into an RGB `ImagePart` whose longest side is at most `max_side_px`,
    or, with `size_for`, exactly `size_for(oriented size)` (the size the model sees).

    `source_size_px` is the original size after EXIF orientation. Raises `InvalidArgument`
    (naming `field`) for corrupt, truncated, unsupported or oversized (> `max_pixels`, or a
    decode needing more than `budget` allows one image) input. With `budget` the decode holds
    its estimated bytes of the shared budget while it runs, waiting up to `wait_s` (default: the
    budget's) for them, then `Unavailable`.
    """
    return _decode(
        io.BytesIO(data),
        max_side_px=max_side_px,
        max_pixels=max_pixels,
        field=field,
        size_for=size_for,
        budget=budget,
        wait_s=wait_s,
    )


def decode_image_file(
    path: Path,
    *,
    max_side_px: int,
    max_pixels: int,
    field: str = "",
    size_for: SizeFor | None = None,
    budget: DecodeBudget | None = None,
    wait_s: float | None = None,
) -> ImagePart:
    """`decode_image` from a file; Pillow reads it incrementally instead of whole into memory."""
    return _decode(
        Path(path),
        max_side_px=max_side_px,
        max_pixels=max_pixels,
        field=field,
        size_for=size_for,
        budget=budget,
        wait_s=wait_s,
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
