"""Deleting every row of some texters, key first: the one core that erasure,
retention and restore share.

The data key is destroyed before any row goes, in the same transaction, so that a
row a crash or a replica leaves behind no longer opens (DESIGN invariant 3). Each
destroyed key gets a tombstone, which the key store applies (helpline/lifecycle/keystore.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Table, delete, select, update
from sqlmodel import Session, SQLModel, col

from helpline.store.models import Conversation, DataKey, ErasedKey, MediaItem, Texter

_EXTRA_TEXTER_TABLES: list[type] = []


def register_texter_table(model: type) -> None:
    """Tables added by other parts (notes, labels) register here. Every table
    in the metadata with a `texter_id` column is erased anyway (so a CLI purge
    that never imported the console still finds them); registering documents
    the intent and covers tables outside helpline.store.models."""
    if model not in _EXTRA_TEXTER_TABLES:
        _EXTRA_TEXTER_TABLES.append(model)


def texter_tables() -> list[Table]:
    """Tables with a texter_id column, children before parents (reverse
    foreign-key order), texters itself excluded."""
    wanted: set[str] = set()
    for table in SQLModel.metadata.tables.values():
        if "texter_id" in table.c and table.name != Texter.__tablename__:
            wanted.add(table.name)
    for model in _EXTRA_TEXTER_TABLES:
        wanted.add(model.__tablename__)  # type: ignore[attr-defined]
    return [t for t in reversed(SQLModel.metadata.sorted_tables) if t.name in wanted]


@dataclass
class Deleted:
    texters: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    # Sealed media files of the deleted rows: the caller removes them once
    # the transaction has committed (helpline.media.store.delete_files).
    media_files: list[str] = field(default_factory=list)

    def add(self, table: str, count: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + max(count, 0)


def delete_texters(
    session: Session, texter_ids: Sequence[str], key_ids: Sequence[str], now: datetime
) -> Deleted:
    """Key first, then every row, then the texter and the key row itself."""
    deleted = Deleted()
    if not texter_ids:
        return deleted
    ids, keys = list(texter_ids), list(key_ids)
    # Detach the texters' objects so the ORM cannot flush them back (autoflush
    # of a pending Message added earlier in this same transaction).
    for obj in [*session.new, *session.identity_map.values()]:
        if getattr(obj, "texter_id", None) in ids or (
            isinstance(obj, Texter) and obj.id in ids
        ) or (isinstance(obj, DataKey) and obj.id in keys):
            session.expunge(obj)
    # 1. Destroy the keys: from here on nothing of theirs opens.
    session.execute(
        update(DataKey).where(col(DataKey.id).in_(keys)).values(wrapped=b"")
    )
    deleted.media_files = [
        ref for ref in session.execute(
            select(col(MediaItem.blob_ref)).where(
                col(MediaItem.texter_id).in_(ids), col(MediaItem.blob_ref).is_not(None)
            )
        ).scalars() if ref
    ]
    # 2. The rows, children first.
    for table in texter_tables():
        if table.name == Conversation.__tablename__:
            session.execute(
                update(table).where(table.c.texter_id.in_(ids)).values(claimed_by_id=None)
            )
        result = session.execute(delete(table).where(table.c.texter_id.in_(ids)))
        deleted.add(table.name, result.rowcount)  # type: ignore[attr-defined]
    result = session.execute(delete(Texter).where(col(Texter.id).in_(ids)))
    deleted.texters = result.rowcount  # type: ignore[attr-defined]
    # 3. The key rows, and a tombstone per key for the backup key store.
    session.execute(delete(DataKey).where(col(DataKey.id).in_(keys)))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    existing = set(
        session.execute(
            select(col(ErasedKey.key_id)).where(col(ErasedKey.key_id).in_(keys))
        ).scalars()
    )
    for key_id in keys:
        if key_id not in existing:
            session.add(ErasedKey(key_id=key_id, erased_on=day))
    return deleted
