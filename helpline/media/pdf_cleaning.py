"""Rewrite a PDF without what it says about its maker.

Threat: a PDF's Info dictionary names its Author (often the texter's or a
client's real name), Creator and Producer (the phone or office software) and
dates; an XMP metadata stream repeats all that and more (editing history,
document ids); `PieceInfo` holds an editing application's private data;
document-level JavaScript and embedded files can carry anything. None of it
is the content a volunteer needs to read.

The pages are copied with pypdf into a new document (new Info, new file ids),
then every dictionary reachable from the new document is scrubbed of
`/Metadata`, `/PieceInfo` and the script, action and embedded-file entries;
file-attachment annotations are dropped. The page content (text, images) is
copied as it is.

A PDF pypdf cannot read, or one that is encrypted (we have no password and
must not guess), cannot be rewritten: it is kept as it came, and the caller
marks it "not cleaned" so the volunteer is warned, and never sends it on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

# Keys that carry metadata, scripts or files rather than page content.
_DROP_KEYS: Final = frozenset({
    "/Metadata", "/PieceInfo", "/JavaScript", "/JS", "/AA", "/OpenAction",
    "/EmbeddedFiles", "/EF", "/LastModified",
})
# Annotation subtypes that embed a file or a sound.
_DROP_ANNOTATIONS: Final = frozenset({"/FileAttachment", "/Sound", "/Movie", "/Screen"})
# Actions that run a script or another program when a link is followed.
_DROP_ACTIONS: Final = frozenset({"/JavaScript", "/Launch", "/ImportData", "/Rendition"})
_MAX_OBJECTS: Final = 500_000


@dataclass(frozen=True)
class PdfResult:
    data: bytes | bytearray
    cleaned: bool


class _TooComplex(Exception):
    """More objects than any leaflet or letter has: not walked further."""


def clean_pdf(data: bytes | bytearray) -> PdfResult:
    """The rewritten PDF (cleaned=True), or the original bytes (cleaned=False)
    when it is encrypted or does not parse."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return PdfResult(data, cleaned=False)
        writer = PdfWriter()
        for page in reader.pages:
            writer.add_page(page)
        _scrub(writer.root_object)
        # No Info dictionary at all (pypdf would otherwise write its own Producer).
        writer.metadata = None
        out = io.BytesIO()
        writer.write(out)
    except (PyPdfError, _TooComplex, ValueError, KeyError, TypeError, AttributeError,
            IndexError, OSError, RecursionError, AssertionError, ZeroDivisionError):
        # Every way a parser of hostile bytes fails: kept, but not called clean.
        return PdfResult(data, cleaned=False)
    return PdfResult(out.getvalue(), cleaned=True)


def _scrub(root: PdfObject) -> None:
    """Remove the dropped keys from every dictionary reachable from `root`
    (iteratively: a hostile file may nest deeper than Python recurses)."""
    seen: set[tuple[int, int, int]] = set()
    stack: list[PdfObject] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            ident = id(node.pdf), node.idnum, node.generation
            if ident in seen:
                continue
            seen.add(ident)
            if len(seen) > _MAX_OBJECTS:
                raise _TooComplex()
            target = node.get_object()
            if target is not None:
                stack.append(target)
        elif isinstance(node, DictionaryObject):
            _scrub_dictionary(node)
            stack.extend(node.values())
        elif isinstance(node, ArrayObject):
            stack.extend(node)


def _scrub_dictionary(node: DictionaryObject) -> None:
    for name in _DROP_KEYS & set(node.keys()):
        del node[NameObject(name)]
    action = node.get("/A")
    if action is not None:
        resolved = action.get_object()
        if isinstance(resolved, DictionaryObject) and resolved.get("/S") in _DROP_ACTIONS:
            del node[NameObject("/A")]
    annotations = node.get("/Annots")
    if annotations is not None:
        resolved_list = annotations.get_object()
        if isinstance(resolved_list, ArrayObject):
            kept = ArrayObject(
                a for a in resolved_list if _annotation_subtype(a) not in _DROP_ANNOTATIONS
            )
            node[NameObject("/Annots")] = kept


def _annotation_subtype(annotation: PdfObject) -> object:
    resolved = annotation.get_object()
    return resolved.get("/Subtype") if isinstance(resolved, DictionaryObject) else None
