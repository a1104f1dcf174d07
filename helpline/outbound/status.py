"""Apply delivery statuses to sent messages: never backwards, failures explained."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from helpline.channels.base import DeliveryStatus
from helpline.live.bus import LiveEvent
from helpline.outbound.conversations import request_template
from helpline.services import Services
from helpline.store.models import Conversation, Message, OutboxItem, Texter

RANK = {"queued": 0, "held": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}


def provider_ref(services: Services, channel: str, provider_message_id: str) -> str:
    # A WhatsApp message id embeds the phone number in base64: keep only a keyed hash.
    return services.index.tag("provider", f"{channel}:{provider_message_id}")


def failure_outcome(channel: str, code: str | None) -> str:
    if channel == "whatsapp":
        from helpline.channels.whatsapp_cloud import error_outcome

        return error_outcome(code)
    return "fail"


def queue_of(session: Session, conversation_id: str) -> str | None:
    """The conversation's queue, carried by its status events: a peer-queue
    event reaches volunteers without a query per stream, and a partner's
    view knows the event is about a conversation referred to it."""
    conversation = session.get(Conversation, conversation_id)
    return conversation.queue if conversation is not None else None


def status_event(session: Session, message: Message) -> LiveEvent:
    return LiveEvent(kind="status", conversation=message.conversation_id, message=message.id,
                     state=message.status, queue=queue_of(session, message.conversation_id))


def apply_status(
    services: Services, session: Session, event: DeliveryStatus, now: datetime
) -> LiveEvent | None:
    ref = provider_ref(services, event.channel.value, event.provider_message_id)
    message = session.exec(select(Message).where(Message.provider_ref == ref)).first()
    if message is None:
        return None
    if event.state == "failed":
        outcome = failure_outcome(event.channel.value, event.error_code)
        reason = f"{event.channel.value}:{event.error_code or 'unknown'}"
        if message.status == "read":
            return None
        item = session.exec(select(OutboxItem).where(OutboxItem.message_id == message.id)).first()
        if outcome == "hold" and item is not None:
            # Sent outside the 24 h window (131047): hold until the texter
            # writes again, and ask them to with the neutral template.
            item.state = "held"
            item.last_error = reason
            message.status = "held"
            texter = session.get(Texter, message.texter_id)
            if texter is not None:
                request_template(services, session, texter, now)
        else:
            if item is not None:
                item.state = "failed"
                item.last_error = reason
            message.status = "failed"
        message.error_reason = reason
        message.status_at = now
        return status_event(session, message)
    if RANK.get(event.state, 0) <= RANK.get(message.status, 0) or message.status == "failed":
        return None
    message.status = event.state
    message.status_at = now
    return status_event(session, message)
