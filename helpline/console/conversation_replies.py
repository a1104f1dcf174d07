"""Answering the texter: a reply through the outbox, and retrying a failed one.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from helpline import logs
from helpline.console.conversation_access import (
    MAX_BODY,
    Actor,
    ConversationClosed,
    NotClaimed,
    NotRetryable,
    aliases_of,
    audit_action,
    clean_text,
    load,
    publish,
    texter_and_key,
)
from helpline.console.conversation_views import message_dict
from helpline.errors import NotFound
from helpline.live.bus import LiveEvent
from helpline.outbound.conversations import (
    queue_outbound,
    request_template,
    window_open,
)
from helpline.services import Services
from helpline.store.models import (
    Message,
    OutboxItem,
)


def send_message(
    services: Services, actor: Actor, conversation_id: str, body: object
) -> dict[str, Any]:
    text = clean_text(body, MAX_BODY)
    if services.policy_for(actor.helpline_id).sign_replies_with_alias:
        text = f"{text}\n— {actor.alias}"
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        texter, key = texter_and_key(services, session, conversation)
        message = queue_outbound(
            services,
            session,
            texter=texter,
            conversation=conversation,
            text=text,
            key=key,
            now=now,
            author_kind="user",
            author_id=actor.user_id,
        )
        texter.last_activity_at = now
        audit_action(services, session, actor, "message.reply", conversation.id)
        result = message_dict(services, key, message, {actor.user_id: actor.alias})
        event = LiveEvent.of(conversation, "message", message=message.id,
                          queue=conversation.queue)
    publish(services, [event])
    services.wakeup.set()
    logs.event("console.reply", conversation=conversation_id, message=result["id"],
               user=actor.user_id)
    return result


def retry_message(
    services: Services, actor: Actor, conversation_id: str, message_id: str
) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        message = session.get(Message, message_id)
        if message is None or message.conversation_id != conversation.id:
            raise NotFound()
        item = session.exec(select(OutboxItem).where(OutboxItem.message_id == message.id)).first()
        if message.status != "failed" or item is None or item.state != "failed":
            raise NotRetryable()
        texter, key = texter_and_key(services, session, conversation)
        item.attempts = 0
        item.locked_until = None
        item.next_attempt_at = now
        if window_open(texter, now):
            item.state = "pending"
            item.last_error = None
            message.status = "queued"
            message.error_reason = None
        else:
            item.state = "held"
            message.status = "held"
            request_template(services, session, texter, now)
        message.status_at = now
        authors = aliases_of(session, {message.author_id or ""})
        result = message_dict(services, key, message, authors)
        event = LiveEvent.of(conversation, "status", message=message.id,
                          state=message.status, queue=conversation.queue)
    publish(services, [event])
    services.wakeup.set()
    logs.event("console.retry", conversation=conversation_id, message=message_id,
               user=actor.user_id)
    return result


