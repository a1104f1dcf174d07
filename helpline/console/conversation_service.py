"""Conversations as the console sees them: queries and commands shared by the
JSON API and the HTML pages.

Who may see what is decided here, once, in SQL (`_visible`):

- a volunteer sees the peer queue (and the practice queue) and what they claimed;
- a partner worker sees only conversations with an *accepted* referral to their
  partner, and only the messages from the moment of that yes on (DESIGN
  invariant 5: consent names the partner and "from now on");
- coordinators and admins see no message text at all.

A conversation one may not see is reported as missing (404), never as
forbidden: ids are random, and a different answer would confirm that a
conversation exists.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import and_, case, exists, func, literal, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

import routing
from helpline import logs
from helpline.console import audit
from helpline.errors import Conflict, Forbidden, HelplineError, NotFound
from helpline.lifecycle.deletion import register_texter_table
from helpline.live.bus import LiveEvent
from helpline.outbound.conversations import (
    WHATSAPP_WINDOW,
    queue_outbound,
    request_template,
    window_open,
)
from helpline.outbound.effects import Effects, build_state
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    AuditEntry,
    Conversation,
    ConversationLabel,
    Message,
    Note,
    OutboxItem,
    Referral,
    SavedReply,
    Texter,
    User,
    UTCDateTime,
)

# Erasure and retention delete these with the texter's other rows.
register_texter_table(Note)
register_texter_table(ConversationLabel)

LABELS: tuple[str, ...] = (
    "health",
    "safety",
    "money",
    "housing",
    "legal",
    "police_municipality",
    "work",
    "other",
)
VIEWS = ("queue", "mine", "all", "closed")
View = Literal["queue", "mine", "all", "closed"]
PEER_QUEUES = ("peer", "practice")
MAX_BODY = 4000  # leaves room for the alias signature under WhatsApp's 4096
MAX_NOTE = 4000
MESSAGE_LIMIT = 500
PAGE_SIZE = 50


class Actor(Protocol):
    """The signed-in user, as the console's session dependency provides it."""

    @property
    def user_id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def alias(self) -> str: ...

    @property
    def partner_id(self) -> str | None: ...


class BadRequest(HelplineError):
    status_code = 400
    public_message = "bad request"


class InvalidCursor(BadRequest):
    public_message = "invalid cursor"


class UnknownPartner(BadRequest):
    public_message = "unknown partner"


class UnknownColleague(BadRequest):
    public_message = "no such colleague"


class InvalidLabel(BadRequest):
    public_message = "unknown label"


class EmptyText(BadRequest):
    public_message = "text is empty or too long"


class ConversationClosed(Conflict):
    public_message = "the conversation is closed"


class ClaimedByColleague(Conflict):
    public_message = "a colleague has claimed this conversation"


class NotClaimed(Conflict):
    public_message = "claim the conversation first"


class TooManyConversations(Conflict):
    public_message = "you already hold the maximum number of conversations"


class ReferralNotPossible(Conflict):
    public_message = "this referral cannot be proposed now"


class NotRetryable(Conflict):
    public_message = "only a failed delivery can be retried"


class NoMessageText(Forbidden):
    public_message = "this role does not read conversations"


# ---------------------------------------------------------------- access


def require_reader(actor: Actor) -> None:
    """Coordinators and admins never read message text (403)."""
    if actor.role not in ("volunteer", "partner"):
        raise NoMessageText()
    if actor.role == "partner" and not actor.partner_id:
        raise NoMessageText()


def _accepted_referral(partner_id: str) -> ColumnElement[bool]:
    return exists().where(
        col(Referral.conversation_id) == Conversation.id,
        col(Referral.partner_id) == partner_id,
        col(Referral.state) == "accepted",
    )


def _visible(actor: Actor) -> ColumnElement[bool]:
    require_reader(actor)
    if actor.role == "partner":
        partner = actor.partner_id or ""
        return and_(col(Conversation.queue) == partner, _accepted_referral(partner))
    return or_(
        col(Conversation.queue).in_(PEER_QUEUES),
        col(Conversation.claimed_by_id) == actor.user_id,
    )


def _load(
    session: Session, actor: Actor, conversation_id: str, *, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, _visible(actor))
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Conversation)
    conversation = session.exec(query).first()
    if conversation is None:
        raise NotFound()
    return conversation


