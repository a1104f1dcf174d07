"""Master key rotation: re-wrap every data key under the current master key.

Only the small wrapped data keys change; no message is re-encrypted, which is
what makes rotating the master key cheap (seconds for a year of texters).

Safe to kill at any point (SIGKILL included): each batch is one transaction
that replaces a key's wrapped bytes and its `master_key_id` together, so every
committed row is wrapped under either the old or the new key, and both are in
the key ring while `HELPLINE_MASTER_KEY_PREVIOUS` is set. A second run picks
up the rows still under the old key and finishes. On PostgreSQL, rows are
taken with `FOR UPDATE SKIP LOCKED`, so two concurrent runs share the work
instead of blocking each other.

Procedure (docs/privacy.md, "Rotating keys"):
  1. HELPLINE_MASTER_KEY_PREVIOUS = the old key, HELPLINE_MASTER_KEY = a fresh one;
     restart the app (it reads with both, writes new keys under the new one).
  2. `helpline keys rotate` until it reports nothing left under another key.
  3. Remove HELPLINE_MASTER_KEY_PREVIOUS and destroy the old key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import col

from helpline import logs
from helpline.crypto import CryptoError
from helpline.lifecycle.progress import Progress
from helpline.services import Services
from helpline.store.models import DataKey

BATCH = 200


@dataclass
class RotationResult:
    rewrapped: int = 0
    current: int = 0
    # Wrapped under a master key that is not configured (or damaged): left as is.
    unreadable: int = 0


def count_pending(services: Services) -> tuple[int, int]:
    """(keys under another master key, keys under the current one)."""
    current_id = services.vault.ring.current_id
    with services.db.session() as session:
        rows = session.execute(
            select(col(DataKey.master_key_id), func.count()).group_by(col(DataKey.master_key_id))
        ).all()
    counts = {str(master_id): int(n) for master_id, n in rows}
    current = counts.pop(current_id, 0)
    return sum(counts.values()), current


def rotate(
    services: Services, *, batch: int = BATCH, progress: Progress | None = None
) -> RotationResult:
    ring = services.vault.ring
    current_id = ring.current_id
    result = RotationResult()
    after = ""
    while True:
        with services.db.session() as session:
            query = (
                select(DataKey)
                .where(col(DataKey.master_key_id) != current_id, col(DataKey.id) > after)
                .order_by(col(DataKey.id))
                .limit(batch)
            )
            if not services.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list(session.execute(query).scalars())
            if not rows:
                break
            for row in rows:
                try:
                    raw = ring.unwrap(row.wrapped, row.id)
                except CryptoError:
                    result.unreadable += 1
                    continue
                row.wrapped = ring.wrap(raw, row.id)
                row.master_key_id = current_id
                result.rewrapped += 1
            after = rows[-1].id
        if progress is not None:
            progress.update(result.rewrapped)
    if progress is not None:
        progress.finish()
    _, result.current = count_pending(services)
    logs.event("keys.rotated", count=result.rewrapped, total=result.current)
    return result
