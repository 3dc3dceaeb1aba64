"""MIME types: canonical names, the aliases SDKs send, magic-byte sniffing, and the one rule
(`resolve_mime`) that turns a declared type plus the first bytes into the type we act on.

Clients cannot be trusted to label bytes: `Part.from_bytes` sends whatever it is given (often
`image/jpeg` for PNG bytes) and Python's `mimetypes` names `.mov` `video/quicktime` where the
Gemini pages say `video/mov`. So the bytes decide the container, and the declared type only has
to agree on the *kind* of media (an image where an image was declared, and so on).
"""

from __future__ import annotations

import codecs
from typing import Literal

from sightd.errors import InvalidArgument

Kind = Literal["image", "video", "audio", "document", "text"]

SNIFF_BYTES = 8192
"""How much of the head `sniff` looks at; read at least this much from a file to sniff it."""

SUPPORTED_IMAGE_MIMES: frozenset[str] = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
)
# Gemini's list, canonical spelling: its `video/mpg` is an alias of `video/mpeg`.
SUPPORTED_VIDEO_MIMES: frozenset[str] = frozenset(
    {
        "video/mp4",
        "video/mpeg",
        "video/mov",
        "video/avi",
        "video/x-flv",
        "video/webm",
        "video/wmv",
        "video/3gpp",
    }
)
SUPPORTED_AUDIO_MIMES: frozenset[str] = frozenset(
    {"audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac"}
)
SUPPORTED_DOCUMENT_MIMES: frozenset[str] = frozenset({"application/pdf"})
SUPPORTED_TEXT_MIMES: frozenset[str] = frozenset(
    {
        "text/plain",
        "text/html",
        "text/css",
        "text/javascript",
        "text/x-typescript",
        "text/csv",
        "text/markdown",
        "text/x-python",
        "text/xml",
        "text/rtf",
        "application/json",
    }
)
SUPPORTED_MIMES: frozenset[str] = (
    SUPPORTED_IMAGE_MIMES
    | SUPPORTED_VIDEO_MIMES
    | SUPPORTED_AUDIO_MIMES
    | SUPPORTED_DOCUMENT_MIMES
    | SUPPORTED_TEXT_MIMES
)

# Types we recognise (sniff or accept as a spelling) but do not serve.
_UNSUPPORTED_KNOWN: dict[str, Kind] = {
    "image/gif": "image",
    "image/bmp": "image",
    "image/tiff": "image",
    "image/avif": "image",
    "video/x-matroska": "video",
    "video/mp2t": "video",
    "audio/mp4": "audio",
}

ALIASES: dict[str, str] = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heif",
    "image/x-ms-bmp": "image/bmp",
    "video/quicktime": "video/mov",
    "video/x-quicktime": "video/mov",
    "video/x-msvideo": "video/avi",
    "video/msvideo": "video/avi",
    "video/vnd.avi": "video/avi",
    "video/x-ms-wmv": "video/wmv",
    "video/x-ms-asf": "video/wmv",
    "video/3gp": "video/3gpp",
    "audio/3gpp": "video/3gpp",
    "video/mpg": "video/mpeg",
    "video/x-mpeg": "video/mpeg",
    "video/flv": "video/x-flv",
    "video/x-m4v": "video/mp4",
    "video/matroska": "video/x-matroska",
    "audio/mpeg": "audio/mp3",
    "audio/mpeg3": "audio/mp3",
    "audio/x-mp3": "audio/mp3",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-aiff": "audio/aiff",
    "audio/x-aac": "audio/aac",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "application/x-javascript": "text/javascript",
    "application/javascript": "text/javascript",
    "application/x-typescript": "text/x-typescript",
    "application/x-python-code": "text/x-python",
    "text/x-markdown": "text/markdown",
    "application/rtf": "text/rtf",
}