def visible_conversation(services: Services, actor: Actor, conversation_id: str) -> bool:
    """For the live stream: may this user see events of this conversation?"""
    if actor.role not in ("volunteer", "partner"):
        return False
    with services.db.session() as session:
        return (
            session.exec(
                select(Conversation.id).where(
                    Conversation.id == conversation_id, _visible(actor)
                )
            ).first()
            is not None
        )


def partner_since(session: Session, actor: Actor, conversation_id: str) -> datetime | None:
    """The moment of the partner's yes: a partner reads nothing from before."""
    if actor.role != "partner":
        return None
    answered = session.exec(
        select(func.min(Referral.answered_at)).where(
            Referral.conversation_id == conversation_id,
            Referral.partner_id == actor.partner_id,
            Referral.state == "accepted",
        )
    ).first()
    if answered is None:
        # Visible implies accepted; an accepted referral without a time is a bug:
        # fail closed rather than show the whole history.
        raise NotFound()
    return answered


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


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
        "last_message_at": _iso(conversation.last_message_at),
        "claimed_by": claimed_alias,
        "window_closes_at": _iso(closes),
        "language": language,
        "waiting_since": _iso(conversation.waiting_since),
        "waiting_seconds": waiting,
        "practice": conversation.practice,
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
    query = select(Conversation.id).where(_visible(actor))
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
    with services.db.session() as session:
        ids = list(session.exec(query.limit(limit + 1)).all())
        rows = session.exec(
            select(  # type: ignore[call-overload]
                Conversation,
                Texter.pseudonym,
                Texter.language,
                Texter.last_inbound_at,
                claimer.c.alias,
            )
            .join(Texter, col(Texter.id) == Conversation.texter_id)
            .outerjoin(claimer, claimer.c.id == Conversation.claimed_by_id)
            .where(col(Conversation.id).in_(ids[:limit]))
        ).all()
    position = {conversation_id: n for n, conversation_id in enumerate(ids)}
    rows = sorted(rows, key=lambda row: position[row[0].id])
    items = [_item(c, p, lang, inbound, alias, now) for c, p, lang, inbound, alias in rows]
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

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _message_dict(
    services: Services,
    key: bytes | None,
    message: Message,
    authors: dict[str, str],
) -> dict[str, Any]:
    body: str | None = None
    if message.body is not None and key is not None:
        body = services.vault.open(key, message.body, "messages", "body", message.id)
        # A lone surrogate (a JSON "\ud800" escape in a webhook) is stored
        # exactly but has no UTF-8 form: without this the whole conversation
        # would answer 500. Valid pairs never reach a str as surrogates.
        body = _LONE_SURROGATE.sub("\ufffd", body)
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
        "created_at": _iso(message.created_at),
        "status": message.status,
        "author": author,
        "error_reason": message.error_reason if message.status in ("failed", "held") else None,
    }


def _aliases(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.exec(select(User.id, User.alias).where(col(User.id).in_(ids))).all()
    return dict(rows)


def _texter_and_key(
    services: Services, session: Session, conversation: Conversation
) -> tuple[Texter, bytes]:
    texter = session.get(Texter, conversation.texter_id)
    if texter is None:
        raise NotFound()
    return texter, services.vault.key(session, texter.data_key_id)


def get_conversation(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id)
        texter, key = _texter_and_key(services, session, conversation)
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
        aliases = _aliases(session, author_ids)
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
                "asked_at": _iso(referral.asked_at),
                "answered_at": _iso(referral.answered_at),
            }
            if referral.note is not None:
                entry["note"] = services.vault.open(
                    key, referral.note, "referrals", "note", referral.id
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
                "messages": [_message_dict(services, key, m, aliases) for m in messages],
                "messages_truncated": truncated,
                "notes": [
                    {
                        "id": n.id,
                        "body": services.vault.open(key, n.body, "notes", "body", n.id),
                        "author": aliases.get(n.author_id or "", ""),
                        "created_at": _iso(n.created_at),
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


def saved_replies(services: Services, language: str | None) -> list[dict[str, str]]:
    with services.db.session() as session:
        query = select(SavedReply).order_by(col(SavedReply.title))
        if language:
            query = query.where(SavedReply.language == language)
        return [
            {"id": r.id, "language": r.language, "title": r.title, "body": r.body}
            for r in session.exec(query).all()
        ]


# ---------------------------------------------------------------- commands


def _publish(services: Services, events: list[LiveEvent]) -> None:
    for event in events:
        services.bus.publish(event)


def _held_count(session: Session, user_id: str) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.claimed_by_id == user_id, Conversation.status != "closed")
        ).one()
    )


