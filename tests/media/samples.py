"""Media files made in the test, each carrying distinctive needles where a
careless store would keep them (EXIF GPS and camera, Ogg comments, MP4 user data).

No file is downloaded: the photo is drawn with Pillow, the voice note is a real
Ogg Opus stream (RFC 7845 headers, 3-byte Opus silence frames as WebRTC sends
them) paged by mutagen, the M4A is the smallest ISO BMFF box tree that holds a
`udta` location box.
"""

from __future__ import annotations

import io
import struct

from mutagen.ogg import OggPage
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

CAMERA_NEEDLE = "NeedleCam-7f3a91"
GPS_LATITUDE = (51.0, 33.0, 20.5)  # Tilburg
OGG_NEEDLE = "NEEDLE-VOICE-TITLE-55e1"
MP4_NEEDLE = b"+51.5555+005.0913/NEEDLE-MP4"
PDF_NEEDLE = "NeedleAuthorJansen4c2d"  # no characters a PDF string escapes
PDF_TEXT = "Spreekuur dinsdag 14 uur"
# In the pixel-free part of the photo's original bytes (its EXIF block): a scan
# for it finds the original anywhere it was kept.
DISTINCTIVE = CAMERA_NEEDLE.encode()


def jpeg_with_gps(size: tuple[int, int] = (64, 48), orientation: int = 6) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0] // 2):
        image.putpixel((x, 0), (0, 0, 255))  # marks the top-left, to check rotation
    exif = Image.Exif()
    exif[0x010F] = CAMERA_NEEDLE  # Make
    exif[0x0110] = "Model-X"  # Model
    exif[0x0112] = orientation  # Orientation: 6 = rotate 90 degrees clockwise to view
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = GPS_LATITUDE
    gps[3] = "E"
    gps[4] = (5.0, 5.0, 30.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def big_jpeg(megabytes: float = 1.0) -> bytes:
    """A photo of about `megabytes` (noise compresses badly), with GPS EXIF."""
    import os

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5 * 1.6)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    exif = Image.Exif()
    exif[0x010F] = CAMERA_NEEDLE
    exif.get_ifd(0x8825)[2] = GPS_LATITUDE
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def ogg_opus_voice_note(seconds: int = 1) -> bytes:
    serial = 0x5EED
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    vendor = b"helpline-test"
    comment = f"TITLE={OGG_NEEDLE}".encode()
    tags = (
        b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 1)
        + struct.pack("<I", len(comment)) + comment
    )
    pages = []
    for sequence, (packet, position) in enumerate(((head, 0), (tags, 0))):
        page = OggPage()
        page.serial, page.sequence, page.position = serial, sequence, position
        page.first = sequence == 0
        page.packets = [packet]
        pages.append(page)
    audio = OggPage()
    audio.serial, audio.sequence = serial, 2
    frames = 50 * seconds
    audio.position = 312 + 960 * frames
    audio.last = True
    audio.packets = [b"\xf8\xff\xfe"] * frames
    pages.append(audio)
    return b"".join(page.write() for page in pages)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def m4a_with_location() -> bytes:
    ftyp = _box(b"ftyp", b"M4A \x00\x00\x00\x00M4A isom")
    mvhd = _box(b"mvhd", bytes(100))
    udta = _box(b"udta", _box(b"\xa9xyz", MP4_NEEDLE))
    moov = _box(b"moov", mvhd + udta)
    mdat = _box(b"mdat", b"\x00" * 32)
    return ftyp + moov + mdat


def pdf_document() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def pdf_with_metadata(needle: str = PDF_NEEDLE, text: str = PDF_TEXT) -> bytes:
    """One page of text, with `needle` in the Info dictionary (Author,
    Creator, Producer, Title), an XMP stream, the catalog's and the page's
    PieceInfo, document JavaScript and an embedded file."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)}),
    })
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(content)
    private = DictionaryObject({NameObject("/Editor"): DictionaryObject({
        NameObject("/Private"): TextStringObject(needle),
        NameObject("/LastModified"): TextStringObject("D:20260101000000"),
    })})
    page[NameObject("/PieceInfo")] = private
    writer.add_metadata({"/Author": needle, "/Creator": f"{needle} Creator",
                         "/Producer": f"{needle} Producer", "/Title": f"{needle} Title"})
    xmp = DecodedStreamObject()
    xmp.set_data(
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + needle.encode()
        + b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
    )
    xmp[NameObject("/Type")] = NameObject("/Metadata")
    xmp[NameObject("/Subtype")] = NameObject("/XML")
    root = writer.root_object
    root[NameObject("/Metadata")] = writer._add_object(xmp)
    root[NameObject("/PieceInfo")] = private
    root[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"),
        NameObject("/JS"): TextStringObject(f"app.alert('{needle}');"),
    })
    writer.add_attachment("notes.txt", f"{needle} attachment".encode())
    root[NameObject("/Extra")] = ArrayObject([NumberObject(1)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(needle: str = PDF_NEEDLE) -> bytes:
    """The same PDF, protected as a bank's statement is (an owner password,
    readable without one): its Info strings are encrypted with it."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf_with_metadata(needle)))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