_KINDS: dict[str, Kind] = {
    **dict.fromkeys(SUPPORTED_IMAGE_MIMES, "image"),
    **dict.fromkeys(SUPPORTED_VIDEO_MIMES, "video"),
    **dict.fromkeys(SUPPORTED_AUDIO_MIMES, "audio"),
    **dict.fromkeys(SUPPORTED_DOCUMENT_MIMES, "document"),
    **dict.fromkeys(SUPPORTED_TEXT_MIMES, "text"),
    **_UNSUPPORTED_KNOWN,
}
_PREFIX_KINDS: dict[str, Kind] = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "text": "text",
}

# Containers that one demuxer reads whatever they are called: a declared type is honoured when
# the bytes are any member of its family.
_FAMILIES: dict[str, str] = {
    "video/mp4": "isobmff",
    "video/mov": "isobmff",
    "video/3gpp": "isobmff",
    "audio/mp4": "isobmff",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "video/mpeg": "mpeg",
    "video/mp2t": "mpeg",
    "image/heic": "heif",
    "image/heif": "heif",
}
# Undeclared containers served under the supported name of their family.
_SERVED_AS: dict[str, str] = {"video/mp2t": "video/mpeg", "video/x-matroska": "video/webm"}


def normalize(mime: str) -> str:
    """Lower-case, parameters dropped (`; charset=…`), aliases mapped to one spelling."""
    base = mime.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def kind(mime: str) -> Kind | None:
    """The kind of media a MIME type names; unknown subtypes fall back on the top-level type."""
    name = normalize(mime)
    found = _KINDS.get(name)
    if found is not None:
        return found
    return _PREFIX_KINDS.get(name.split("/", 1)[0])


def _family(mime: str) -> str:
    return _FAMILIES.get(mime, mime)


# --- sniffing -------------------------------------------------------------------------------

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2", b"miaf"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}
# C0 controls that never appear in text (tab, newlines, form feed, escape are allowed).
_BINARY_CONTROLS = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27)) + b"\x7f"


def _sniff_ftyp(head: bytes) -> str:
    size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(max(size, 16), len(head), 256)
    brands = {major, *(head[i : i + 4] for i in range(16, end - 3, 4))}
    if major in _HEIC_BRANDS:
        return "image/heic"
    if major in _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIF_BRANDS:
        if brands & _HEIC_BRANDS:
            return "image/heic"
        return "image/avif" if brands & _AVIF_BRANDS else "image/heif"
    if major == b"qt  ":
        return "video/mov"
    if major[:3] in (b"3gp", b"3g2"):
        return "video/3gpp"
    if major in (b"M4A ", b"M4B ", b"M4P "):
        return "audio/mp4"
    return "video/mp4"


def _is_bmp(head: bytes) -> bool:
    return (
        len(head) >= 18
        and head[6:10] == b"\0\0\0\0"
        and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES
    )


def _is_mpeg_ts(head: bytes) -> bool:
    """188-byte packets (or 192-byte M2TS ones) each starting with the 0x47 sync byte."""
    for offset, stride in ((0, 188), (4, 192)):
        starts = range(offset, len(head), stride)
        if len(starts) >= 2 and all(head[i] == 0x47 for i in starts):
            return True
    return False


