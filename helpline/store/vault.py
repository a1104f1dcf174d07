"""Per-person data keys in the database, wrapped by the master key ring."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from helpline import crypto
from helpline.store.models import DataKey, new_id


class DataKeyMissing(crypto.CryptoError):
    """The data key was destroyed (erasure, retention): the data is gone."""


class Vault:
    def __init__(self, ring: crypto.KeyRing) -> None:
        self.ring = ring

    def __repr__(self) -> str:
        return "Vault(***)"

    def create_key(self, session: Session, now: datetime) -> tuple[DataKey, bytes]:
        raw = crypto.new_data_key()
        row_id = new_id()
        row = DataKey(
            id=row_id,
            wrapped=self.ring.wrap(raw, row_id),
            master_key_id=self.ring.current_id,
            created_at=now,
        )
        session.add(row)
        return row, raw

    def key(self, session: Session, key_id: str) -> bytes:
        row = session.get(DataKey, key_id)
        return self.unwrap(row.wrapped if row is not None else None, key_id)

    def unwrap(self, wrapped: bytes | None, key_id: str) -> bytes:
        """Open a wrapped key read by the caller's own query (None: destroyed)."""
        if wrapped is None:
            raise DataKeyMissing("data key destroyed")
        return self.ring.unwrap(wrapped, key_id)

    def seal(self, key: bytes, text: str, table: str, column: str, row_id: str) -> bytes:
        return crypto.seal_text(key, text, table=table, column=column, row_id=row_id)

    def open(self, key: bytes, envelope: bytes, table: str, column: str, row_id: str) -> str:
        return crypto.open_text(key, envelope, table=table, column=column, row_id=row_id)
