"""The image-decode memory budget: cost estimates from headers, the per-image cap, the shared
process budget (waiting, then 503), and the strip-wise conversion that keeps decodes within it."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightd.errors import InvalidArgument, Unavailable
from sightd.media import image as media_image
from sightd.media.decode_budget import DecodeBudget
from sightd.media.image import decode_cost_bytes, decode_image
from sightd.media.probe import probe_file

from .factories import gradient

MiB = 1024 * 1024
MB = 1_000_000
FIELD = "contents[0].parts[0].inline_data"

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


def png_header(width: int, height: int, *, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A PNG whose IHDR declares the size and pixel format; almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    plte = chunk(b"PLTE", b"\0\0\0") if color_type == 3 else b""
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + plte + idat + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """A real (small) JPEG whose SOF0 is patched to declare `width`×`height`."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "grey").save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "grey").save(buf, "WEBP", lossless=True, method=0)
    return buf.getvalue()


def cost(data: bytes, target: tuple[int, int]) -> int:
    """`decode_cost_bytes` as `_decode` computes it: a JPEG is drafted to the target first."""
    media_image._ensure_init()
    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            im.draft(None, target)
        estimate: int = decode_cost_bytes(im, target)
        return estimate


# (case, file, target, at least, at most): the decode's real peak was measured beside each
# (tests/api/test_image_bombs.py measures a live server).
COSTS: list[tuple[str, Callable[[], bytes], tuple[int, int], int, int]] = [
    # Pillow stores RGB in 4 bytes a pixel and PNG has no reduced decoding: a full 400 MB.
    ("png rgb 100 MP", lambda: png_header(10_000, 10_000), (768, 768), 400 * MB, 480 * MB),
    # 16-bit RGB(A) PNG is read straight to 8 bits: no 16-bit copy is counted (or made).
    (
        "png rgba16 100 MP",
        lambda: png_header(10_000, 10_000, bit_depth=16, color_type=6),
        (768, 768),
        400 * MB,
        480 * MB,
    ),
    # 16-bit grey stays I;16 (2 bytes a pixel); converted in strips, never as float64.
    (
        "png grey16 100 MP",
        lambda: png_header(10_000, 10_000, bit_depth=16, color_type=0),
        (768, 768),
        200 * MB,
        280 * MB,
    ),
    (
        "png palette 100 MP",
        lambda: png_header(10_000, 10_000, bit_depth=8, color_type=3),
        (768, 768),
        100 * MB,
        180 * MB,
    ),
    # JPEG is DCT-scaled to 1/8: 1250² instead of 10,000².
    ("jpeg 100 MP to 768", lambda: jpeg_header(10_000, 10_000), (768, 768), 6 * MB, 40 * MB),
    # ... or to 1/2 when the model needs 4000²: 5000² plus Pillow's two-pass resize.
    ("jpeg 100 MP to 4000", lambda: jpeg_header(10_000, 10_000), (4000, 4000), 200 * MB, 300 * MB),
    # Pillow's WEBP decoder holds ~15 bytes a pixel (measured 244 MiB for 4000²).
    ("webp 4 MP", lambda: webp(2000, 2000), (768, 768), 64 * MB, 100 * MB),
    ("small png", lambda: png_header(640, 480), (640, 480), 1 * MB, 24 * MB),
]


@pytest.mark.parametrize(
    ("data", "target", "low", "high"),
    [pytest.param(d, t, lo, hi, id=case) for case, d, t, lo, hi in COSTS],
)
def test_cost_estimates(
    data: Callable[[], bytes], target: tuple[int, int], low: int, high: int
) -> None:
    assert low <= cost(data(), target) <= high


def test_default_per_image_cap_splits_the_bombs() -> None:
    """With the defaults, a 100 MP PNG, WEBP or HEIF is refused and a 100 MP JPEG decodes."""
    cap = DecodeBudget().per_image_bytes
    assert cost(png_header(10_000, 10_000), (768, 768)) > cap
    assert cost(jpeg_header(10_000, 10_000), (768, 768)) < cap
    assert cost(png_header(5000, 4000), (768, 768)) < cap  # 20 MP PNG photos still decode


@pytest.mark.parametrize(
    ("total", "per_image", "held", "ask", "outcome"),
    [
        (100, 60, 0, 60, "ok"),
        (100, 60, 40, 60, "ok"),  # exactly fills the budget
        (100, 60, 0, 61, InvalidArgument),  # over the per-image cap: never fits
        (100, 200, 0, 101, InvalidArgument),  # the cap is at most the whole budget
        (100, 60, 41, 60, Unavailable),  # would fit alone, not now: wait, then 503
        (100, 100, 100, 1, Unavailable),
        (100, 100, 100, 0, "ok"),
    ],
)
def test_reserve(total: int, per_image: int, held: int, ask: int, outcome: object) -> None:
    budget = DecodeBudget(total, per_image, wait_s=0.05)
    with budget.reserve(held, "held", ""):
        if outcome == "ok":
            with budget.reserve(ask, "asked", FIELD):
                assert budget.used_bytes == held + ask
        else:
            assert isinstance(outcome, type)
            with pytest.raises(outcome) as info, budget.reserve(ask, "asked", FIELD):
                pass
            error = info.value
            if isinstance(error, InvalidArgument):
                assert error.field == FIELD and "too large to decode" in error.message
            else:
                assert isinstance(error, Unavailable)
                assert error.http_code == 503 and error.retry_after_s
        assert budget.used_bytes == held
    assert budget.used_bytes == 0


