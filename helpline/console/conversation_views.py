"""Reading conversations: the lists (cursor-paged), one conversation with its
history, notes, labels and referrals, saved replies, colleagues, and the
audit of an opening.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from helpline.console import memberships
from helpline.console.conversation_access import (
    MESSAGE_LIMIT,
    PAGE_SIZE,
    VIEWS,
    Actor,
    BadRequest,
    InvalidCursor,
    aliases_of,
    audit_action,
    held_by_colleague,
    iso,
    listed,
    load,
    partner_since,
    require_reader,
    texter_and_key,
)
from helpline.console.conversation_previews import previews
from helpline.console.placeholders import placeholder
from helpline.media.views import media_entry, message_media
from helpline.outbound import read_receipts
from helpline.outbound.conversations import (
    WHATSAPP_WINDOW,
    window_open,
)
from helpline.services import Services
from helpline.store.models import (
    AuditEntry,
    Conversation,
    ConversationLabel,
    MediaItem,
    Message,
    Note,
    Referral,
    SavedReply,
    Texter,
    User,
    UTCDateTime,
)
from helpline.text_input import renderable

# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None



def _encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, shape: Sequence[type]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise InvalidCursor()
    out: list[Any] = []
    for value, kind in zip(values, shape, strict=True):
        if kind is datetime:
            if not isinstance(value, str):
                raise InvalidCursor()
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidCursor() from None
            if moment.tzinfo is None:
                raise InvalidCursor()
            out.append(moment)
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidCursor()
        else:
            out.append(value)
    return out


def _waiting_key() -> ColumnElement[datetime]:
    return func.coalesce(
        Conversation.waiting_since, Conversation.last_message_at, type_=UTCDateTime()
    )


def _item(
    conversation: Conversation,
    pseudonym: str,
    language: str | None,
    last_inbound_at: datetime | None,
    claimed_alias: str | None,
    now: datetime,
) -> dict[str, Any]:
    closes = (
        last_inbound_at + WHATSAPP_WINDOW
        if conversation.channel == "whatsapp" and last_inbound_at is not None
        else None
    )
    waiting = (
        max(0, int((now - conversation.waiting_since).total_seconds()))
        if conversation.waiting_since is not None and conversation.status != "closed"
        else None
    )
    return {
        "id": conversation.id,
        "pseudonym": pseudonym,
        "channel": conversation.channel,
        "queue": conversation.queue,
        "priority": conversation.priority,
        "status": conversation.status,
        "last_message_at": iso(conversation.last_message_at),
        "claimed_by": claimed_alias,
        "window_closes_at": iso(closes),
        "language": language,
        "waiting_since": iso(conversation.waiting_since),
        "waiting_seconds": waiting,
        "practice": conversation.practice,
        "content_warning": conversation.content_warning,
        "held_by_colleague": False,
    }


# What a colleague's held conversation shows of itself: that it exists and who
# holds it, nothing that would tell who the texter is or what they wrote.
_HIDDEN_FROM_COLLEAGUES: dict[str, Any] = {
    "pseudonym": None,
    "language": None,
    "window_closes_at": None,
    "waiting_since": None,
    "waiting_seconds": None,
    "content_warning": False,
    "labels": [],
    "preview": None,
    "held_by_colleague": True,
}


def list_conversations(
    services: Services,
    actor: Actor,
    view: str,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    if view not in VIEWS:
        raise BadRequest("unknown view")
    limit = max(1, min(limit, 200))
    # Two steps: order and cut the narrow conversation rows first, then join
    # the page's few rows (sorting 10,000 joined rows costs several times more).
    query = select(Conversation.id).where(listed(actor))
    if view == "queue":
        query = query.where(Conversation.status != "closed")
        urgent_rank = case((col(Conversation.priority) == "urgent", 0), else_=1)
        waiting_rank = case((col(Conversation.waiting_since).is_(None), 1), else_=0)
        key = (urgent_rank, waiting_rank, _waiting_key(), Conversation.id)
        if cursor:
            rank_u, rank_w, moment, last_id = _decode_cursor(cursor, (int, int, datetime, str))
            query = query.where(
                tuple_(*key)
                > tuple_(
                    literal(rank_u),
                    literal(rank_w),
                    literal(moment, UTCDateTime()),
                    literal(last_id),
                )
            )
        query = query.order_by(*key)
    else:
        if view == "mine":
            query = query.where(
                Conversation.claimed_by_id == actor.user_id, Conversation.status != "closed"
            )
        elif view == "closed":
            query = query.where(Conversation.status == "closed")
        key2 = (Conversation.last_message_at, Conversation.id)
        if cursor:
            moment, last_id = _decode_cursor(cursor, (datetime, str))
            query = query.where(
                tuple_(*key2) < tuple_(literal(moment, UTCDateTime()), literal(last_id))
            )
        query = query.order_by(
            col(Conversation.last_message_at).desc(), col(Conversation.id).desc()
        )
    now = services.now()
    claimer = User.__table__.alias("claimer")  # type: ignore[attr-defined]
    with services.db.read_session() as session:
        ids = list(session.exec(query.limit(limit + 1)).all())
        rows = session.exec(
            select(
                Conversation,
                Texter,
                claimer.c.alias,
            )
            .join(Texter, col(Texter.id) == Conversation.texter_id)
            .outerjoin(claimer, claimer.c.id == Conversation.claimed_by_id)
            .where(col(Conversation.id).in_(ids[:limit]))
        ).all()
        shown = previews(services, session, actor, [(c, t) for c, t, _ in rows])
    position = {conversation_id: n for n, conversation_id in enumerate(ids)}
    rows = sorted(rows, key=lambda row: position[row[0].id])
    items = []
    for c, texter, alias in rows:
        item = _item(c, texter.pseudonym, texter.language, texter.last_inbound_at, alias, now)
        preview = shown.get(c.id)
        item["labels"] = preview.labels if preview else []
        item["preview"] = preview.text if preview else None
        if actor.role == "volunteer" and held_by_colleague(actor, c):
            item.update(_HIDDEN_FROM_COLLEAGUES)
        items.append(item)
    next_cursor = None
    if len(ids) > limit and rows:
        last: Conversation = rows[-1][0]
        if view == "queue":
            next_cursor = _encode_cursor(
                [
                    0 if last.priority == "urgent" else 1,
                    1 if last.waiting_since is None else 0,
                    last.waiting_since or last.last_message_at,
                    last.id,
                ]
            )
        else:
            next_cursor = _encode_cursor([last.last_message_at, last.id])
    return Page(items=items, next_cursor=next_cursor)


# ---------------------------------------------------------------- one conversation


def message_dict(
    services: Services,
    key: bytes | None,
    message: Message,
    authors: dict[str, str],
    media: list[MediaItem] | None = None,
) -> dict[str, Any]:
    body: str | None = None
    if message.body is not None and key is not None:
        # A lone surrogate (a JSON "\ud800" escape in a webhook) is stored
        # exactly but has no UTF-8 form: without this the whole conversation
        # would answer 500. Valid pairs never reach a str as surrogates.
        body = renderable(
            services.vault.open(key, message.body, "messages", "body", message.id)
        )
    if message.author_kind == "user" and message.author_id:
        author: str | None = authors.get(message.author_id, "")
    elif message.author_kind == "bot":
        author = "bot"
    else:
        author = None
    return {
        "id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "body": body,
        "placeholder": placeholder(message.kind, message.direction),
        "created_at": iso(message.created_at),
        "status": message.status,
        "author": author,
        "error_reason": message.error_reason if message.status in ("failed", "held") else None,
        "media": [media_entry(message.conversation_id, item) for item in media or ()],
    }



def get_conversation(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    now = services.now()
    with services.db.read_session() as session:
        conversation = load(session, actor, conversation_id)
        texter, key = texter_and_key(services, session, conversation)
        since = partner_since(session, actor, conversation.id)
        query = select(Message).where(Message.conversation_id == conversation.id)
        if since is not None:
            query = query.where(Message.created_at >= since)
        newest = session.exec(
            # Same instant (a bot reply to the message it answers): "in" first.
            query.order_by(
                col(Message.created_at).desc(), col(Message.direction).desc(), col(Message.id)
            ).limit(MESSAGE_LIMIT + 1)
        ).all()
        truncated = len(newest) > MESSAGE_LIMIT
        messages = list(reversed(newest[:MESSAGE_LIMIT]))
        audience = actor.partner_id if actor.role == "partner" else "peer"
        notes = session.exec(
            select(Note)
            .where(Note.conversation_id == conversation.id, Note.audience == audience)
            .order_by(col(Note.created_at))
        ).all()
        author_ids = {m.author_id for m in messages if m.author_id} | {
            n.author_id for n in notes if n.author_id
        }
        if conversation.claimed_by_id:
            author_ids.add(conversation.claimed_by_id)
        aliases = aliases_of(session, author_ids)
        media_by_message = message_media(session, [m.id for m in messages])
        labels = sorted(
            session.exec(
                select(ConversationLabel.label).where(
                    ConversationLabel.conversation_id == conversation.id
                )
            ).all()
        )
        referrals = session.exec(
            select(Referral)
            .where(Referral.conversation_id == conversation.id)
            .order_by(col(Referral.asked_at))
        ).all()
        referral_list: list[dict[str, Any]] = []
        for referral in referrals:
            if actor.role == "partner" and (
                referral.partner_id != actor.partner_id or referral.state != "accepted"
            ):
                continue
            entry: dict[str, Any] = {
                "id": referral.id,
                "partner": referral.partner_id,
                "state": referral.state,
                "asked_at": iso(referral.asked_at),
                "answered_at": iso(referral.answered_at),
            }
            if referral.note is not None:
                entry["note"] = renderable(
                    services.vault.open(key, referral.note, "referrals", "note", referral.id)
                )
            referral_list.append(entry)
        detail = _item(
            conversation,
            texter.pseudonym,
            texter.language,
            texter.last_inbound_at,
            aliases.get(conversation.claimed_by_id or ""),
            now,
        )
        detail.update(
            {
                "messages": [
                    message_dict(services, key, m, aliases, media_by_message.get(m.id))
                    for m in messages
                ],
                "messages_truncated": truncated,
                "notes": [
                    {
                        "id": n.id,
                        "body": renderable(
                            services.vault.open(key, n.body, "notes", "body", n.id)
                        ),
                        "author": aliases.get(n.author_id or "", ""),
                        "created_at": iso(n.created_at),
                    }
                    for n in notes
                ],
                "labels": labels,
                "referrals": referral_list,
                "claimed_by_me": conversation.claimed_by_id == actor.user_id,
                "stopped": texter.stopped,
                "window_open": window_open(texter, now),
            }
        )
    return detail


def saved_replies(
    services: Services, language: str | None, helpline_id: str
) -> list[dict[str, str]]:
    with services.db.read_session() as session:
        query = (select(SavedReply).where(SavedReply.helpline_id == helpline_id)
                 .order_by(col(SavedReply.title)))
        if language:
            query = query.where(SavedReply.language == language)
        return [
            {
                "id": r.id,
                "language": r.language,
                "title": renderable(r.title),
                "body": renderable(r.body),
            }
            for r in session.exec(query).all()
        ]



OPEN_AUDIT_WINDOW = timedelta(minutes=10)


def record_open(services: Services, actor: Actor, conversation_id: str) -> None:
    """Audit an opening once per user and conversation per ten minutes: the
    page re-reads the conversation on every live event, and those refreshes
    are not new openings (they would drown the log). With the read-receipts
    policy on, the opening (a refresh included: the volunteer has the new
    message in front of them) marks the newest WhatsApp message read."""
    since = services.now() - OPEN_AUDIT_WINDOW
    with services.db.session() as session:
        recent = session.exec(
            select(AuditEntry.id).where(
                AuditEntry.actor_id == actor.user_id,
                AuditEntry.action == "conversation.open",
                AuditEntry.object_ref == conversation_id,
                col(AuditEntry.at) >= since,
            )
        ).first()
        if recent is None:
            audit_action(services, session, actor, "conversation.open", conversation_id)
        receipt = read_receipts.queue_on_open(services, session, conversation_id, services.now())
    if receipt:
        services.wakeup.set()



def colleagues(services: Services, actor: Actor) -> list[str]:
    """Aliases a conversation can be transferred to."""
    require_reader(actor)
    with services.db.read_session() as session:
        # Colleagues in the actor's role in the actor's helpline only.
        query = select(User.alias).where(
            memberships.in_helpline(
                actor.helpline_id, actor.role,
                partner_id=actor.partner_id if actor.role == "partner" else None,
            ),
            col(User.disabled).is_(False), User.id != actor.user_id,
        )
        return sorted(session.exec(query).all())


