"""What the bytes are, read from the bytes, and how many of them each kind may have.

The declared MIME type (webhook, Graph API answer, browser upload) is chosen by
whoever sent it: a "voice note" that is really HTML would otherwise be served
to a volunteer's browser under our origin. Only the types below are kept; each
is recognised by its magic number, and served only under the type found here.
"""

from __future__ import annotations

from typing import Final

MB: Final = 1024 * 1024

# Caps per kind, counted while the bytes stream in. WhatsApp's own limits are
# 5 MB (image), 16 MB (audio, video), 100 MB (document), 500 KB (sticker); a
# little room above them, nothing near what would exhaust memory or disk.
CAPS: Final[dict[str, int]] = {
    "image": 16 * MB,
    "sticker": 1 * MB,
    "audio": 16 * MB,
    "video": 32 * MB,
    "document": 32 * MB,
}
MAX_CAP: Final = max(CAPS.values())

# Which sniffed types each kind may be; anything else is refused.
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "image": frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
    "sticker": frozenset({"image/webp", "image/png"}),
    "audio": frozenset({"audio/ogg", "audio/mp4", "audio/aac", "audio/mpeg", "audio/webm"}),
    "video": frozenset({"video/mp4", "video/webm"}),
    "document": frozenset({"application/pdf"}),
}

_ISO_BMFF_AUDIO_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P "})


def sniff(head: bytes, kind: str) -> str | None:
    """The content type of bytes starting with `head` (the first 64 bytes
    suffice), or None when they are nothing we keep. `kind` only decides
    between audio and video readings of the same container."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _ISO_BMFF_AUDIO_BRANDS or kind == "audio":
            return "audio/mp4"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska / WebM
        return "audio/webm" if kind == "audio" else "video/webm"
    if head.startswith(b"ID3"):
        # An ID3 tag in front of an MP3 or ADTS stream; cleaning removes it.
        return "audio/mpeg" if kind == "audio" else None
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS sync word, layer 0 (Signal's voice notes)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    return None


def allowed(kind: str, content_type: str | None) -> bool:
    return content_type is not None and content_type in ALLOWED.get(kind, frozenset())


def cap(kind: str) -> int:
    return CAPS.get(kind, CAPS["document"])
