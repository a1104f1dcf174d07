"""Retention and erasure: deleting everything of a texter, for good.

Erasure destroys the texter's data key FIRST, in the same transaction that
deletes their rows: the wrapped key is overwritten before any row goes, and
from the commit on any copy of their ciphertext (a replica, a forgotten
export) is unreadable as far as that key is concerned. A tombstone with the
random key id (`erased_keys`) lets `helpline.lifecycle.backup` reach backups taken
earlier: it removes that key's share from the key store kept apart from the
database, so an old backup cannot open the key either (docs/privacy.md,
"Backups and erasure").

What goes: messages, media (rows and their sealed files), notes, labels,
outbox rows, referrals (consent records), conversations, the wrapped data key,
the blind index entry and the pseudonym (both live on the `texters` row). What
stays: identifier-free statistics and content-free audit records. A later
message from the same number starts fresh under a new pseudonym and a new key,
with no link to the old ones.

Retention deletes in bulk, a few dozen texters per transaction, so the write
lock (SQLite) or row locks (PostgreSQL) are held for milliseconds and the
webhooks keep answering while a large purge runs (benchmarks/purge.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, event, exists, select
from sqlmodel import Session, col

from helpline import logs
from helpline.errors import NotFound
from helpline.lifecycle.deletion import (
    delete_texters,
)
from helpline.lifecycle.keystore import apply_tombstones
from helpline.lifecycle.progress import Progress
from helpline.media import store as media_store
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    Conversation,
    DataKey,
    DedupKey,
    ErasedKey,
    OutboxItem,
    Texter,
    new_id,
)

TEXTER_ERASE = "texter.erase"  # audit action: an admin erased a texter
TEXTER_ERASE_SELF = "texter.erase_self"  # audit action: the texter's own command
# WhatsApp retries a delivery for up to 7 days; a day of margin on top.
DEDUP_TTL = timedelta(days=8)
# A detached goodbye that could not be sent by then is given up (key and all).
DETACHED_TTL = timedelta(days=2)
# Texters per retention transaction: small enough that a webhook waiting for
# the SQLite write lock waits milliseconds, large enough to purge 1M messages
# in well under a minute (benchmarks/purge.py).
PURGE_BATCH = 50


# ---------------------------------------------------------------------------
# Erasure on request.


def erase_texter(
    services: Services,
    session: Session,
    texter: Texter,
    now: datetime,
    *,
    farewell: str | None = None,
) -> None:
    """Erase `texter` inside the caller's transaction. With `farewell`, the
    goodbye is queued as a *detached* outbox item: sealed under a fresh key of
    its own with the reply address, no link to the texter, and dropped by the
    outbox worker once sent (or given up)."""
    texter_id, key_id, channel = texter.id, texter.data_key_id, texter.channel
    goodbye: tuple[str, str] | None = None
    if farewell is not None:
        key = services.vault.key(session, key_id)
        address = services.vault.open(key, texter.reply_address, "texters", "reply_address",
                                      texter_id)
        goodbye = (address, farewell)
    counting.record_removed(services, session, [texter_id], now)
    deleted = delete_texters(session, [texter_id], [key_id], now)
    if deleted.media_files:
        files, settings = deleted.media_files, services.settings
        # After the commit: a rolled-back erasure must not lose files it kept.
        event.listen(
            session, "after_commit",
            lambda _session: media_store.delete_files(settings, files), once=True,
        )
    if goodbye is not None:
        sender = services.helpline(texter.helpline_id).account(channel)
        queue_detached(services, session, channel, goodbye[0], goodbye[1], now, sender)
    logs.event("lifecycle.erased", texter=texter_id)


def queue_detached(
    services: Services, session: Session, channel: str, to: str, text: str, now: datetime,
    sender: str | None = None,
) -> None:
    data_key, key = services.vault.create_key(session, now)
    item_id = new_id()
    # The texter's row is gone by the time this is sent: the helpline's own
    # number to send from travels sealed with the address.
    payload = services.vault.seal(
        key, json.dumps({"to": to, "text": text, "from": sender}), "outbox", "payload", item_id
    )
    session.flush()
    session.add(
        OutboxItem(
            id=item_id,
            texter_id=None,
            message_id=None,
            data_key_id=data_key.id,
            payload=payload,
            channel=channel,
            kind="text",
            state="pending",
            next_attempt_at=now,
            created_at=now,
        )
    )
    services.wakeup.set()


def _audit(
    session: Session, now: datetime, actor_id: str | None, action: str, helpline_id: str
) -> None:
    """A content-free audit record: who, what kind of erasure, when, in which
    helpline's log. No pseudonym or conversation id: those would keep a
    trace of the person."""
    from helpline.console.audit import record

    record(session, actor_id, action, None, now, helpline_id=helpline_id)


def audit_texter_erasure(
    session: Session, now: datetime, helpline_id: str = DEFAULT_HELPLINE_ID
) -> None:
    """For the texter's own command (effects.py): actor is the texter, unnamed."""
    _audit(session, now, None, TEXTER_ERASE_SELF, helpline_id)


