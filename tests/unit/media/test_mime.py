"""Sniffing, aliases and `resolve_mime`, table-driven over media generated in code."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sightd.errors import InvalidArgument
from sightd.media import mime

from .factories import image_bytes, short_id, write_audio

RANDOM = random.Random(0).randbytes(4096).replace(b"\x00", b"\x01")  # never valid UTF-8 text


def ftyp(major: bytes, *compat: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compat)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\0\0\0\x08mdat"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (image_bytes("PNG"), "image/png"),
        (image_bytes("JPEG"), "image/jpeg"),
        (image_bytes("WEBP"), "image/webp"),
        (image_bytes("HEIF"), "image/heic"),
        (image_bytes("GIF", mode="P", color=1), "image/gif"),
        (image_bytes("BMP"), "image/bmp"),
        (image_bytes("TIFF"), "image/tiff"),
        (ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (ftyp(b"heix", b"mif1"), "image/heic"),
        (ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),
        (ftyp(b"msf1", b"msf1", b"hevc"), "image/heic"),
        (ftyp(b"mif1", b"mif1", b"miaf"), "image/heif"),
        (ftyp(b"avif", b"mif1", b"avif"), "image/avif"),
        (ftyp(b"isom", b"isom", b"avc1"), "video/mp4"),
        (ftyp(b"mp42", b"mp41"), "video/mp4"),
        (ftyp(b"qt  ", b"qt  "), "video/mov"),
        (ftyp(b"3gp5", b"3gp5", b"isom"), "video/3gpp"),
        (ftyp(b"3g2a"), "video/3gpp"),
        (ftyp(b"M4A ", b"isom"), "audio/mp4"),
        (b"\0\0\0\x08wide\0\0\x10\0mdat", "video/mov"),  # old QuickTime, no ftyp
        (b"\0\0\x01\x00moov\0\0\0\x6cmvhd", "video/mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"RIFF\0\0\0\0AVI LIST", "video/avi"),
        (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\0\0\0\0CDXAfmt ", None),
        (b"FLV\x01\x05\0\0\0\x09", "video/x-flv"),
        (b"\0\0\x01\xba\x44\0\x04\0\x04\x01", "video/mpeg"),
        (b"\0\0\x01\xb3\x14\0\xf0\x13", "video/mpeg"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + b"\0" * 8, "video/wmv"),
        ((b"\x47" + b"\x11" * 187) * 3, "video/mp2t"),
        ((b"\0\0\0\0\x47" + b"\x11" * 187) * 3, "video/mp2t"),  # M2TS: 4-byte timestamps
        (b"OggS\0\x02" + b"\0" * 20, "audio/ogg"),
        (b"fLaC\0\0\0\x22", "audio/flac"),
        (b"FORM\0\0\x10\0AIFFCOMM", "audio/aiff"),
        (b"FORM\0\0\x10\0AIFCFVER", "audio/aiff"),
        (b"ID3\x04\0\0\0\0\0\x23", "audio/mp3"),
        (b"\xff\xfb\x90\x64\0\0", "audio/mp3"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        (b"\xef\xbb\xbf%PDF-1.4\n", "application/pdf"),
        (b"hello, world\n", "text/plain"),
        ("naïve café 日本語\n".encode(), "text/plain"),
        ("日本語".encode()[:-1], "text/plain"),  # head cut inside a character
        (b'{"a": 1}\r\n\tb', "text/plain"),
        (b"hello\x00world", None),
        ("café au lait".encode("latin-1"), None),
        (RANDOM, None),
        (b"", None),
        (b"BM" + b"\0" * 10, None),  # too short to be a real BMP
    ],
    ids=short_id,
)
def test_sniff(head: bytes, expected: str | None) -> None:
    assert mime.sniff(head) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mp4", "video/mp4"),
        ("mov", "video/mov"),
        ("webm-vp8", "video/webm"),
        ("webm-vp9", "video/webm"),
        ("avi", "video/avi"),
        ("flv", "video/x-flv"),
        ("mpeg", "video/mpeg"),
        ("ts", "video/mp2t"),
        ("wmv", "video/wmv"),
        ("3gp", "video/3gpp"),
        ("mkv", "video/x-matroska"),
    ],
)
def test_sniff_generated_videos(
    make_video: Callable[[str], Path], name: str, expected: str
) -> None:
    assert mime.sniff(make_video(name).read_bytes()[: mime.SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    ("container", "codec", "expected"),
    [
        ("wav", "pcm_s16le", "audio/wav"),
        ("mp3", "mp3", "audio/mp3"),
        ("ogg", "libopus", "audio/ogg"),
        ("flac", "flac", "audio/flac"),
        ("adts", "aac", "audio/aac"),
        ("aiff", "pcm_s16be", "audio/aiff"),
    ],
)
def test_sniff_generated_audio(tmp_path: Path, container: str, codec: str, expected: str) -> None:
    path = write_audio(tmp_path / f"a.{container}", container, codec, seconds=0.2)
    assert mime.sniff(path.read_bytes()) == expected


@pytest.mark.parametrize(
    ("given", "normal", "kind"),
    [
        ("image/png", "image/png", "image"),
        ("IMAGE/JPG", "image/jpeg", "image"),
        ("image/png; charset=binary", "image/png", "image"),
        ("image/heic-sequence", "image/heic", "image"),
        ("image/heif-sequence", "image/heif", "image"),
        ("image/x-foo", "image/x-foo", "image"),
        ("video/quicktime", "video/mov", "video"),
        ("video/x-msvideo", "video/avi", "video"),
        ("video/x-ms-wmv", "video/wmv", "video"),
        ("audio/3gpp", "video/3gpp", "video"),
        ("video/3gp", "video/3gpp", "video"),
        ("video/mpg", "video/mpeg", "video"),
        ("video/x-foo", "video/x-foo", "video"),
        ("audio/mpeg", "audio/mp3", "audio"),
        ("audio/x-wav", "audio/wav", "audio"),
        ("application/pdf", "application/pdf", "document"),
        ("text/csv", "text/csv", "text"),
        ("application/json", "application/json", "text"),
        ("application/x-python-code", "text/x-python", "text"),
        ("application/zip", "application/zip", None),
        ("nonsense", "nonsense", None),
    ],
)
def test_normalize_and_kind(given: str, normal: str, kind: str | None) -> None:
    assert mime.normalize(given) == normal
    assert mime.kind(given) == kind


def test_supported_lists_match_the_pages() -> None:
    assert {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
    } == mime.SUPPORTED_IMAGE_MIMES
    gemini_video = ["video/mp4", "video/mpeg", "video/mov", "video/avi", "video/x-flv"]
    gemini_video += ["video/mpg", "video/webm", "video/wmv", "video/3gpp"]
    assert {mime.normalize(m) for m in gemini_video} == mime.SUPPORTED_VIDEO_MIMES


FIELD = "contents[0].parts[1].inline_data"
PNG, JPEG = image_bytes("PNG"), image_bytes("JPEG")
GIF = image_bytes("GIF", mode="P", color=1)
MP4_HEAD = ftyp(b"isom", b"isom", b"avc1")


@pytest.mark.parametrize(
    ("declared", "data", "expected"),
    [
        ("image/png", PNG, "image/png"),
        ("image/jpeg", PNG, "image/png"),  # Part.from_bytes copy-paste mistake
        ("image/png", JPEG, "image/jpeg"),
        ("image/jpg", JPEG, "image/jpeg"),
        ("image/heif", image_bytes("HEIF"), "image/heic"),
        ("image/gif", PNG, "image/png"),
        ("Image/PNG; charset=binary", PNG, "image/png"),
        (None, PNG, "image/png"),
        ("", JPEG, "image/jpeg"),
        ("application/octet-stream", JPEG, "image/jpeg"),
        ("video/mp4", MP4_HEAD, "video/mp4"),
        ("video/quicktime", ftyp(b"qt  "), "video/mov"),
        ("video/mp4", ftyp(b"qt  "), "video/mp4"),  # one ISO-BMFF family
        ("video/mov", MP4_HEAD, "video/mov"),
        ("audio/3gpp", ftyp(b"3gp4", b"isom"), "video/3gpp"),
        ("video/mpg", b"\0\0\x01\xba\x44\0", "video/mpeg"),
        ("video/mpeg", (b"\x47" + b"\x11" * 187) * 3, "video/mpeg"),
        ("video/webm", b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska", "video/webm"),
        ("video/mp4", b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm", "video/webm"),  # wrong container
        ("video/mp4", RANDOM, "video/mp4"),  # unknown bytes: the video decoder decides
        (None, b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska", "video/webm"),
        (None, (b"\x47" + b"\x11" * 187) * 3, "video/mpeg"),
        ("audio/mpeg", b"ID3\x04\0\0\0", "audio/mp3"),
        ("audio/mp3", b"fLaC\0\0\0\x22", "audio/flac"),
        ("audio/wav", RANDOM, "audio/wav"),
        ("application/pdf", b"%PDF-1.7\n", "application/pdf"),
        ("text/plain", b"hello", "text/plain"),
        ("text/csv", b"a,b\n1,2\n", "text/csv"),
        ("text/plain", "café au lait".encode("latin-1"), "text/plain"),
        ("application/json", b'{"a": 1}', "application/json"),
    ],
    ids=short_id,
)
def test_resolve_mime(declared: str | None, data: bytes, expected: str) -> None:
    assert mime.resolve_mime(declared, data, FIELD) == expected


@pytest.mark.parametrize(
    ("declared", "data", "fragments"),
    [
        ("image/png", MP4_HEAD, ["image/png", "video/mp4", FIELD]),
        ("image/png", b"just some text", ["image/png", "text/plain"]),
        ("image/png", RANDOM, ["image/png", "nothing recognisable as image"]),
        ("image/png", b"", ["image/png"]),
        ("image/png", GIF, ["image/png", "image/gif"]),
        ("image/jpeg", b"%PDF-1.4", ["image/jpeg", "application/pdf"]),
        ("video/mp4", PNG, ["video/mp4", "image/png"]),
        ("video/quicktime", b"plain text", ["video/quicktime", "text/plain"]),
        ("audio/wav", PNG, ["audio/wav", "image/png"]),
        ("audio/mp3", MP4_HEAD, ["audio/mp3", "video/mp4"]),
        ("application/pdf", b"hello", ["application/pdf", "text/plain"]),
        ("application/pdf", RANDOM, ["application/pdf"]),
        ("text/plain", PNG, ["text/plain", "image/png"]),
        ("image/x-foo", PNG, ["Unsupported MIME type: image/x-foo"]),
        ("video/x-foo", MP4_HEAD, ["Unsupported MIME type: video/x-foo"]),
        ("application/zip", b"PK\x03\x04", ["Unsupported MIME type: application/zip"]),
        ("image/gif", GIF, ["Unsupported MIME type: image/gif"]),
        ("video/x-matroska", b"\x1a\x45\xdf\xa3", ["Unsupported MIME type: video/x-matroska"]),
        (None, RANDOM, ["Could not determine the MIME type", FIELD]),
        (None, GIF, ["Unsupported MIME type: image/gif"]),
        (None, ftyp(b"M4A "), ["Unsupported MIME type: audio/mp4"]),
    ],
    ids=short_id,
)
def test_resolve_mime_rejects(declared: str | None, data: bytes, fragments: list[str]) -> None:
    with pytest.raises(InvalidArgument) as info:
        mime.resolve_mime(declared, data, FIELD)
    for fragment in fragments:
        assert fragment in info.value.message
    assert info.value.field == FIELD


def test_resolve_mime_without_field_has_no_field() -> None:
    with pytest.raises(InvalidArgument) as info:
        mime.resolve_mime("image/png", b"text", "")
    assert info.value.field is None
    assert " for " not in info.value.message


@pytest.mark.parametrize(
    ("declared", "name", "expected"),
    [
        ("video/mp4", "mp4", "video/mp4"),
        ("video/quicktime", "mov", "video/mov"),
        ("video/webm", "webm-vp9", "video/webm"),
        ("video/x-msvideo", "avi", "video/avi"),
        ("video/x-flv", "flv", "video/x-flv"),
        ("video/mpeg", "mpeg", "video/mpeg"),
        ("video/x-ms-wmv", "wmv", "video/wmv"),
        ("audio/3gpp", "3gp", "video/3gpp"),
        (None, "ts", "video/mpeg"),
    ],
)
def test_resolve_mime_generated_videos(
    make_video: Callable[[str], Path], declared: str | None, name: str, expected: str
) -> None:
    head = make_video(name).read_bytes()[: mime.SNIFF_BYTES]
    assert mime.resolve_mime(declared, head, FIELD) == expected
