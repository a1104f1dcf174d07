"""Sealed media: in the row, or above a threshold in a file of the blob directory.

Both are AES-256-GCM under the texter's own data key, with associated data
binding the ciphertext to its media row (and a file to its random name), so
erasure and retention, which destroy the key and delete the row, cover media
exactly as they cover text. A file is named by a random id, never by anything
of the texter's; `sweep` deletes files no row names any more (an erased
texter's, or one written by a fetch that crashed before its commit).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from helpline import crypto, logs
from helpline.config import Settings
from helpline.store.models import MediaItem

_TABLE = "media"
# A file younger than this may belong to a fetch whose commit is still running.
SWEEP_GRACE = timedelta(minutes=10)


def media_dir(settings: Settings) -> Path:
    return Path(settings.media_dir) if settings.media_dir else Path.cwd() / "helpline-media"


def _blob_path(settings: Settings, ref: str) -> Path:
    if not ref.isalnum() and not ref.replace("-", "").replace("_", "").isalnum():
        raise ValueError("bad blob reference")
    return media_dir(settings) / f"{ref}.sealed"


@dataclass(frozen=True)
class Sealed:
    """Cleaned bytes sealed for one media row: a file name or the inline envelope."""

    size: int
    blob_ref: str | None = None
    content: bytes | None = None


def seal(settings: Settings, item_id: str, key: bytes, data: bytes | bytearray) -> Sealed:
    """Encrypt the cleaned bytes for the row `item_id`; a large file is
    written (and fsynced) here, BEFORE the transaction that records it, so
    no database lock waits for the disk. Remove it with `delete_files` if
    that transaction finds the row gone."""
    size = len(data)
    if size <= settings.media_inline_max_bytes:
        content = crypto.seal(key, bytes(data), table=_TABLE, column="content", row_id=item_id)
        return Sealed(size=size, content=content)
    ref = secrets.token_urlsafe(18)
    directory = media_dir(settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_EXCL and 0600: a file of one texter is never overwritten nor readable by others.
    fd = os.open(_blob_path(settings, ref), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        crypto.seal_to(handle, key, data, table=_TABLE, column="blob", row_id=f"{item_id}/{ref}")
        handle.flush()
        os.fsync(handle.fileno())
    return Sealed(size=size, blob_ref=ref)


def record(item: MediaItem, sealed: Sealed, content_type: str, now: datetime) -> None:
    """Mark the row stored with what `seal` produced (in the caller's transaction)."""
    item.blob_ref, item.content = sealed.blob_ref, sealed.content
    item.content_type = content_type
    item.size = sealed.size
    item.state = "stored"
    item.source = None
    item.error_reason = None
    item.locked_until = None
    item.stored_at = now


def read(settings: Settings, item: MediaItem, key: bytes) -> bytes | bytearray:
    if item.blob_ref:
        path = _blob_path(settings, item.blob_ref)
        with path.open("rb") as handle:
            return crypto.open_from(handle, os.fstat(handle.fileno()).st_size, key,
                                    table=_TABLE, column="blob",
                                    row_id=f"{item.id}/{item.blob_ref}")
    if item.content is None:
        raise FileNotFoundError("no content")
    return crypto.open_sealed(key, item.content, table=_TABLE, column="content", row_id=item.id)


def seal_source(key: bytes, item_id: str, source_json: str) -> bytes:
    return crypto.seal_text(key, source_json, table=_TABLE, column="source", row_id=item_id)


def open_source(key: bytes, item: MediaItem) -> str:
    if item.source is None:
        raise FileNotFoundError("no source")
    return crypto.open_text(key, item.source, table=_TABLE, column="source", row_id=item.id)


def sweep(session: Session, settings: Settings) -> int:
    """Delete blob files that no media row names (erased, expired, orphaned)."""
    directory = media_dir(settings)
    if not directory.is_dir():
        return 0
    named = set(
        session.execute(
            sa_select(col(MediaItem.blob_ref)).where(col(MediaItem.blob_ref).is_not(None))
        ).scalars()
    )
    removed = 0
    # Real time, not the service clock: the files' own timestamps are real.
    cutoff = time.time() - SWEEP_GRACE.total_seconds()
    for path in directory.glob("*.sealed"):
        if path.stem in named:
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    if removed:
        logs.event("media.swept", count=removed)
    return removed


def delete_files(settings: Settings, refs: list[str]) -> int:
    """Remove the files of rows just deleted (erasure, retention)."""
    removed = 0
    for ref in refs:
        try:
            _blob_path(settings, ref).unlink()
            removed += 1
        except (FileNotFoundError, ValueError):
            continue
    return removed
