"""A reader of WebM/Matroska element trees for tests: written from the EBML
specification (RFC 8794: variable-length ids and sizes, unknown size = all
ones) rather than from helpline/media/cleaning.py, so it checks the cleaner
instead of repeating it."""

from __future__ import annotations

from typing import Final

SEGMENT: Final = 0x18538067
CLUSTER: Final = 0x1F43B675
MASTERS: Final = frozenset({SEGMENT, 0x1549A966, 0x1654AE6B, 0xAE, 0x1254C367, 0x7373})
NAMES: Final = {0x4D80: "MuxingApp", 0x5741: "WritingApp", 0x7BA9: "Title",
                0x536E: "Name", 0x4461: "DateUTC", 0x86: "CodecID", 0x45A3: "TagName",
                0x4487: "TagString"}


def _vint(data: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int]:
    first = data[offset]
    length = next(n for n in range(1, 9) if first & (0x80 >> (n - 1)))
    raw = int.from_bytes(data[offset:offset + length], "big")
    if keep_marker:
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    return (-1 if value == (1 << (7 * length)) - 1 else value), length


def elements(data: bytes) -> dict[str, list[bytes]]:
    """Values of the named elements anywhere before the first cluster."""
    found: dict[str, list[bytes]] = {}

    def walk(start: int, end: int) -> None:
        offset = start
        while offset < end:
            element, id_len = _vint(data, offset, keep_marker=True)
            size, size_len = _vint(data, offset + id_len, keep_marker=False)
            body = offset + id_len + size_len
            stop = end if size == -1 else body + size
            if element == CLUSTER:
                return
            if element in MASTERS:
                walk(body, stop)
            elif element in NAMES:
                found.setdefault(NAMES[element], []).append(data[body:stop])
            offset = stop

    walk(0, len(data))
    return found


def text(value: bytes) -> str:
    """An EBML string: UTF-8, zero-padded at the end (RFC 8794, 7.4)."""
    return value.rstrip(b"\x00").decode("utf-8")
