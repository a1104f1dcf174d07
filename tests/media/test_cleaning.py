"""Cleaning, format by format: what a file says about its maker is gone,
checked by parsing the result and by scanning its bytes for the needles."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from helpline.media import cleaning, sniff
from tests.media import ebml, samples

NEEDLE = b"NEEDLE-META-9c1f"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + NEEDLE + b"</x:xmpmeta>"
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _tagged_image(fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = NEEDLE.decode()
    exif.get_ifd(0x8825)[2] = (51.0, 33.0, 20.5)
    out = io.BytesIO()
    options: dict[str, object] = {"exif": exif.tobytes(), "icc_profile": ICC}
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", NEEDLE.decode())
        text.add_itxt("XML:com.adobe.xmp", XMP.decode())
        options["pnginfo"] = text
    else:
        options["xmp"] = XMP
    Image.new("RGB", (40, 30), (10, 200, 30)).save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "content_type"),
                         [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_images_lose_exif_gps_xmp_icc_and_text(fmt: str, content_type: str) -> None:
    original = _tagged_image(fmt)
    assert NEEDLE in original
    assert sniff.sniff(original[:64], "image") == content_type
    cleaned = cleaning.clean(content_type, original)
    assert cleaned.content_type == content_type
    assert NEEDLE not in cleaned.data
    assert ICC[:64] not in cleaned.data
    image = Image.open(io.BytesIO(cleaned.data))
    assert dict(image.getexif()) == {}
    assert "icc_profile" not in image.info
    assert "xmp" not in image.info
    assert image.size == (40, 30)


def test_a_gif_becomes_a_png_of_its_first_frame() -> None:
    out = io.BytesIO()
    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:],
                   comment=NEEDLE)
    cleaned = cleaning.clean("image/gif", out.getvalue())
    assert cleaned.content_type == "image/png"
    assert NEEDLE not in cleaned.data


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, format="PNG")  # 48 MP, a few KB
    with pytest.raises(cleaning.Uncleanable):
        cleaning.clean("image/png", out.getvalue())


@pytest.mark.parametrize("data", [b"\xff\xd8\xff\xe0garbage", b"\x89PNG\r\n\x1a\nbroken"])
def test_a_broken_image_is_uncleanable_not_a_crash(data: bytes) -> None:
    with pytest.raises(cleaning.Uncleanable):
        cleaning.clean("image/jpeg", data)


def test_mp4_metadata_boxes_become_free_boxes_of_the_same_size() -> None:
    original = samples.m4a_with_location()
    cleaned = cleaning.clean("audio/mp4", original).data
    assert len(cleaned) == len(original)
    assert samples.MP4_NEEDLE not in cleaned
    assert b"udta" not in cleaned
    assert cleaned[-40:] == original[-40:]  # the media data is untouched


def test_a_truncated_mp4_is_uncleanable() -> None:
    with pytest.raises(cleaning.Uncleanable):
        cleaning.clean("video/mp4", struct.pack(">I4s", 4000, b"moov") + bytes(20))


def _ebml(element: bytes, payload: bytes) -> bytes:
    assert len(payload) < 127  # a one-byte size is enough for these
    return element + bytes([0x80 | len(payload)]) + payload


def test_webm_tags_become_void_and_a_live_recording_still_parses() -> None:
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x82", b"webm"))
    tags = _ebml(b"\x12\x54\xc3\x67", _ebml(b"\x73\x73", b"TITLE=" + NEEDLE))
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x4d\x80", b"Chrome"))
    cluster = b"\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff" + b"\xa3\x84\x81\x00\x00\x80"
    # MediaRecorder streams the Segment with an unknown size.
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + info + tags + cluster
    original = header + segment
    assert sniff.sniff(original[:64], "audio") == "audio/webm"
    cleaned = cleaning.clean("audio/webm", original).data
    assert len(cleaned) == len(original)
    assert NEEDLE not in cleaned
    assert cleaned.endswith(cluster)


def test_webm_recording_program_title_and_track_names_are_blanked() -> None:
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x82", b"webm"))
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x2a\xd7\xb1", b"\x0f\x42\x40")
                 + _ebml(b"\x4d\x80", b"Chrome") + _ebml(b"\x57\x41", b"Chrome " + NEEDLE)
                 + _ebml(b"\x7b\xa9", b"Title " + NEEDLE))
    entry = _ebml(b"\xae", _ebml(b"\xd7", b"\x01") + _ebml(b"\x86", b"A_OPUS")
                  + _ebml(b"\x53\x6e", b"Name " + NEEDLE))
    tracks = _ebml(b"\x16\x54\xae\x6b", entry)
    cluster = b"\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff" + b"\xa3\x84\x81\x00\x00\x80"
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + info + tracks + cluster
    original = header + segment
    before = ebml.elements(original)
    assert ebml.text(before["MuxingApp"][0]) == "Chrome"
    assert ebml.text(before["Name"][0]).startswith("Name ")
    cleaned = bytes(cleaning.clean("audio/webm", original).data)
    assert len(cleaned) == len(original)
    assert NEEDLE not in cleaned
    after = ebml.elements(cleaned)
    for name in ("MuxingApp", "WritingApp", "Title", "Name"):
        assert [ebml.text(v) for v in after[name]] == [""], name
    assert after["CodecID"] == [b"A_OPUS"]  # what the player needs is kept
    assert cleaned.endswith(cluster)


def test_id3_tags_are_cut_from_adts_and_mp3() -> None:
    frame = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(9)
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x20" + NEEDLE + bytes(0x20 - len(NEEDLE))
    v1 = b"TAG" + NEEDLE + bytes(125 - len(NEEDLE))
    cleaned = cleaning.clean("audio/aac", id3 + frame + v1)
    assert cleaned.data == frame


def test_ogg_opus_comments_are_removed() -> None:
    cleaned = cleaning.clean("audio/ogg", samples.ogg_opus_voice_note()).data
    assert samples.OGG_NEEDLE.encode() not in cleaned
    assert cleaned.startswith(b"OggS")


def test_an_ogg_that_is_neither_opus_nor_vorbis_is_uncleanable() -> None:
    with pytest.raises(cleaning.Uncleanable):
        cleaning.clean("audio/ogg", b"OggS" + bytes(60))


@pytest.mark.parametrize(
    ("head", "kind", "expected"),
    [
        (b"<html>", "image", None),
        (b"%PDF-1.7", "document", "application/pdf"),
        (b"\x00\x00\x00\x18ftypisom", "video", "video/mp4"),
        (b"\x00\x00\x00\x18ftypisom", "audio", "audio/mp4"),
        (b"MZ\x90\x00", "document", None),
    ],
)
def test_the_type_is_read_from_the_bytes(head: bytes, kind: str, expected: str | None) -> None:
    assert sniff.sniff(head, kind) == expected


def test_only_the_kinds_types_are_allowed() -> None:
    assert sniff.allowed("document", "application/pdf")
    assert not sniff.allowed("image", "application/pdf")
    assert not sniff.allowed("audio", None)