def erase_conversation_texter(
    services: Services, conversation_id: str, actor_id: str,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> bool:
    """Admin action: erase the texter of a conversation, now. The texter gets
    the usual "erased" confirmation when the channel can still reach them.
    Raises NotFound for an unknown conversation (or one already erased)."""
    from helpline.outbound.conversations import window_open

    now = services.now()
    with services.db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None or conversation.helpline_id != helpline_id:
            # Another helpline's conversation is not there for this admin.
            raise NotFound()
        # Lock the texter as intake does, so a message arriving right now
        # cannot add a row between our deletes (PostgreSQL).
        texter = session.get(Texter, conversation.texter_id,
                             with_for_update=not services.db.is_sqlite)
        if texter is None:
            raise NotFound()
        farewell = None
        if window_open(texter, now) and not texter.stopped:
            language = (texter.language
                        or services.policy_for(texter.helpline_id).default_language)
            farewell = services.catalog.render("erased", language, {})
        counting.record_erasure(services, session, texter, now)
        erase_texter(services, session, texter, now, farewell=farewell)
        _audit(session, now, actor_id, TEXTER_ERASE, helpline_id)
    logs.event("lifecycle.admin_erased", user=actor_id)
    return True


# ---------------------------------------------------------------------------
# Retention.


def retention_days(services: Services) -> int:
    """HELPLINE_RETENTION_DAYS when set explicitly, else the policy file's."""
    settings = services.settings
    if "retention_days" in settings.model_fields_set:
        return settings.retention_days
    return services.policy.retention_days


@dataclass
class PurgeResult:
    texters: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    dedup_keys: int = 0
    detached: int = 0
    media_files: int = 0

    @property
    def messages(self) -> int:
        return self.rows.get("messages", 0)

    def lines(self) -> list[str]:
        out = [f"texters erased: {self.texters}"]
        out += [f"{table} deleted: {count}" for table, count in sorted(self.rows.items())]
        out.append(f"dedup keys expired: {self.dedup_keys}")
        out.append(f"detached outbox items removed: {self.detached}")
        out.append(f"orphaned media files removed: {self.media_files}")
        return out


def _expired_texters(
    services: Services, session: Session, cutoff: datetime, limit: int
) -> list[tuple[str, str]]:
    # Inactive = no inbound message since the cutoff AND no message either
    # way in any of their conversations (a volunteer still writing to them
    # keeps the conversation alive).
    recent = exists().where(
        col(Conversation.texter_id) == col(Texter.id),
        col(Conversation.last_message_at) >= cutoff,
    )
    query = (
        select(col(Texter.id), col(Texter.data_key_id))
        .where(col(Texter.last_activity_at) < cutoff, ~recent)
        .order_by(col(Texter.last_activity_at))
        .limit(limit)
    )
    if not services.db.is_sqlite:
        # A texter writing right now holds their row (intake locks it): skip
        # them; the re-checked WHERE keeps them if their activity moved on.
        query = query.with_for_update(of=Texter, skip_locked=True)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def purge(
    services: Services,
    *,
    batch: int = PURGE_BATCH,
    progress: Progress | None = None,
    pause: bool = True,
) -> PurgeResult:
    """Erase every texter inactive for longer than the retention period, expire
    dedup keys and stale detached outbox items. Returns counts only."""
    now = services.now()
    cutoff = now - timedelta(days=retention_days(services))
    result = PurgeResult()
    while True:
        started = time.monotonic()
        with services.db.session() as session:
            expired = _expired_texters(services, session, cutoff, batch)
            if not expired:
                break
            counting.record_removed(services, session, [t for t, _ in expired], now)
            deleted = delete_texters(
                session, [t for t, _ in expired], [k for _, k in expired], now
            )
        media_store.delete_files(services.settings, deleted.media_files)
        result.texters += deleted.texters
        for table, count in deleted.rows.items():
            result.rows[table] = result.rows.get(table, 0) + count
        if progress is not None:
            progress.update(result.texters)
        if services.db.is_sqlite and pause:
            # SQLite has one write lock and its busy handler polls (every
            # 25-100 ms once it has waited a while): without a pause this loop
            # re-takes the lock at once and starves incoming webhooks.
            time.sleep(min(max((time.monotonic() - started) / 4, 0.02), 0.1))
    with services.db.session() as session:
        result.media_files = media_store.sweep(session, services.settings)
    result.dedup_keys = _expire_dedup(services, now - DEDUP_TTL, batch * 100)
    result.detached = _expire_detached(services, now)
    if progress is not None:
        progress.finish()
    logs.event("lifecycle.purged", count=result.texters)
    try:
        apply_tombstones(services, create=False)
    except Exception as exc:  # noqa: BLE001 - retention itself is done; report only
        logs.event("lifecycle.tombstones_failed", error=type(exc).__name__)
    return result


def _expire_dedup(services: Services, before: datetime, batch: int) -> int:
    total = 0
    while True:
        with services.db.session() as session:
            keys = select(col(DedupKey.key)).where(col(DedupKey.created_at) < before).limit(batch)
            deleted = session.execute(
                delete(DedupKey).where(col(DedupKey.key).in_(keys.scalar_subquery()))
            )
            count = int(deleted.rowcount)  # type: ignore[attr-defined]
        total += count
        if count < batch:
            return total


def _expire_detached(services: Services, now: datetime) -> int:
    """Detached goodbyes: sent or failed ones carry nothing any more; a pending
    one older than DETACHED_TTL is given up, its key destroyed with it."""
    with services.db.session() as session:
        rows = session.execute(
            select(col(OutboxItem.id), col(OutboxItem.data_key_id)).where(
                col(OutboxItem.texter_id).is_(None),
                col(OutboxItem.created_at) < now - timedelta(hours=1),
                col(OutboxItem.state).in_(("sent", "failed"))
                | (col(OutboxItem.created_at) < now - DETACHED_TTL),
            )
        ).all()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        keys = [r[1] for r in rows if r[1]]
        session.execute(delete(OutboxItem).where(col(OutboxItem.id).in_(ids)))
        if keys:
            session.execute(delete(DataKey).where(col(DataKey.id).in_(keys)))
    return len(ids)


_last_periodic: dict[int, datetime] = {}


def periodic(services: Services, every: timedelta = timedelta(minutes=10)) -> PurgeResult | None:
    """From the worker loop: tombstones right away (so a backup's key store
    forgets an erased texter within seconds), retention at most every `every`."""
    now = services.now()
    _tombstones_now(services)
    last = _last_periodic.get(id(services))
    if last is not None and now - last < every and now >= last:
        return None
    _last_periodic[id(services)] = now
    return purge(services)



def _tombstones_now(services: Services) -> None:
    with services.db.session() as session:
        waiting = session.execute(select(col(ErasedKey.key_id)).limit(1)).first()
    if waiting is None:
        return
    try:
        apply_tombstones(services, create=False)
    except Exception as exc:  # noqa: BLE001 - retried next tick; never stops the worker
        logs.event("lifecycle.tombstones_failed", error=type(exc).__name__)
