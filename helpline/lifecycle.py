"""Retention and erasure.

Erasure destroys the texter's data key FIRST, in the same transaction that
deletes their rows: from the commit on, any copy of their ciphertext (a
replica, a backup, a forgotten export) is unreadable as far as that key is
concerned, even before the rows themselves are gone everywhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, select

from helpline import logs
from helpline.models import (
    Conversation,
    DataKey,
    Message,
    OutboxItem,
    Referral,
    Texter,
)
from helpline.services import Services

# Tables holding rows of one texter, children first.
TEXTER_TABLES: tuple[type, ...] = (OutboxItem, Referral, Message)


def erase_texter(
    services: Services,
    session: Session,
    texter: Texter,
    now: datetime,
    *,
    farewell: str | None = None,
) -> None:
    texter_id, key_id = texter.id, texter.data_key_id
    session.execute(delete(DataKey).where(DataKey.id == key_id))  # type: ignore[arg-type]
    _delete_rows(session, texter_id)
    session.expunge(texter)
    session.execute(delete(Texter).where(Texter.id == texter_id))  # type: ignore[arg-type]
    logs.event("lifecycle.erased", texter=texter_id)


def _delete_rows(session: Session, texter_id: str) -> None:
    # Detach conversation rows from the ORM session so autoflush cannot
    # resurrect them, then delete in dependency order.
    for obj in list(session.identity_map.values()):
        if getattr(obj, "texter_id", None) == texter_id:
            session.expunge(obj)
    for table in TEXTER_TABLES:
        session.execute(delete(table).where(table.texter_id == texter_id))  # type: ignore[attr-defined]
    for extra in _EXTRA_TEXTER_TABLES:
        session.execute(delete(extra).where(extra.texter_id == texter_id))  # type: ignore[attr-defined]
    session.execute(
        update(Conversation).where(Conversation.texter_id == texter_id).values(claimed_by_id=None)  # type: ignore[arg-type]
    )
    session.execute(delete(Conversation).where(Conversation.texter_id == texter_id))  # type: ignore[arg-type]


# Tables added by other parts (notes, labels) register here to be erased too.
_EXTRA_TEXTER_TABLES: list[type] = []


def register_texter_table(model: type) -> None:
    if model not in _EXTRA_TEXTER_TABLES:
        _EXTRA_TEXTER_TABLES.append(model)


def retention_days(services: Services) -> int:
    settings = services.settings
    if "retention_days" in settings.model_fields_set:
        return settings.retention_days
    return services.policy.retention_days


def purge(services: Services, *, batch: int = 200) -> int:
    """Erase every texter inactive for longer than the retention period.
    Returns the number of texters erased."""
    now = services.now()
    cutoff = now - timedelta(days=retention_days(services))
    erased = 0
    while True:
        with services.db.session() as session:
            texters = session.exec(
                select(Texter).where(Texter.last_activity_at <= cutoff).limit(batch)
            ).all()
            if not texters:
                break
            for texter in texters:
                erase_texter(services, session, texter, now)
            erased += len(texters)
    logs.event("lifecycle.purged", count=erased)
    return erased


_last_periodic: dict[int, datetime] = {}


def periodic(services: Services, every: timedelta = timedelta(minutes=10)) -> None:
    """Run retention from the worker loop, at most every `every`."""
    now = services.now()
    last = _last_periodic.get(id(services))
    if last is not None and now - last < every:
        return
    _last_periodic[id(services)] = now
    purge(services)
