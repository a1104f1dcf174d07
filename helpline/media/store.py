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
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from helpline import crypto, logs
from helpline.config import Settings
from helpline.store.models import MediaItem

_TABLE = "media"
# A file younger than this may belong to a fetch whose commit is still running.
_SWEEP_GRACE = timedelta(minutes=10)


def media_dir(settings: Settings) -> Path:
    return Path(settings.media_dir) if settings.media_dir else Path.cwd() / "helpline-media"


def _blob_path(settings: Settings, ref: str) -> Path:
    if not ref.isalnum() and not ref.replace("-", "").replace("_", "").isalnum():
        raise ValueError("bad blob reference")
    return media_dir(settings) / f"{ref}.sealed"


def put(
    settings: Settings, item: MediaItem, key: bytes, content_type: str,
    data: bytes | bytearray, now: datetime,
) -> None:
    """Seal the cleaned bytes into the row or a new file; set the row stored."""
    size = len(data)
    if size > settings.media_inline_max_bytes:
        ref = secrets.token_urlsafe(18)
        head, sealed = crypto.seal_parts(key, data, table=_TABLE, column="blob",
                                         row_id=f"{item.id}/{ref}")
        directory = media_dir(settings)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = _blob_path(settings, ref)
        # O_EXCL and 0600: a file of one texter is never overwritten nor readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(head)
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        item.blob_ref, item.content = ref, None
    else:
        item.content = crypto.seal(key, bytes(data), table=_TABLE, column="content",
                                   row_id=item.id)
        item.blob_ref = None
    item.content_type = content_type
    item.size = size
    item.state = "stored"
    item.source = None
    item.error_reason = None
    item.locked_until = None
    item.stored_at = now


def read(settings: Settings, item: MediaItem, key: bytes) -> bytes:
    if item.blob_ref:
        envelope = _blob_path(settings, item.blob_ref).read_bytes()
        return crypto.open_sealed(
            key, envelope, table=_TABLE, column="blob", row_id=f"{item.id}/{item.blob_ref}"
        )
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
    cutoff = time.time() - _SWEEP_GRACE.total_seconds()
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
