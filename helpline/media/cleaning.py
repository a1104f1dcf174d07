"""Remove what a file says about its maker before it is sealed.

Threat: a photo's EXIF holds GPS coordinates, the phone's make and serial, the
time; XMP and ICC profiles carry editing software and device data; audio and
video tags carry titles, encoders and sometimes locations (`©xyz` in MP4). A
volunteer needs to see or hear the content, none of that.

- Images are decoded and re-encoded with Pillow, orientation applied first
  (`ImageOps.exif_transpose`), so only pixels survive: no EXIF, XMP, ICC or GPS.
  Animations keep their first frame (a GIF becomes a PNG).
- Ogg (Opus/Vorbis) comments are removed with mutagen.
- ISO BMFF (MP4, M4A, MOV): every `udta`, `meta` and `uuid` box (user data,
  iTunes-style tags, XMP) is turned into a `free` box of the same size with
  zeroed content. Sizes and offsets stay as they are, so the sample tables
  (`stco`) still point at the right bytes and the file plays unchanged.
- WebM/Matroska: the `Tags` element becomes a `Void` element of the same size;
  the recording program (MuxingApp, WritingApp), Title, DateUTC and track
  names are zeroed in place (empty strings of the same size).
- ADTS/MP3: ID3v2 in front and ID3v1 at the end are cut off.
- PDF documents are rewritten with pypdf without their Info dictionary, XMP,
  PieceInfo, scripts and embedded files (helpline/media/pdf_cleaning.py). One
  that is encrypted or does not parse is kept as it came with
  `metadata_removed=False`: the volunteer is warned, and it is never sent on.
  Either way a PDF is only offered as a download (`Content-Disposition:
  attachment`), never rendered in the console.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Final

import mutagen
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from PIL import Image, ImageOps, UnidentifiedImageError

from helpline.errors import HelplineError
from helpline.media.pdf_cleaning import clean_pdf

# Above this a decoded image would need hundreds of MB of memory.
MAX_PIXELS: Final = 40_000_000

_SAVE_AS: Final[dict[str, tuple[str, str]]] = {
    "JPEG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "GIF": ("PNG", "image/png"),
}


class Uncleanable(HelplineError):
    """The bytes claim a type they are not, or cannot be read safely."""

    status_code = 422
    public_message = "this file cannot be read"


@dataclass(frozen=True)
class Cleaned:
    content_type: str
    data: bytes | bytearray
    # False only for a PDF that could not be rewritten (encrypted, damaged).
    metadata_removed: bool = True


def clean(content_type: str, data: bytes | bytearray) -> Cleaned:
    """A bytearray is cleaned in place where the format allows (MP4, WebM):
    a 16 MB download is then held once, not copied for every step. Any
    failure of a parser on hostile bytes is `Uncleanable`, never a crash."""
    try:
        return _clean(content_type, data)
    except Uncleanable:
        raise
    except Exception as exc:  # noqa: BLE001 - parsers of untrusted bytes fail in many ways
        raise Uncleanable("file does not parse") from exc


def _clean(content_type: str, data: bytes | bytearray) -> Cleaned:
    if content_type.startswith("image/"):
        return _image(data)
    if content_type == "audio/ogg":
        return Cleaned(content_type, _ogg(bytes(data)))
    if content_type in ("audio/mp4", "video/mp4"):
        return Cleaned(content_type, neutralise_mp4(data))
    if content_type in ("audio/webm", "video/webm"):
        return Cleaned(content_type, neutralise_webm_tags(data))
    if content_type in ("audio/aac", "audio/mpeg"):
        return Cleaned(content_type, _strip_id3(bytes(data)))
    if content_type == "application/pdf":
        result = clean_pdf(data)
        return Cleaned(content_type, result.data, metadata_removed=result.cleaned)
    raise Uncleanable("no cleaner for this type")


def _image(data: bytes | bytearray) -> Cleaned:
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        width, height = image.size
        source_format = getattr(image, "format", None) or ""
        if width * height > MAX_PIXELS:
            raise Uncleanable("image too large to decode")
        if source_format not in _SAVE_AS:
            raise Uncleanable("image format not kept")
        pil_format, content_type = _SAVE_AS[source_format]
        image.seek(0)
        image.load()
        # Rotate by the EXIF orientation, then drop every piece of metadata the
        # decoder kept (EXIF, XMP, ICC, text chunks, comments): the encoder
        # below is given none, and has none left to fall back on. In place, so
        # a 12 MP photo is held once (a copy per step would be 36 MB each).
        ImageOps.exif_transpose(image, in_place=True)
        image.info = {}
        mode = "RGB" if pil_format == "JPEG" else "RGBA"
        if image.mode != mode:
            image = image.convert(mode)
            image.info = {}
        out = io.BytesIO()
        options: dict[str, object] = {}
        if pil_format == "JPEG":
            # No `optimize`: its second pass keeps every DCT coefficient of the
            # photo in memory (about twice the decoded size again).
            options = {"quality": 88}
        elif pil_format == "WEBP":
            options = {"quality": 90}
        image.save(out, format=pil_format, exif=b"", **options)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Uncleanable("image does not decode") from exc
    return Cleaned(content_type, out.getvalue())


def _ogg(data: bytes) -> bytes:
    buffer = io.BytesIO(data)
    for reader in (OggOpus, OggVorbis):
        buffer.seek(0)
        try:
            audio = reader(buffer)
        except mutagen.MutagenError:
            continue
        buffer.seek(0)
        audio.delete(buffer)
        return buffer.getvalue()
    raise Uncleanable("ogg stream is neither opus nor vorbis")


_MP4_CONTAINERS: Final = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"})
_MP4_METADATA: Final = frozenset({b"udta", b"meta", b"uuid"})


def neutralise_mp4(data: bytes | bytearray) -> bytearray:
    out = data if isinstance(data, bytearray) else bytearray(data)
    _walk_mp4(out, 0, len(out), depth=0)
    return out


def _walk_mp4(buf: bytearray, start: int, end: int, depth: int) -> None:
    if depth > 8:
        raise Uncleanable("mp4 nested too deep")
    offset = start
    while offset + 8 <= end:
        size, box_type = struct.unpack(">I4s", buf[offset : offset + 8])
        header = 8
        if size == 1:
            if offset + 16 > end:
                raise Uncleanable("mp4 box truncated")
            size = struct.unpack(">Q", buf[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise Uncleanable("mp4 box size out of range")
        if box_type in _MP4_METADATA:
            buf[offset + 4 : offset + 8] = b"free"
            buf[offset + header : offset + size] = bytes(size - header)
        elif box_type in _MP4_CONTAINERS:
            _walk_mp4(buf, offset + header, offset + size, depth + 1)
        offset += size


_EBML_TAGS: Final = 0x1254C367
_EBML_SEGMENT: Final = 0x18538067
_EBML_VOID: Final = 0xEC
_EBML_INFO: Final = 0x1549A966
_EBML_TRACKS: Final = 0x1654AE6B
_EBML_TRACK_ENTRY: Final = 0xAE
# Segment Info children that name the recording program or the file, and when
# it was made: MuxingApp, WritingApp ("Chrome", "Lavf60.3.100"...), Title,
# DateUTC; a track's Name. Their content is zeroed in place: an EBML string
# may be zero-padded (RFC 8794, 7.4), so each becomes an empty string of the
# same size, and MuxingApp/WritingApp, which Matroska requires, stay present.
_EBML_BLANKED: Final = frozenset({0x4D80, 0x5741, 0x7BA9, 0x4461, 0x536E})
_UNKNOWN_SIZE: Final = -1


def _ebml_id(buf: bytes | bytearray, offset: int) -> tuple[int, int]:
    first = buf[offset]
    length = 1
    while length <= 4 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 4 or offset + length > len(buf):
        raise Uncleanable("ebml id malformed")
    return int.from_bytes(buf[offset : offset + length], "big"), length


def _ebml_size(buf: bytes | bytearray, offset: int) -> tuple[int, int]:
    first = buf[offset]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or offset + length > len(buf):
        raise Uncleanable("ebml size malformed")
    value = first & (0xFF >> length)
    for byte in buf[offset + 1 : offset + length]:
        value = (value << 8) | byte
    if value == (1 << (7 * length)) - 1:
        return _UNKNOWN_SIZE, length  # live recordings (MediaRecorder) stream this way
    return value, length


def neutralise_webm_tags(data: bytes | bytearray) -> bytearray:
    buf = data if isinstance(data, bytearray) else bytearray(data)
    offset = 0
    while offset < len(buf):
        element, id_len = _ebml_id(buf, offset)
        size, size_len = _ebml_size(buf, offset + id_len)
        body = offset + id_len + size_len
        end = len(buf) if size == _UNKNOWN_SIZE else body + size
        if end > len(buf):
            raise Uncleanable("ebml element truncated")
        if element == _EBML_SEGMENT:
            _void_tags(buf, body, end)
        offset = end
    return buf


def _void_tags(buf: bytearray, start: int, end: int) -> None:
    offset = start
    while offset < end:
        element, id_len = _ebml_id(buf, offset)
        size, size_len = _ebml_size(buf, offset + id_len)
        if size == _UNKNOWN_SIZE:
            return  # a cluster of unknown size runs to the end; tags come before it
        total = id_len + size_len + size
        if offset + total > end:
            if element in (_EBML_INFO, _EBML_TRACKS, _EBML_TAGS):
                raise Uncleanable("ebml metadata truncated")
            return  # a recording cut off in its last cluster: nothing after it to clean
        if element in (_EBML_INFO, _EBML_TRACKS):
            _blank_names(buf, offset + id_len + size_len, offset + total, depth=0)
        if element == _EBML_TAGS:
            # Void of the same total length: 1 id byte + an 8-byte size.
            if total < 9:
                raise Uncleanable("ebml tags too small to void")
            payload = total - 9
            buf[offset] = _EBML_VOID
            buf[offset + 1 : offset + 9] = bytes([0x01]) + payload.to_bytes(7, "big")
            buf[offset + 9 : offset + total] = bytes(payload)
        offset += total


def _blank_names(buf: bytearray, start: int, end: int, depth: int) -> None:
    if depth > 2:
        return
    offset = start
    while offset < end:
        element, id_len = _ebml_id(buf, offset)
        size, size_len = _ebml_size(buf, offset + id_len)
        body = offset + id_len + size_len
        if size == _UNKNOWN_SIZE or body + size > end:
            raise Uncleanable("ebml child out of range")
        if element in _EBML_BLANKED:
            buf[body : body + size] = bytes(size)
        elif element == _EBML_TRACK_ENTRY:
            _blank_names(buf, body, body + size, depth + 1)
        offset = body + size


def _strip_id3(data: bytes) -> bytes:
    if data.startswith(b"ID3") and len(data) >= 10:
        # Syncsafe size: 4 bytes of 7 bits, plus the 10-byte header (+10 footer).
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if data[5] & 0x10 else 0
        data = data[10 + size + footer :]
    if len(data) >= 128 and data[-128:-125] == b"TAG":
        data = data[:-128]
    return data