def test_reserve_is_given_back_when_the_decode_fails() -> None:
    budget = DecodeBudget(100, 100)
    with pytest.raises(RuntimeError), budget.reserve(80, "x", ""):
        raise RuntimeError("decoder bug")
    assert budget.used_bytes == 0


def test_a_waiting_decode_starts_when_another_ends() -> None:
    budget = DecodeBudget(100, 100, wait_s=5)
    started = threading.Event()
    waited_s: list[float] = []

    def second() -> None:
        started.wait()
        t0 = time.monotonic()
        with budget.reserve(70, "second", ""):
            waited_s.append(time.monotonic() - t0)

    thread = threading.Thread(target=second)
    thread.start()
    with budget.reserve(70, "first", ""):
        started.set()
        time.sleep(0.2)
    thread.join(5)
    assert waited_s and waited_s[0] >= 0.1
    assert budget.used_bytes == 0


def encode_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_decode_over_the_per_image_cap_is_a_400_before_decoding() -> None:
    budget = DecodeBudget(8 * MiB, 8 * MiB)
    data = png_header(2000, 2000)  # 16 MB decoded; its pixel data is not even valid
    with pytest.raises(InvalidArgument, match="too large to decode") as info:
        decode_image(data, max_side_px=768, max_pixels=10**9, field=FIELD, budget=budget)
    assert info.value.field == FIELD
    assert "2000×2000 PNG" in info.value.message
    assert budget.used_bytes == 0


def test_a_busy_budget_is_a_503_not_a_decode_error() -> None:
    budget = DecodeBudget(64 * MiB, 64 * MiB, wait_s=0.05)
    data = encode_png(gradient((256, 256)))
    with budget.reserve(64 * MiB, "another decode", ""), pytest.raises(Unavailable):
        decode_image(data, max_side_px=128, max_pixels=10**9, field=FIELD, budget=budget)
    part = decode_image(data, max_side_px=128, max_pixels=10**9, field=FIELD, budget=budget)
    assert part.image.size == (128, 128)
    assert budget.used_bytes == 0


def test_probe_fails_a_file_whose_decode_never_fits(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encode_png(gradient((1500, 1500))))
    result = probe_file(path, "image/png", decode_budget=DecodeBudget(4 * MiB, 4 * MiB))
    assert result.error is not None and "too large to decode" in result.error
    assert probe_file(path, "image/png", decode_budget=DecodeBudget()).error is None


def _grey16(size: tuple[int, int]) -> Image.Image:
    w, h = size
    ramp = (np.arange(w * h, dtype=np.uint32) * 65535 // (w * h - 1)).astype(np.uint16)
    return Image.frombytes("I;16", (w, h), ramp.reshape(h, w).astype("<u2").tobytes())


def _rgba(size: tuple[int, int]) -> Image.Image:
    im = gradient(size).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1))
    im.putalpha(Image.fromarray(alpha, "L"))
    return im


def _palette(size: tuple[int, int]) -> Image.Image:
    im = gradient(size).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    im.info["transparency"] = 3
    return im


@pytest.mark.parametrize("make", [_grey16, _rgba, _palette, gradient], ids=lambda f: f.__name__)
@pytest.mark.parametrize("target", [(300, 200), (100, 66), (37, 25)])
def test_strips_give_the_same_pixels_as_one_piece(
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[tuple[int, int]], Image.Image],
    target: tuple[int, int],
) -> None:
    """`_fit_rgb` converts and reduces strip by strip; the strips must not show."""
    data = encode_png(make((300, 200)))
    whole = decode_image(data, max_side_px=10_000, max_pixels=10**9)  # one strip
    assert whole.image.size == (300, 200)
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        one_piece = media_image._fit_rgb(im, target)
        monkeypatch.setattr(media_image, "_STRIP_BYTES", 1000)  # strips of a few rows
        in_strips = media_image._fit_rgb(im, target)
    assert in_strips.mode == one_piece.mode == "RGB"
    assert in_strips.size == one_piece.size == target
    diff = np.abs(np.asarray(in_strips, np.int16) - np.asarray(one_piece, np.int16))
    assert diff.max() <= 1


def test_high_bit_depth_grey_is_scaled_over_the_whole_image_not_per_strip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """32-bit grey is scaled down only when the image's peak passes 255: the whole image's
    peak, or the dark top strips would come out 257× brighter than the rest."""
    monkeypatch.setattr(media_image, "_STRIP_BYTES", 1000)
    rows = np.repeat((np.arange(256, dtype=np.int32) ** 2)[:, None], 64, axis=1)  # 0..65025
    buf = io.BytesIO()
    Image.fromarray(rows).save(buf, "TIFF")  # mode I
    part = decode_image(buf.getvalue(), max_side_px=256, max_pixels=10**9)
    column = np.asarray(part.image)[:, 0, 0].astype(int)
    assert column[0] == 0 and column[-1] == round(65025 / 257)
    assert np.all(np.diff(column) >= 0)  # one ramp, not a sawtooth of per-strip ramps
