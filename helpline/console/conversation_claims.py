"""Who holds a conversation: claim, release, transfer to a colleague, close.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from helpline import logs
from helpline.console import memberships
from helpline.console.conversation_access import (
    Actor,
    ClaimedByColleague,
    ConversationClosed,
    NotClaimed,
    TooManyConversations,
    UnknownColleague,
    audit_action,
    load,
    publish,
)
from helpline.live.bus import LiveEvent
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    Conversation,
    User,
)


def _held_count(session: Session, user_id: str, helpline_id: str) -> int:
    """Open conversations held in one helpline (the limit is per helpline:
    its policy sets it)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.claimed_by_id == user_id, Conversation.status != "closed",
                   Conversation.helpline_id == helpline_id)
        ).one()
    )


def _lock_user(session: Session, user_id: str) -> None:
    """Serialise one user's claims, so two tabs cannot exceed the maximum."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(User.id).where(User.id == user_id).with_for_update())



def claim(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        _lock_user(session, actor.user_id)
        conversation = load(session, actor, conversation_id, for_update=True, listed_only=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id not in (None, actor.user_id):
            raise ClaimedByColleague()
        if conversation.claimed_by_id is None:
            limit = services.policy_for(actor.helpline_id).max_conversations_per_volunteer
            if _held_count(session, actor.user_id, actor.helpline_id) >= limit:
                raise TooManyConversations(limit)
            conversation.claimed_by_id = actor.user_id
            conversation.claimed_at = now
        event = LiveEvent.of(conversation, "claim", queue=conversation.queue)
    publish(services, [event])
    logs.event("console.claim", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "claimed_by": actor.alias}


def release(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        conversation.claimed_by_id = None
        conversation.claimed_at = None
        event = LiveEvent.of(conversation, "release", queue=conversation.queue)
    publish(services, [event])
    logs.event("console.release", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "claimed_by": None}


def transfer(
    services: Services, actor: Actor, conversation_id: str, to_alias: str
) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        # A colleague in the same role, of the same partner, in this helpline.
        target = session.exec(
            select(User).where(
                User.alias == to_alias, col(User.disabled).is_(False),
                memberships.in_helpline(
                    actor.helpline_id, actor.role,
                    partner_id=actor.partner_id if actor.role == "partner" else None,
                ),
            )
        ).first()
        if target is None or target.id == actor.user_id:
            raise UnknownColleague()
        _lock_user(session, target.id)
        limit = services.policy_for(actor.helpline_id).max_conversations_per_volunteer
        if _held_count(session, target.id, actor.helpline_id) >= limit:
            raise TooManyConversations(limit, colleague=True)
        conversation.claimed_by_id = target.id
        conversation.claimed_at = now
        event = LiveEvent.of(conversation, "claim", queue=conversation.queue)
        target_alias = target.alias
        audit_action(services, session, actor, "conversation.transfer", conversation.id)
    publish(services, [event])
    return {"id": conversation_id, "claimed_by": target_alias}



def close(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        if conversation.claimed_by_id not in (None, actor.user_id):
            raise ClaimedByColleague()
        if conversation.status != "closed":
            conversation.status = "closed"
            conversation.closed_at = now
            conversation.waiting_since = None
            counting.record_closed(services, session, conversation, now)
        event = LiveEvent.of(conversation, "close", queue=conversation.queue)
        audit_action(services, session, actor, "conversation.close", conversation.id)
    publish(services, [event])
    logs.event("console.close", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "status": "closed"}