def _is_adts(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def _is_mp3_frame(head: bytes) -> bool:
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    layer = (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return layer != 0 and bitrate != 0xF and rate != 3


def _is_text(head: bytes) -> bool:
    body = head.removeprefix(codecs.BOM_UTF8)
    if not body or len(body.translate(None, _BINARY_CONTROLS)) != len(body):
        return False
    try:  # not final: the head may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return False
    return True


def sniff(head: bytes) -> str | None:
    """The canonical MIME type the first bytes announce, or None when nothing matches.

    Looks at `head[:SNIFF_BYTES]` only. Binary signatures are tried first; plain UTF-8 text
    (no NUL or other binary control bytes) is the last resort.
    """
    h = head[:SNIFF_BYTES]
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if h.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if h.startswith(b"BM") and _is_bmp(h):
        return "image/bmp"
    if h.startswith(b"RIFF") and len(h) >= 12:
        riff = {b"WEBP": "image/webp", b"AVI ": "video/avi", b"WAVE": "audio/wav"}
        return riff.get(h[8:12])
    if h[4:8] == b"ftyp":
        return _sniff_ftyp(h)
    if h[4:8] in _QT_ATOMS:
        return "video/mov"
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in h[:64] else "video/x-matroska"
    if h.startswith(b"FLV\x01"):
        return "video/x-flv"
    if h.startswith(_ASF_GUID):
        return "video/wmv"
    if h[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # program stream / sequence header
        return "video/mpeg"
    if _is_mpeg_ts(h):
        return "video/mp2t"
    if h.startswith(b"OggS"):
        return "audio/ogg"
    if h.startswith(b"fLaC"):
        return "audio/flac"
    if h.startswith(b"FORM") and h[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if h.startswith(b"ID3") or _is_mp3_frame(h):
        return "audio/mp3"
    if _is_adts(h):
        return "audio/aac"
    if h.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    if _is_text(h):
        return "text/plain"
    return None


# --- resolution -----------------------------------------------------------------------------


def _unsupported(mime: str, field: str) -> InvalidArgument:
    return InvalidArgument(f"Unsupported MIME type: {mime}", field=field or None)


def _mismatch(declared: str, want: Kind, sniffed: str | None, field: str) -> InvalidArgument:
    what = f"{sniffed} data" if sniffed else f"nothing recognisable as {want}"
    where = f" for {field}" if field else ""
    return InvalidArgument(
        f"The MIME type {declared} declared{where} does not match the content, "
        f"which looks like {what}.",
        field=field or None,
    )


def resolve_mime(declared: str | None, head: bytes, field: str) -> str:
    """The canonical MIME type to act on, from the declared type and the first bytes.

    - No declared type (or `application/octet-stream`): the sniffed type, if supported
      (MPEG-TS counts as `video/mpeg`, Matroska as `video/webm`).
    - A recognised image type declared and a supported image sniffed: the sniffed type (the
      SDKs pass through copy-paste mistakes such as `image/jpeg` for PNG bytes).
    - Bytes of the declared container's family (MOV bytes as `video/mp4`, Matroska as
      `video/webm`): the declared type, canonical. Another supported container of the same kind:
      the sniffed one.
    - Video, audio and text whose bytes sniff as nothing: the declared type; their decoders
      have the last word. Images and PDFs must sniff.
    - Anything else is `InvalidArgument`, naming `field`, the declared and the detected type.
    """
    sniffed = sniff(head)
    decl = normalize(declared) if declared and declared.strip() else None
    if decl is None or decl == "application/octet-stream":
        if sniffed is None:
            where = f" of {field}" if field else ""
            raise InvalidArgument(
                f"Could not determine the MIME type{where}; set mimeType.", field=field or None
            )
        sniffed = _SERVED_AS.get(sniffed, sniffed)
        if sniffed not in SUPPORTED_MIMES:
            raise _unsupported(sniffed, field)
        return sniffed
    want = _KINDS.get(decl)
    if want is None:
        raise _unsupported(declared or decl, field)
    if want == "image" and sniffed in SUPPORTED_IMAGE_MIMES:
        return sniffed
    if decl not in SUPPORTED_MIMES:
        raise _unsupported(declared or decl, field)
    if sniffed is not None and _family(sniffed) == _family(decl):
        return decl
    if sniffed is None:
        if want in ("video", "audio", "text"):
            return decl
        raise _mismatch(declared or decl, want, None, field)
    if _KINDS.get(sniffed) == want:
        if want == "text":
            return decl
        if want in ("video", "audio"):
            return sniffed if sniffed in SUPPORTED_MIMES else decl
    raise _mismatch(declared or decl, want, sniffed, field)
