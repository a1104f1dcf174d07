"""What volunteers keep about a conversation: sealed notes and topic labels.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from helpline.console.conversation_access import (
    LABELS,
    MAX_NOTE,
    Actor,
    InvalidLabel,
    audit_action,
    clean_text,
    iso,
    load,
    texter_and_key,
)
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    ConversationLabel,
    Note,
)


def add_note(
    services: Services, actor: Actor, conversation_id: str, body: object
) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id)
        text = clean_text(body, MAX_NOTE)
        _, key = texter_and_key(services, session, conversation)
        note = Note(
            conversation_id=conversation.id,
            texter_id=conversation.texter_id,
            author_id=actor.user_id,
            audience=(actor.partner_id or "") if actor.role == "partner" else "peer",
            created_at=now,
            body=b"",
        )
        note.body = services.vault.seal(key, text, "notes", "body", note.id)
        session.add(note)
        audit_action(services, session, actor, "note.add", conversation.id)
        return {"id": note.id, "body": text, "author": actor.alias, "created_at": iso(now)}


def set_labels(
    services: Services, actor: Actor, conversation_id: str, labels: object
) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        # Permission first (404 alike for missing and not visible), then the labels.
        conversation = load(session, actor, conversation_id, for_update=True)
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise InvalidLabel()
        wanted = set(labels)
        if not wanted <= set(LABELS):
            raise InvalidLabel()
        existing = {
            row.label: row
            for row in session.exec(
                select(ConversationLabel).where(
                    ConversationLabel.conversation_id == conversation.id
                )
            ).all()
        }
        for label, row in existing.items():
            if label not in wanted:
                session.delete(row)
        for label in wanted - set(existing):
            counting.record_label(services, session, conversation, label)
            session.add(
                ConversationLabel(
                    conversation_id=conversation.id,
                    texter_id=conversation.texter_id,
                    label=label,
                    created_at=now,
                )
            )
    return {"id": conversation_id, "labels": sorted(wanted)}