def _lock_user(session: Session, user_id: str) -> None:
    """Serialise one user's claims, so two tabs cannot exceed the maximum."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(User.id).where(User.id == user_id).with_for_update())


def _audit(
    services: Services, session: Session, actor: Actor, action: str, object_ref: str | None
) -> None:
    audit.record(session, actor.user_id, action, object_ref, services.now())


OPEN_AUDIT_WINDOW = timedelta(minutes=10)


def record_open(services: Services, actor: Actor, conversation_id: str) -> None:
    """Audit an opening once per user and conversation per ten minutes: the
    page re-reads the conversation on every live event, and those refreshes
    are not new openings (they would drown the log)."""
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
            _audit(services, session, actor, "conversation.open", conversation_id)


def claim(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        _lock_user(session, actor.user_id)
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id not in (None, actor.user_id):
            raise ClaimedByColleague()
        if conversation.claimed_by_id is None:
            limit = services.policy.max_conversations_per_volunteer
            if _held_count(session, actor.user_id) >= limit:
                raise TooManyConversations()
            conversation.claimed_by_id = actor.user_id
            conversation.claimed_at = now
        event = LiveEvent(kind="claim", conversation=conversation.id, queue=conversation.queue)
    _publish(services, [event])
    logs.event("console.claim", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "claimed_by": actor.alias}


def release(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        conversation.claimed_by_id = None
        conversation.claimed_at = None
        event = LiveEvent(kind="release", conversation=conversation.id, queue=conversation.queue)
    _publish(services, [event])
    logs.event("console.release", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "claimed_by": None}


def transfer(
    services: Services, actor: Actor, conversation_id: str, to_alias: str
) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        target = session.exec(
            select(User).where(User.alias == to_alias, col(User.disabled).is_(False))
        ).first()
        if target is None or target.id == actor.user_id or target.role != actor.role:
            raise UnknownColleague()
        if actor.role == "partner" and target.partner_id != actor.partner_id:
            raise UnknownColleague()
        _lock_user(session, target.id)
        if _held_count(session, target.id) >= services.policy.max_conversations_per_volunteer:
            raise TooManyConversations("the colleague holds the maximum already")
        conversation.claimed_by_id = target.id
        conversation.claimed_at = now
        event = LiveEvent(kind="claim", conversation=conversation.id, queue=conversation.queue)
        target_alias = target.alias
        _audit(services, session, actor, "conversation.transfer", conversation.id)
    _publish(services, [event])
    return {"id": conversation_id, "claimed_by": target_alias}


def _clean_text(text: object, limit: int) -> str:
    if not isinstance(text, str):
        raise EmptyText()
    cleaned = text.strip()
    if not cleaned or len(cleaned) > limit:
        raise EmptyText()
    return cleaned


def send_message(
    services: Services, actor: Actor, conversation_id: str, body: object
) -> dict[str, Any]:
    text = _clean_text(body, MAX_BODY)
    if services.policy.sign_replies_with_alias:
        text = f"{text}\n— {actor.alias}"
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        texter, key = _texter_and_key(services, session, conversation)
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
        _audit(services, session, actor, "message.reply", conversation.id)
        result = _message_dict(services, key, message, {actor.user_id: actor.alias})
        event = LiveEvent(kind="message", conversation=conversation.id, message=message.id,
                          queue=conversation.queue)
    _publish(services, [event])
    services.wakeup.set()
    logs.event("console.reply", conversation=conversation_id, message=result["id"],
               user=actor.user_id)
    return result


def retry_message(
    services: Services, actor: Actor, conversation_id: str, message_id: str
) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        message = session.get(Message, message_id)
        if message is None or message.conversation_id != conversation.id:
            raise NotFound()
        item = session.exec(select(OutboxItem).where(OutboxItem.message_id == message.id)).first()
        if message.status != "failed" or item is None or item.state != "failed":
            raise NotRetryable()
        texter, key = _texter_and_key(services, session, conversation)
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
        result = _message_dict(services, key, message, _aliases(session, {message.author_id or ""}))
        event = LiveEvent(kind="status", conversation=conversation.id, message=message.id,
                          state=message.status)
    _publish(services, [event])
    services.wakeup.set()
    logs.event("console.retry", conversation=conversation_id, message=message_id,
               user=actor.user_id)
    return result


def close(services: Services, actor: Actor, conversation_id: str) -> dict[str, Any]:
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.claimed_by_id not in (None, actor.user_id):
            raise ClaimedByColleague()
        if conversation.status != "closed":
            conversation.status = "closed"
            conversation.closed_at = now
            conversation.waiting_since = None
            counting.record_closed(services, session, conversation, now)
        event = LiveEvent(kind="close", conversation=conversation.id, queue=conversation.queue)
        _audit(services, session, actor, "conversation.close", conversation.id)
    _publish(services, [event])
    logs.event("console.close", conversation=conversation_id, user=actor.user_id)
    return {"id": conversation_id, "status": "closed"}


def propose_referral(
    services: Services, actor: Actor, conversation_id: str, partner: object, note: object
) -> dict[str, Any]:
    """Ask the texter, through the policy, whether to share with `partner`.

    Only the consent question leaves here. The partner sees nothing until the
    texter's yes turns the referral `accepted` (in intake, via `Effects`).
    """
    if actor.role != "volunteer":
        raise ReferralNotPossible()
    if not isinstance(partner, str) or services.policy.partner(partner) is None:
        raise UnknownPartner()
    note_text = None
    if note is not None and not (isinstance(note, str) and not note.strip()):
        note_text = _clean_text(note, MAX_NOTE)
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed" or conversation.practice:
            raise ConversationClosed()
        if conversation.claimed_by_id not in (None, actor.user_id):
            raise ClaimedByColleague()
        texter, key = _texter_and_key(services, session, conversation)
        state = build_state(session, texter, conversation, is_new_texter=False,
                            had_conversation=True)
        actions = routing.decide(
            state, routing.model.ReferralProposed(partner), now=now, policy=services.policy
        )
        if not any(isinstance(a, routing.model.AskConsent) for a in actions):
            raise ReferralNotPossible()
        effects = Effects(services, session, texter, conversation, key, now,
                          proposed_by_id=actor.user_id, note=note_text)
        effects.apply(actions)
        session.flush()
        _audit(services, session, actor, "referral.propose", conversation.id)
        live = list(effects.live)
        outbound = effects.outbound
    _publish(services, live)
    if outbound:
        services.wakeup.set()
    logs.event("console.referral", conversation=conversation_id, partner=partner,
               user=actor.user_id)
    return {"conversation": conversation_id, "partner": partner, "state": "asked"}


def add_note(
    services: Services, actor: Actor, conversation_id: str, body: object
) -> dict[str, Any]:
    text = _clean_text(body, MAX_NOTE)
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id)
        _, key = _texter_and_key(services, session, conversation)
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
        _audit(services, session, actor, "note.add", conversation.id)
        return {"id": note.id, "body": text, "author": actor.alias, "created_at": _iso(now)}


def set_labels(
    services: Services, actor: Actor, conversation_id: str, labels: object
) -> dict[str, Any]:
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InvalidLabel()
    wanted = set(labels)
    if not wanted <= set(LABELS):
        raise InvalidLabel()
    now = services.now()
    with services.db.session() as session:
        conversation = _load(session, actor, conversation_id, for_update=True)
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


def colleagues(services: Services, actor: Actor) -> list[str]:
    """Aliases a conversation can be transferred to."""
    require_reader(actor)
    with services.db.session() as session:
        query = select(User.alias).where(
            User.role == actor.role, col(User.disabled).is_(False), User.id != actor.user_id
        )
        if actor.role == "partner":
            query = query.where(User.partner_id == actor.partner_id)
        return sorted(session.exec(query).all())


__all__ = [
    "LABELS",
    "VIEWS",
    "Actor",
    "Page",
    "View",
    "add_note",
    "claim",
    "close",
    "colleagues",
    "get_conversation",
    "list_conversations",
    "propose_referral",
    "release",
    "retry_message",
    "saved_replies",
    "send_message",
    "set_labels",
    "transfer",
    "visible_conversation",
]
