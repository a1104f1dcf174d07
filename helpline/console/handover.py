"""Covering for a colleague, explicitly: a coordinator sees which
conversations are held and by whom (never a pseudonym or a word of content)
and hands one back to the peer queue or to a named volunteer, for instance
when the holder is ill. Every hand-over is in the audit log.

A volunteer cannot take a colleague's conversation themselves: the texter
confided in one peer (privacy.md §7.3); the holder transfers it, or a
coordinator hands it over.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from helpline import logs
from helpline.console import memberships
from helpline.console.conversation_access import (
    PEER_QUEUES,
    Actor,
    TooManyConversations,
    UnknownColleague,
    aliases_of,
    audit_action,
    iso,
    publish,
)
from helpline.errors import Forbidden, NotFound
from helpline.live.bus import LiveEvent
from helpline.services import Services
from helpline.store.models import Conversation, User


class CoordinatorsOnly(Forbidden):
    public_message = "only a coordinator hands conversations over"


def _require_coordinator(actor: Actor) -> None:
    if actor.role != "coordinator":
        raise CoordinatorsOnly()


def held(services: Services, actor: Actor) -> list[dict[str, Any]]:
    _require_coordinator(actor)
    with services.db.session() as session:
        rows = session.exec(
            select(Conversation)
            .where(
                Conversation.helpline_id == actor.helpline_id,
                col(Conversation.claimed_by_id).is_not(None),
                col(Conversation.queue).in_(PEER_QUEUES),
                Conversation.status != "closed",
            )
            .order_by(col(Conversation.claimed_at))
            .limit(500)
        ).all()
        aliases = aliases_of(session, {c.claimed_by_id for c in rows if c.claimed_by_id})
    return [
        {
            "id": c.id,
            "claimed_by": aliases.get(c.claimed_by_id or "", ""),
            "claimed_at": iso(c.claimed_at),
            "waiting_since": iso(c.waiting_since),
            "priority": c.priority,
            "channel": c.channel,
        }
        for c in rows
    ]


def volunteers(services: Services, actor: Actor) -> list[str]:
    """Aliases of the active volunteers a conversation can be handed to."""
    _require_coordinator(actor)
    with services.db.read_session() as session:
        return sorted(session.exec(
            select(User.alias).where(memberships.in_helpline(actor.helpline_id, "volunteer"),
                                     col(User.disabled).is_(False))
        ).all())


def hand_over(
    services: Services, actor: Actor, conversation_id: str, to_alias: str | None
) -> dict[str, Any]:
    """To the queue (`to_alias` None) or to an active volunteer."""
    _require_coordinator(actor)
    now = services.now()
    with services.db.session() as session:
        conversation = session.exec(
            select(Conversation).where(
                Conversation.id == conversation_id,
                Conversation.helpline_id == actor.helpline_id,
                col(Conversation.queue).in_(PEER_QUEUES),
            )
        ).first()
        if conversation is None:
            raise NotFound()
        target_alias: str | None = None
        if to_alias is None:
            conversation.claimed_by_id = None
            conversation.claimed_at = None
            kind = "release"
        else:
            target = session.exec(
                select(User).where(
                    User.alias == to_alias,
                    memberships.in_helpline(actor.helpline_id, "volunteer"),
                    col(User.disabled).is_(False),
                )
            ).first()
            if target is None:
                raise UnknownColleague()
            limit = services.policy_for(actor.helpline_id).max_conversations_per_volunteer
            held_now = session.exec(
                select(Conversation.id).where(
                    Conversation.claimed_by_id == target.id, Conversation.status != "closed",
                    Conversation.helpline_id == actor.helpline_id,
                )
            ).all()
            if len(held_now) >= limit and conversation.id not in held_now:
                raise TooManyConversations(limit, colleague=True)
            conversation.claimed_by_id = target.id
            conversation.claimed_at = now
            target_alias = target.alias
            kind = "claim"
        audit_action(services, session, actor, "conversation.handover", conversation.id)
        event = LiveEvent.of(conversation, kind, queue=conversation.queue)
    publish(services, [event])
    logs.event("console.handover", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "claimed_by": target_alias}
