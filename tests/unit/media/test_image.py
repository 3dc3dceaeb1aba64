"""Image decoding: formats, orientation, draft mode, colour modes, bad input and bombs."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps
from PIL.JpegImagePlugin import JpegImageFile

from sightd.errors import InvalidArgument
from sightd.media.image import decode_image, decode_image_file, image_size, image_size_file
from sightd.prompt import ImagePart

from .factories import gradient, image_bytes, png_header_only, short_id

BIG = 100_000_000
FIELD = "contents[0].parts[0].inline_data"


def decode(data: bytes, max_side_px: int = 768, max_pixels: int = BIG) -> ImagePart:
    return decode_image(data, max_side_px=max_side_px, max_pixels=max_pixels, field=FIELD)


def encode(im: Image.Image, fmt: str, **save: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **save)
    return buf.getvalue()


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


@pytest.mark.parametrize(
    ("fmt", "save", "tolerance"),
    [
        ("PNG", {}, 0),
        ("JPEG", {"quality": 95}, 4),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 8),
        ("HEIF", {"quality": 95}, 8),
        ("GIF", {}, 8),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
    ],
)
def test_round_trip(fmt: str, save: dict[str, Any], tolerance: float) -> None:
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif").register_heif_opener()
    original = gradient((96, 64))
    part = decode(encode(original, fmt, **save))
    assert part.image.mode == "RGB"
    assert part.image.size == part.source_size_px == (96, 64)
    assert mean_abs_diff(part.image, original) <= tolerance


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((800, 600), 400, (400, 300)),
        ((600, 800), 400, (300, 400)),
        ((1000, 10), 100, (100, 1)),
        ((10, 1000), 100, (1, 100)),
        ((300, 200), 400, (300, 200)),  # never upscaled
        ((401, 401), 400, (400, 400)),
    ],
)
def test_downscale_keeps_aspect(
    size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    part = decode(image_bytes("PNG", size=size), max_side_px=max_side)
    assert part.image.size == expected
    assert part.source_size_px == size


def quadrants(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Four distinct colour blocks, so every flip/rotation gives a different image."""
    w, h = size
    im = Image.new("RGB", size, (255, 0, 0))
    im.paste((0, 255, 0), (w // 2, 0, w, h // 2))
    im.paste((0, 0, 255), (0, h // 2, w // 2, h))
    im.paste((255, 255, 0), (w // 2, h // 2, w, h))
    return im


def with_orientation(im: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, fmt, exif=exif.tobytes())  # pillow-heif ignores an Exif object's tag


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_exif_transpose(orientation: int) -> None:
    data = with_orientation(quadrants(), "PNG", orientation)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    part = decode(data)
    assert part.source_size_px == expected.size
    assert part.image.tobytes() == expected.tobytes()
    assert image_size(data) == expected.size


def test_jpeg_orientation_6_rotates_pixels_and_swaps_size() -> None:
    # Stored 40×20: left half red, right half blue. Orientation 6 = rotate 90° clockwise to show,
    # so the red half ends up on top of a 20×40 image.
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    data = with_orientation(im, "JPEG", 6)
    part = decode(data)
    assert part.source_size_px == (20, 40) == part.image.size
    top, bottom = part.image.getpixel((10, 5)), part.image.getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    assert image_size(data) == (20, 40)


def test_heic_orientation_is_applied_once() -> None:
    # libheif applies the rotation itself and pillow-heif resets the EXIF tag: no double turn.
    pytest.importorskip("pillow_heif").register_heif_opener()
    expected = decode(with_orientation(quadrants(), "PNG", 6)).image
    part = decode(with_orientation(quadrants(), "HEIF", 6))
    assert part.source_size_px == (20, 40) == part.image.size
    assert mean_abs_diff(part.image, expected) < 12


def test_jpeg_orientation_with_downscale() -> None:
    data = with_orientation(gradient((800, 400)), "JPEG", 8)
    part = decode(data, max_side_px=200)
    assert part.source_size_px == (400, 800)
    assert part.image.size == (100, 200)


def test_jpeg_draft_gives_exact_size_and_matches_full_decode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = encode(gradient((2000, 1500)), "JPEG", quality=92)
    requested: list[tuple[int, int]] = []
    real_draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> Any:
        assert size is not None
        requested.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    part = decode(data, max_side_px=500)
    assert requested == [(500, 375)]
    assert part.image.size == (500, 375)
    assert part.source_size_px == (2000, 1500)
    full = Image.open(io.BytesIO(data)).convert("RGB").resize((500, 375), Image.Resampling.LANCZOS)
    assert mean_abs_diff(part.image, full) < 2.0


def test_no_draft_when_already_small(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(JpegImageFile, "draft", lambda *a: calls.append(a))
    assert decode(image_bytes("JPEG", size=(300, 200)), max_side_px=400).image.size == (300, 200)
    assert calls == []


def rgba_half_red() -> Image.Image:
    im = Image.new("RGBA", (20, 10), (0, 0, 0, 0))  # left: fully transparent
    im.paste((255, 0, 0, 128), (10, 0, 20, 10))  # right: half-transparent red
    return im


def palette_with_transparency() -> Image.Image:
    im = Image.new("P", (20, 10), 0)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (10, 0, 20, 10))
    im.info["transparency"] = 0
    return im


def gray16(value: int) -> Image.Image:
    return Image.fromarray(np.full((10, 20), value, dtype=np.uint16))


@pytest.mark.parametrize(
    ("im", "fmt", "left", "right"),
    [
        (rgba_half_red(), "PNG", (255, 255, 255), (255, 127, 127)),
        (rgba_half_red(), "WEBP", (255, 255, 255), (255, 127, 127)),
        (Image.new("LA", (20, 10), (0, 0)), "PNG", (255, 255, 255), (255, 255, 255)),
        (palette_with_transparency(), "PNG", (255, 255, 255), (0, 255, 0)),
        (palette_with_transparency(), "GIF", (255, 255, 255), (0, 255, 0)),
        (Image.new("P", (20, 10), 0), "PNG", (0, 0, 0), (0, 0, 0)),
        (Image.new("L", (20, 10), 77), "PNG", (77, 77, 77), (77, 77, 77)),
        (Image.new("1", (20, 10), 1), "PNG", (255, 255, 255), (255, 255, 255)),
        (Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "JPEG", (255, 0, 0), (255, 0, 0)),
        (Image.new("CMYK", (20, 10), (0, 0, 0, 0)), "TIFF", (255, 255, 255), (255, 255, 255)),
        (gray16(65535), "PNG", (255, 255, 255), (255, 255, 255)),
        (gray16(32896), "PNG", (128, 128, 128), (128, 128, 128)),
        (Image.new("I", (20, 10), 65535), "TIFF", (255, 255, 255), (255, 255, 255)),
        (Image.new("F", (20, 10), 0.5), "TIFF", (128, 128, 128), (128, 128, 128)),
        (Image.new("RGB", (20, 10), (10, 20, 30)), "PNG", (10, 20, 30), (10, 20, 30)),
    ],
    ids=short_id,
)
def test_colour_modes_become_rgb(
    im: Image.Image, fmt: str, left: tuple[int, ...], right: tuple[int, ...]
) -> None:
    out = decode(encode(im, fmt)).image
    assert out.mode == "RGB"
    tol = 6 if fmt in ("JPEG", "WEBP") else 1
    for (x, y), want in (((2, 5), left), ((17, 5), right)):
        got = out.getpixel((x, y))
        assert isinstance(got, tuple)
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= tol, (got, want)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_gives_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    pixel = decode(buf.getvalue()).image.getpixel((8, 8))
    assert isinstance(pixel, tuple)
    assert pixel[0] > 200 and pixel[2] < 50


def test_mpo_multi_picture_jpeg_decodes_first_picture() -> None:
    first, second = Image.new("RGB", (32, 24), (255, 0, 0)), Image.new("RGB", (32, 24), "blue")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    part = decode(buf.getvalue(), max_side_px=16)
    assert part.image.size == (16, 12)
    pixel = part.image.getpixel((8, 6))
    assert isinstance(pixel, tuple) and pixel[0] > 200


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


NOISE = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(truncated(encode(Image.fromarray(NOISE), "PNG")), id="truncated-png"),
        pytest.param(truncated(encode(Image.fromarray(NOISE), "JPEG")), id="truncated-jpeg"),
        pytest.param(truncated(encode(Image.fromarray(NOISE), "WEBP")), id="truncated-webp"),
        pytest.param(truncated(image_bytes("HEIF", size=(160, 120))), id="truncated-heic"),
        pytest.param(random.Random(1).randbytes(5000), id="random"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, id="png-signature-only"),
        pytest.param(b"\xff\xd8\xff\xe0" + random.Random(2).randbytes(500), id="jpeg-garbage"),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n", id="eps-never-opened"),
        pytest.param(b"hello world", id="text"),
    ],
)
def test_bad_bytes_raise_invalid_argument(data: bytes) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(InvalidArgument, match="could not decode image") as info:
        decode(data)
    assert info.value.field == FIELD


def test_corrupt_file_error_does_not_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "secret-name.png"
    path.write_bytes(b"not an image at all")
    with pytest.raises(InvalidArgument) as info:
        decode_image_file(path, max_side_px=64, max_pixels=BIG)
    assert "secret-name" not in info.value.message
    assert str(tmp_path) not in info.value.message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_over_our_limit_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    with pytest.raises(InvalidArgument) as info:
        decode(png_header_only(12_000, 12_000), max_pixels=BIG)  # 144 M: under Pillow's limit
    assert info.value.message == (
        "image too large: 12000×12000 pixels exceeds the limit of 100000000"
    )
    assert loads == []


def test_bomb_over_pillows_limit_is_translated() -> None:
    data = png_header_only(50_000, 50_000)  # 2.5 G pixels: Pillow itself refuses in open()
    with pytest.raises(InvalidArgument, match="image too large") as info:
        decode(data)
    assert info.value.field == FIELD
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)
    with pytest.raises(InvalidArgument, match="image too large"):
        image_size(data)


def test_max_pixels_is_inclusive() -> None:
    data = image_bytes("PNG", size=(100, 50))
    assert decode(data, max_pixels=5000).source_size_px == (100, 50)
    with pytest.raises(InvalidArgument, match="100×50 pixels exceeds the limit of 4999"):
        decode(data, max_pixels=4999)


def test_image_size_reads_only_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    assert image_size(png_header_only(30_000, 2_000)) == (30_000, 2_000)
    assert image_size(with_orientation(quadrants(), "PNG", 6)) == (20, 40)
    assert image_size(with_orientation(quadrants(), "WEBP", 6)) == (20, 40)
    assert image_size(with_orientation(quadrants(), "JPEG", 6)) == (20, 40)
    assert loads == []
    with pytest.raises(InvalidArgument, match="could not decode image"):
        image_size(b"nope")


def test_decode_image_file_and_image_size_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(with_orientation(gradient((300, 100)), "JPEG", 6))
    part = decode_image_file(path, max_side_px=150, max_pixels=BIG, field="f")
    assert part.source_size_px == (100, 300)
    assert part.image.size == (50, 150)
    assert image_size_file(path) == (100, 300)


def test_decoded_image_survives_closing_the_source() -> None:
    part = decode(image_bytes("PNG", size=(8, 8)))  # exact size, RGB: no copy made on the way
    assert part.image.getpixel((0, 0)) == (200, 30, 60)


# --- decoding to the model's exact size (`size_for`) ------------------------------------------


def test_size_for_decodes_a_photo_straight_to_the_exact_size() -> None:
    seen: list[tuple[int, int]] = []

    def size_for(size: tuple[int, int]) -> tuple[int, int]:
        seen.append(size)
        return 576, 416  # Qwen3-VL's grid size for 4000×3000 at the default budget

    data = encode(gradient((4000, 3000)), "JPEG", quality=85)
    part = decode_image(data, max_side_px=64, max_pixels=BIG, size_for=size_for)
    assert part.image.size == (576, 416)  # max_side_px does not apply when size_for does
    assert part.source_size_px == (4000, 3000)
    assert seen and set(seen) == {(4000, 3000)}


def test_size_for_may_round_small_images_up_to_the_grid() -> None:
    part = decode_image(
        encode(gradient((500, 375)), "PNG"),
        max_side_px=768,
        max_pixels=BIG,
        size_for=lambda size: (512, 384),
    )
    assert part.image.size == (512, 384) and part.source_size_px == (500, 375)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_size_for_sees_the_oriented_size_and_the_pixels_follow(fmt: str) -> None:
    # Stored 400×200, left half red; orientation 6 shows it 200×400 with red on top.
    im = Image.new("RGB", (400, 200), (255, 0, 0))
    im.paste((0, 0, 255), (200, 0, 400, 200))
    seen: list[tuple[int, int]] = []

    def size_for(size: tuple[int, int]) -> tuple[int, int]:
        seen.append(size)
        return size[0] // 4, size[1] // 4

    part = decode_image(
        with_orientation(im, fmt, 6), max_side_px=768, max_pixels=BIG, size_for=size_for
    )
    assert set(seen) <= {(200, 400)} and seen
    assert part.source_size_px == (200, 400) and part.image.size == (50, 100)
    top, bottom = part.image.getpixel((25, 10)), part.image.getpixel((25, 90))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and bottom[2] > 200


def test_size_for_refusing_the_image_is_an_invalid_argument() -> None:
    def refuse(size: tuple[int, int]) -> tuple[int, int]:
        raise InvalidArgument("too elongated")

    with pytest.raises(InvalidArgument, match="too elongated"):
        decode_image(image_bytes("PNG"), max_side_px=768, max_pixels=BIG, size_for=refuse)
