"""WhatsApp read receipts (blue ticks), only when the policy turns them on.

Threat this answers: a blue tick is shown on the texter's phone, so whoever
holds or watches that phone (a partner, a pimp, a trafficker) learns that
someone at the other end read the message. The routing policy's
`read_receipts` is therefore off by default, and Signal's receipts are never
sent at all.

When it is on, opening a conversation in the console queues one receipt for
its newest inbound WhatsApp message, if that one is not marked read yet; Meta
then marks the earlier messages read too. The provider id it names is kept
sealed on the message (`messages.provider_message_id`, under the texter's data
key) and cleared as soon as it is no longer needed: once the receipt is sent
or given up, and on the earlier messages at once.
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/mark-message-as-read
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from helpline import logs
from helpline.channels.base import ChannelName
from helpline.services import Services
from helpline.store.models import Conversation, Message, OutboxItem

KIND = "read_receipt"
# Meta accepts a read mark up to 30 days after the message arrived.
MARK_LIMIT = timedelta(days=30)

_MESSAGES = Message.__table__  # type: ignore[attr-defined]


def queue_on_open(
    services: Services, session: Session, conversation_id: str, now: datetime
) -> bool:
    """Queue the read receipt a volunteer's opening calls for, in the caller's
    transaction; True when one was queued (the caller wakes the worker)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.channel != ChannelName.WHATSAPP:
        return False
    if not services.policy_for(conversation.helpline_id).read_receipts:
        return False
    newest_query = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(1)
    )
    if not services.db.is_sqlite:
        # Two volunteers opening at once: the second waits here and then sees
        # the first one's outbox row, so the message is marked read once.
        newest_query = newest_query.with_for_update()
    newest = session.exec(newest_query).first()
    if newest is None:
        return False
    _forget_earlier(session, conversation_id, newest.id)
    if newest.provider_message_id is None:
        return False  # already marked read, or stored while the switch was off
    if newest.created_at < now - MARK_LIMIT:
        forget(session, newest.id)
        return False
    queued = session.exec(
        select(OutboxItem.id).where(OutboxItem.message_id == newest.id, OutboxItem.kind == KIND)
    ).first()
    if queued is not None:
        return False
    session.add(
        OutboxItem(
            message_id=newest.id,
            texter_id=newest.texter_id,
            channel=ChannelName.WHATSAPP.value,
            kind=KIND,
            state="pending",
            next_attempt_at=now,
            created_at=now,
        )
    )
    logs.event("outbox.read_receipt_queued", conversation=conversation_id, message=newest.id)
    return True


def _forget_earlier(session: Session, conversation_id: str, newest_id: str) -> None:
    # Marking the newest message read marks these too: their ids have no use left.
    session.connection().execute(
        update(_MESSAGES)
        .where(
            _MESSAGES.c.conversation_id == conversation_id,
            _MESSAGES.c.direction == "in",
            _MESSAGES.c.provider_message_id.is_not(None),
            _MESSAGES.c.id != newest_id,
        )
        .values(provider_message_id=None)
    )


def forget(session: Session, message_id: str) -> None:
    """Drop a message's sealed provider id: its receipt was sent or given up."""
    session.connection().execute(
        update(_MESSAGES).where(_MESSAGES.c.id == message_id).values(provider_message_id=None)
    )


__all__ = ["KIND", "forget", "queue_on_open"]
