"""Conversation operations shared by intake (bot replies) and the console
(volunteer replies): opening conversations and queueing outbound messages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert
from sqlmodel import Session, SQLModel, select

from helpline.channels.base import ChannelName
from helpline.errors import Conflict
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import Conversation, Message, OutboxItem, Texter, new_id

# https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows
WHATSAPP_WINDOW = timedelta(hours=24)


class TexterStopped(Conflict):
    public_message = "the texter asked for no more messages until they write again"


def window_closes_at(texter: Texter) -> datetime | None:
    """When free text can no longer be sent (WhatsApp only)."""
    if texter.channel != ChannelName.WHATSAPP or texter.last_inbound_at is None:
        return None
    return texter.last_inbound_at + WHATSAPP_WINDOW


def window_open(texter: Texter, now: datetime) -> bool:
    closes = window_closes_at(texter)
    return closes is None or now < closes


_CURRENT = (
    select(Conversation)
    .where(Conversation.texter_id == bindparam("texter"), Conversation.status != "closed")
    .order_by(Conversation.created_at.desc())  # type: ignore[attr-defined]
)


def current_conversation(session: Session, texter: Texter) -> Conversation | None:
    return session.exec(_CURRENT, params={"texter": texter.id}).first()


def latest_conversation(session: Session, texter: Texter) -> Conversation | None:
    return session.exec(
        select(Conversation)
        .where(Conversation.texter_id == texter.id)
        .order_by(Conversation.created_at.desc())  # type: ignore[attr-defined]
    ).first()


def open_conversation(session: Session, texter: Texter, now: datetime) -> Conversation:
    conversation = Conversation(
        helpline_id=texter.helpline_id,
        texter_id=texter.id,
        channel=texter.channel,
        created_at=now,
        last_message_at=now,
        practice=texter.practice,
        queue="practice" if texter.practice else "peer",
    )
    session.add(conversation)
    session.flush()
    return conversation


def _insert(session: Session, row: SQLModel) -> None:
    """Insert a new row with one Core statement instead of a unit-of-work
    flush (a flush per reply was about a third of a new texter's first
    message: `benchmarks/profile_intake.py`). The object stays outside the
    session, so nothing flushes it again; rows it refers to that are still
    pending in the session go first."""
    if session.new:
        session.flush()
    table = row.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        insert(table), {column.name: getattr(row, column.name) for column in table.columns}
    )


def queue_outbound(
    services: Services,
    session: Session,
    *,
    texter: Texter,
    conversation: Conversation,
    text: str,
    key: bytes,
    now: datetime,
    author_kind: str = "bot",
    author_id: str | None = None,
    buttons: list[tuple[str, str]] | None = None,
    kind: str = "text",
) -> Message:
    """Store an outbound message and its outbox row in the caller's transaction.

    Outside WhatsApp's 24 h window free text cannot be delivered: the reply is
    held (and goes out when the texter writes again) and, once per closed
    window, the configured neutral template asks the texter to write back.
    """
    if texter.stopped and author_kind == "user":
        raise TexterStopped()
    message_id = new_id()
    is_open = window_open(texter, now)
    message = Message(
        id=message_id,
        conversation_id=conversation.id,
        texter_id=texter.id,
        direction="out",
        kind=kind,
        body=services.vault.seal(key, text, "messages", "body", message_id),
        author_kind=author_kind,
        author_id=author_id,
        status="queued" if is_open else "held",
        created_at=now,
        status_at=now,
    )
    _insert(session, message)
    _insert(
        session,
        OutboxItem(
            message_id=message.id,
            texter_id=texter.id,
            channel=texter.channel,
            kind="text",
            state="pending" if is_open else "held",
            next_attempt_at=now,
            buttons=json.dumps(buttons) if buttons else None,
            created_at=now,
        ),
    )
    conversation.last_message_at = now
    if author_kind == "user":
        if conversation.first_response_at is None:
            counting.record_first_answer(services, session, conversation, now)
            conversation.first_response_at = now
        conversation.waiting_since = None
    if not is_open:
        request_template(services, session, texter, now)
    return message


def request_template(services: Services, session: Session, texter: Texter, now: datetime) -> None:
    """Queue the neutral re-engagement template, once per closed window."""
    if not services.settings.whatsapp_template or texter.channel != ChannelName.WHATSAPP:
        return
    since = texter.last_inbound_at
    existing = session.exec(
        select(OutboxItem).where(
            OutboxItem.texter_id == texter.id,
            OutboxItem.kind == "template",
            OutboxItem.state.in_(("pending", "sending", "sent")),  # type: ignore[attr-defined]
            OutboxItem.created_at >= since if since is not None else True,
        )
    ).first()
    if existing is not None:
        return
    session.add(
        OutboxItem(
            texter_id=texter.id,
            channel=texter.channel,
            kind="template",
            state="pending",
            next_attempt_at=now,
            created_at=now,
        )
    )


_ANY_HELD = (
    select(OutboxItem.id)
    .where(OutboxItem.texter_id == bindparam("texter"), OutboxItem.state == "held")
    .limit(1)
)


def release_held(
    session: Session, texter: Texter, now: datetime, *, held: bool | None = None
) -> int:
    """The texter wrote: the 24 h window is open again, send what was held.
    `held` is whether anything is, when the caller already read it (intake
    reads it for a whole batch)."""
    if held is False:
        return 0
    # Held rows were committed earlier; flushing the rows intake is still
    # building first would only cost time on the webhook's hot path, and so
    # would an ORM query for the usual answer "nothing held".
    if held is None and (
        session.connection().execute(_ANY_HELD, {"texter": texter.id}).first() is None
    ):
        return 0
    with session.no_autoflush:
        rows = session.exec(
            select(OutboxItem).where(
                OutboxItem.texter_id == texter.id, OutboxItem.state == "held"
            )
        ).all()
    for item in rows:
        item.state = "pending"
        item.next_attempt_at = now
        item.attempts = 0
        if item.message_id:
            message = session.get(Message, item.message_id)
            if message is not None:
                message.status = "queued"
                message.status_at = now
    return len(rows)
