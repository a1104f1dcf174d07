"""What the visitor's page shows: their conversation read from the database.

Used when the page opens, when its event stream (re)connects, and by the
fallback poll when a network blocks event streams. Replies still waiting in
the outbox are left out: the page shows what was delivered, as a phone would.
Every message of the texter is shown, also those of earlier (closed)
conversations, until retention or erasure deletes them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from helpline.channels.base import ChannelName
from helpline.helplines import HelplineConfig
from helpline.services import Services
from helpline.store.models import Conversation, Message, OutboxItem, Texter

SHOWN = ("sent", "delivered", "read")
MAX_SHOWN = 200  # the newest; a page is no archive


def find_texter(session: Session, helpline: HelplineConfig, visitor: str) -> Texter | None:
    """The visitor's texter at this helpline (its own blind-index domain)."""
    blind = helpline.index.compute(ChannelName.WEBCHAT.value, visitor)
    found: Texter | None = session.exec(
        select(Texter).where(Texter.blind_index == blind,
                             Texter.helpline_id == helpline.id)).first()
    return found


def texter_id(services: Services, helpline: HelplineConfig, visitor: str) -> str | None:
    with services.db.read_session() as session:
        texter = find_texter(session, helpline, visitor)
        return texter.id if texter is not None else None


def owner_of(services: Services, conversation_id: str) -> str | None:
    with services.db.read_session() as session:
        conversation = session.get(Conversation, conversation_id)
        return conversation.texter_id if conversation is not None else None


def transcript(services: Services, helpline: HelplineConfig, visitor: str) -> dict[str, Any]:
    with services.db.read_session() as session:
        texter = find_texter(session, helpline, visitor)
        if texter is None:
            return {"active": False, "language": None, "messages": []}
        key = services.vault.key(session, texter.data_key_id)
        rows = list(session.exec(
            select(Message)
            .where(Message.texter_id == texter.id)
            .order_by(col(Message.created_at).desc(), col(Message.direction).desc())
            .limit(MAX_SHOWN)
        ).all())
        rows.reverse()
        shown = [m for m in rows if m.direction == "in" or m.status in SHOWN]
        buttons = _buttons(session, [m.id for m in shown if m.direction == "out"])
        messages = [
            {
                "ref": m.provider_ref if m.direction == "out" and m.provider_ref else m.id,
                "direction": m.direction,
                "body": (services.vault.open(key, m.body, "messages", "body", m.id)
                         if m.body is not None else ""),
                "at": m.created_at.isoformat(),
                "buttons": buttons.get(m.id, []),
            }
            for m in shown
        ]
        return {"active": True, "language": texter.language, "messages": messages}


def _buttons(session: Session, message_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    if not message_ids:
        return {}
    found: dict[str, list[dict[str, str]]] = {}
    for item in session.exec(
        select(OutboxItem).where(col(OutboxItem.message_id).in_(message_ids))
    ).all():
        if item.message_id and item.buttons:
            try:
                pairs = json.loads(item.buttons)
            except ValueError:
                continue
            found[item.message_id] = [{"id": str(p[0]), "title": str(p[1])}
                                      for p in pairs if len(p) == 2]
    return found
