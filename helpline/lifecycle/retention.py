"""Erasure: deleting everything of a texter, for good (on request, and for
retention: helpline.lifecycle.purge).

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
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session

from helpline import logs
from helpline.errors import NotFound
from helpline.lifecycle.deletion import (
    delete_texters,
)
from helpline.lifecycle.progress import Progress
from helpline.media import store as media_store
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    Conversation,
    OutboxItem,
    Texter,
    new_id,
)

TEXTER_ERASE = "texter.erase"  # audit action: an admin erased a texter
TEXTER_ERASE_SELF = "texter.erase_self"  # audit action: the texter's own command


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


# Retention lives in helpline.lifecycle.purge; its names stay importable here.
from helpline.lifecycle.purge import (  # noqa: E402
    PurgeResult,
    periodic,
    purge,
    retention_days,
)

__all__ = [
    "Progress", "PurgeResult", "audit_texter_erasure", "erase_conversation_texter",
    "erase_texter", "periodic", "purge", "queue_detached", "retention_days",
]
