"""What a queue row shows of a conversation so a volunteer can choose one:
its topics and the first line of the texter's newest message.

Only for rows the reader may open (`conversation_access.visible`): a
colleague's held conversation is listed without a word of it, a partner
worker sees nothing written before the texter's yes to their partner, and a
conversation under a content warning shows its topics but no line. The
texter's own newest message is used, not the newest message of all: after a
first message the newest is the bot's long welcome, which tells a volunteer
nothing about what the texter asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from helpline.console.conversation_access import Actor, held_by_colleague, partner_since
from helpline.services import Services
from helpline.store.models import Conversation, ConversationLabel, Message, Texter
from helpline.store.vault import DataKeyMissing
from helpline.text_input import renderable

PREVIEW_CHARS = 120


@dataclass(frozen=True)
class Preview:
    labels: list[str]
    text: str | None


def first_line(body: str, limit: int = PREVIEW_CHARS) -> str:
    """The first non-empty line, cut at a word near `limit` characters."""
    line = next((part.strip() for part in body.splitlines() if part.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,.;:") + "…"


def previews(
    services: Services,
    session: Session,
    actor: Actor,
    rows: Sequence[tuple[Conversation, Texter]],
) -> dict[str, Preview]:
    """Labels and newest-message line for each readable conversation of a page."""
    # The same rule as the list's: a volunteer's colleague-held row is listed
    # bare; partners share their partner's conversations (`visible` = `listed`).
    readable = {
        c.id: t for c, t in rows
        if not (actor.role == "volunteer" and held_by_colleague(actor, c))
    }
    # A content warning hides the messages until the reader chooses to see
    # them (helpline/console/content_warnings.py): the row must not show one.
    warned = {c.id for c, _ in rows if c.content_warning}
    if not readable:
        return {}
    ids = list(readable)
    labels: dict[str, list[str]] = {cid: [] for cid in ids}
    for cid, label in session.exec(
        select(ConversationLabel.conversation_id, ConversationLabel.label)
        .where(col(ConversationLabel.conversation_id).in_(ids))
        .order_by(col(ConversationLabel.label))
    ).all():
        labels[cid].append(label)
    newest = _newest_inbound(session, ids)
    out: dict[str, Preview] = {}
    for cid, texter in readable.items():
        message = newest.get(cid)
        text = None
        if cid in warned:
            pass
        elif message is not None and _readable_by(session, actor, cid, message):
            text = _open(services, session, texter, message)
        out[cid] = Preview(labels=labels[cid], text=text)
    return out


def _newest_inbound(session: Session, ids: list[str]) -> dict[str, Message]:
    newest_at = (
        select(
            col(Message.conversation_id).label("cid"),
            func.max(Message.created_at).label("at"),
        )
        .where(
            col(Message.conversation_id).in_(ids),
            col(Message.direction) == "in",
            col(Message.body).is_not(None),
        )
        .group_by(col(Message.conversation_id))
        .subquery()
    )
    found: dict[str, Message] = {}
    for message in session.exec(
        select(Message)
        .join(
            newest_at,
            (col(Message.conversation_id) == newest_at.c.cid)
            & (col(Message.created_at) == newest_at.c.at),
        )
        .where(col(Message.direction) == "in", col(Message.body).is_not(None))
        .order_by(col(Message.id))
    ).all():
        found.setdefault(message.conversation_id, message)
    return found


def _readable_by(session: Session, actor: Actor, cid: str, message: Message) -> bool:
    since = partner_since(session, actor, cid)
    return since is None or message.created_at >= since


def _open(services: Services, session: Session, texter: Texter, message: Message) -> str | None:
    if message.body is None:
        return None
    try:
        key = services.vault.key(session, texter.data_key_id)
        body = services.vault.open(key, message.body, "messages", "body", message.id)
    except DataKeyMissing:
        # An erased texter's key is gone: the row stays listed, without a line.
        return None
    return first_line(renderable(body))
