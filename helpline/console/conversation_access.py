"""Conversations as the console sees them: who may see what, the errors, and
the helpers the queries and commands share.

Who may see what is decided here, once, in SQL (`visible`):

- a volunteer reads the unclaimed part of the peer queue (and the practice
  queue) and what they hold themselves; a conversation a colleague holds is
  listed (that it exists and who holds it) but its content, notes and actions
  are the holder's until it is released, transferred or handed over by a
  coordinator (`listed` against `visible`);
- a partner worker sees only conversations with an *accepted* referral to their
  partner, and only the messages from the moment of that yes on (DESIGN
  invariant 5: consent names the partner and "from now on");
- coordinators and admins see no message text at all.

A conversation one may not see is reported as missing (404), never as
forbidden: ids are random, and a different answer would confirm that a
conversation exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from helpline.console import audit
from helpline.errors import Conflict, Forbidden, HelplineError, NotFound
from helpline.lifecycle.deletion import register_texter_table
from helpline.live.bus import LiveEvent
from helpline.services import Services
from helpline.store.models import (
    Conversation,
    ConversationLabel,
    Note,
    Referral,
    Texter,
    User,
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

    @property
    def helpline_id(self) -> str: ...


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
    """The policy's cap on conversations one person holds at once: a peer who
    answers eight people in crisis at once answers none of them well, and
    carries it home (issue 18, volunteer wellbeing). The answer names the
    limit so the console can say what to do instead of "conflict"."""

    code = "too_many_conversations"

    def __init__(self, limit: int, *, colleague: bool = False) -> None:
        self.limit = limit
        self.code = "too_many_conversations_colleague" if colleague else self.code
        self.public_message = (
            f"the colleague already holds {limit} conversations, the most one person "
            "may hold at once"
            if colleague
            else f"you already hold {limit} conversations, the most one person may hold "
            "at once: close or release one before you claim another"
        )
        super().__init__(self.public_message)

    def details(self) -> dict[str, object]:
        return {"code": self.code, "limit": self.limit}


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


def listed(actor: Actor) -> ColumnElement[bool]:
    """What appears in the actor's lists: for a volunteer also what a colleague
    holds, shown without content (`held_by_colleague`)."""
    require_reader(actor)
    # The actor's helpline first: nothing of another helpline is ever listed,
    # whatever the queue or claim says (issue 17).
    mine = col(Conversation.helpline_id) == actor.helpline_id
    if actor.role == "partner":
        partner = actor.partner_id or ""
        return and_(mine, col(Conversation.queue) == partner, _accepted_referral(partner))
    return and_(mine, or_(
        col(Conversation.queue).in_(PEER_QUEUES),
        col(Conversation.claimed_by_id) == actor.user_id,
    ))


def visible(actor: Actor) -> ColumnElement[bool]:
    """What the actor may read and act on. A colleague's claim closes a
    conversation to other volunteers (privacy.md §7.3): the texter confided in
    one peer, not in the whole group."""
    require_reader(actor)
    if actor.role == "partner":
        return listed(actor)
    return and_(col(Conversation.helpline_id) == actor.helpline_id, or_(
        and_(
            col(Conversation.queue).in_(PEER_QUEUES),
            col(Conversation.claimed_by_id).is_(None),
        ),
        col(Conversation.claimed_by_id) == actor.user_id,
    ))


def held_by_colleague(actor: Actor, conversation: Conversation) -> bool:
    return conversation.claimed_by_id is not None and conversation.claimed_by_id != actor.user_id


def load(
    session: Session,
    actor: Actor,
    conversation_id: str,
    *,
    for_update: bool = False,
    listed_only: bool = False,
) -> Conversation:
    """The conversation if the actor may act on it, else NotFound. With
    `listed_only` also a colleague's (for claim, which answers that a
    colleague holds it: the list shows that already)."""
    rule = listed(actor) if listed_only else visible(actor)
    query = select(Conversation).where(Conversation.id == conversation_id, rule)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Conversation)
    conversation = session.exec(query).first()
    if conversation is None:
        raise NotFound()
    return conversation


def visible_conversation(services: Services, actor: Actor, conversation_id: str) -> bool:
    """For the live stream: may this user see events of this conversation?
    Events carry ids only; a colleague's held conversation stays in the
    stream so its row in the list can move (its content stays closed)."""
    if actor.role not in ("volunteer", "partner"):
        return False
    with services.db.read_session() as session:
        return (
            session.exec(
                select(Conversation.id).where(
                    Conversation.id == conversation_id, listed(actor)
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



def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def aliases_of(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.exec(select(User.id, User.alias).where(col(User.id).in_(ids))).all()
    return dict(rows)


def texter_and_key(
    services: Services, session: Session, conversation: Conversation
) -> tuple[Texter, bytes]:
    texter = session.get(Texter, conversation.texter_id)
    if texter is None:
        raise NotFound()
    return texter, services.vault.key(session, texter.data_key_id)


def publish(services: Services, events: list[LiveEvent]) -> None:
    for event in events:
        services.bus.publish(event)


def audit_action(
    services: Services, session: Session, actor: Actor, action: str, object_ref: str | None
) -> None:
    audit.record(session, actor.user_id, action, object_ref, services.now(),
                 helpline_id=actor.helpline_id)


def clean_text(text: object, limit: int) -> str:
    if not isinstance(text, str):
        raise EmptyText()
    cleaned = text.strip()
    if not cleaned or len(cleaned) > limit:
        raise EmptyText()
    return cleaned

