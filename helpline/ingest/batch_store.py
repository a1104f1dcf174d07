"""Intake's reads and writes for a whole batch: one statement per table.

Why: on PostgreSQL every statement is a round trip to a server that shares
the machine's cores, and the processor waited on those more than it computed.
Message by message a batch of 32 returning texters took 225 statements
(seven per message); read and written per batch it takes six, whatever the
batch's size (tests/ingest/test_batch_statements.py counts them).

What `helpline/ingest/intake.py` still decides per message and in order,
exactly as before; what this module does for the whole batch at once:

- the dedup keys of its messages: one INSERT ... ON CONFLICT DO NOTHING
  RETURNING (the first delivery of an id in the batch is new, the rest
  duplicates);
- the texters known by their one identifier, each with their wrapped data
  key, open conversation, whether a reply to them is held and whether that
  conversation has an accepted referral: one SELECT (FOR UPDATE of texters on
  PostgreSQL, after the batch's texter locks);
- the inbound message rows and the activity times of texters and
  conversations: collected while the batch is decided and written with one
  statement each (`Pending.write`) before anything that could read or delete
  them: the slow path for a new or many-identifier texter, an action other
  than those in `DEFERRABLE` (an erasure deletes the texter's messages), the
  commit.

A texter's second message in one batch, a new texter and a delivery showing
several identifiers take the message-by-message path (intake's
`find_or_create_texter`), after the pending writes: what they read is then
what they would have read alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, exists, insert, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col

from helpline.channels.base import InboundEvent, InboundMessage
from helpline.helplines import HelplineConfig
from helpline.ingest.texters import blind_indexes
from helpline.services import Services
from helpline.store.models import Conversation, DataKey, DedupKey, Texter, naive_utc
from routing import model as r

_MESSAGES = SQLModel.metadata.tables["messages"]
_TEXTERS = SQLModel.metadata.tables["texters"]
_CONVERSATIONS = SQLModel.metadata.tables["conversations"]
_OUTBOX = SQLModel.metadata.tables["outbox"]
_REFERRALS = SQLModel.metadata.tables["referrals"]

# Actions whose effects neither read nor delete the batch's pending rows: the
# message rows and activity times may still be written after them.
DEFERRABLE = (r.Reply, r.NoteAfterHours, r.Enqueue, r.MarkUrgent, r.SetLanguage,
              r.SetPending, r.ClearPending, r.Stop, r.Resume)

_DEDUP = {
    name: insert_(DedupKey).on_conflict_do_nothing().returning(col(DedupKey.key))
    for name, insert_ in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}

_HELD = exists().where(_OUTBOX.c.texter_id == Texter.id, _OUTBOX.c.state == "held")
_REFERRED = exists().where(_REFERRALS.c.conversation_id == Conversation.id,
                           _REFERRALS.c.state == "accepted")
# Newest open conversation first within each texter (the first row wins).
_TEXTERS_WITH_KEYS = (
    sa_select(Texter, col(DataKey.wrapped), Conversation, _HELD.label("held"),
           _REFERRED.label("referred"))
    .outerjoin(DataKey, col(DataKey.id) == Texter.data_key_id)
    .outerjoin(
        Conversation,
        and_(col(Conversation.texter_id) == Texter.id, col(Conversation.status) != "closed"),
    )
    .where(col(Texter.blind_index).in_(bindparam("blinds", expanding=True)))
    .order_by(col(Texter.id), col(Conversation.created_at).desc())
)
_TEXTERS_WITH_KEYS_LOCKED = _TEXTERS_WITH_KEYS.with_for_update(of=Texter)

# PostgreSQL: one UPDATE for the batch's activity times, the values as arrays.
_TOUCH_TEXTERS_PG = text(
    "UPDATE texters SET last_activity_at = v.at, last_inbound_at = v.at "
    "FROM unnest(CAST(:ids AS varchar[]), CAST(:ats AS timestamp[])) AS v(id, at) "
    "WHERE texters.id = v.id"
)
_TOUCH_CONVERSATIONS_PG = text(
    "UPDATE conversations SET last_message_at = v.at "
    "FROM unnest(CAST(:ids AS varchar[]), CAST(:ats AS timestamp[])) AS v(id, at) "
    "WHERE conversations.id = v.id"
)
# SQLite (in process, no round trips): one executemany each.
_TOUCH_TEXTERS = (
    update(_TEXTERS).where(_TEXTERS.c.id == bindparam("row"))
    .values(last_activity_at=bindparam("at"), last_inbound_at=bindparam("at"))
)
_TOUCH_CONVERSATIONS = (
    update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == bindparam("row"))
    .values(last_message_at=bindparam("at"))
)


class Known(NamedTuple):
    """A returning texter as the batch's SELECT found them."""

    texter: Texter
    wrapped: bytes
    conversation: Conversation | None
    held: bool | None  # a reply to them is held (None: ask the database)
    referred: bool  # their open conversation has an accepted referral


@dataclass
class Pending:
    """Rows the batch has decided on and not written yet."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    texters: dict[str, datetime] = field(default_factory=dict)
    conversations: dict[str, datetime] = field(default_factory=dict)

    def touch(self, texter: Texter, conversation: Conversation, now: datetime) -> None:
        """Record the activity, and tell the ORM the objects already hold
        those values: a message that changes nothing else leaves nothing for
        a unit of work to flush."""
        self.texters[texter.id] = now
        self.conversations[conversation.id] = now
        set_committed_value(texter, "last_activity_at", now)
        set_committed_value(texter, "last_inbound_at", now)
        set_committed_value(conversation, "last_message_at", now)

    def write(self, session: Session) -> None:
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        if self.messages:
            connection.execute(insert(_MESSAGES), self.messages)
        for rows, pg_statement, statement in (
            (self.texters, _TOUCH_TEXTERS_PG, _TOUCH_TEXTERS),
            (self.conversations, _TOUCH_CONVERSATIONS_PG, _TOUCH_CONVERSATIONS),
        ):
            if not rows:
                continue
            if postgres:
                connection.execute(pg_statement, {
                    "ids": list(rows), "ats": [naive_utc(at) for at in rows.values()]})
            else:
                connection.execute(statement, [{"row": k, "at": at} for k, at in rows.items()])
        self.messages.clear()
        self.texters.clear()
        self.conversations.clear()


@dataclass
class Batch:
    """What intake knows about a batch before deciding its messages."""

    blinds: dict[int, list[str]]  # id(event) -> its blind-index values, sender's first
    dedup: dict[int, str]  # id(event) -> its dedup key
    # id(event) -> the helpline it was sent to; a message to no helpline's
    # number is absent (dropped, never stored under a guess)
    helplines: dict[int, HelplineConfig] = field(default_factory=dict)
    new_keys: set[str] = field(default_factory=set)
    known: dict[str, Known] = field(default_factory=dict)  # blind index -> texter
    pending: Pending = field(default_factory=Pending)

    def first_delivery(self, event: InboundMessage) -> bool:
        """Whether this is the first delivery of its id (else a duplicate)."""
        key = self.dedup[id(event)]
        if key in self.new_keys:
            self.new_keys.discard(key)
            return True
        return False

    def take(self, event: InboundMessage) -> Known | None:
        """The texter as prefetched, once: their next message in the batch
        reads them again (after the pending writes)."""
        blinds = self.blinds[id(event)]
        if len(blinds) != 1:
            return None
        return self.known.pop(blinds[0], None)

    def held_may_have_changed(self) -> None:
        """A status of the batch held a reply: ask the database from now on."""
        self.known = {blind: k._replace(held=None) for blind, k in self.known.items()}

    def lock_keys(self) -> list[int]:
        """Advisory-lock keys of the batch's texters, in one order for every
        process. The blind index is a keyed hash already: its first 64 bits
        will do (two texters sharing a key only wait for each other)."""
        blinds = {blind for values in self.blinds.values() for blind in values}
        return sorted(int.from_bytes(bytes.fromhex(blind[:16]), "big", signed=True)
                      for blind in blinds)


def prepare(
    services: Services,
    deliveries: Sequence[tuple[str, list[InboundEvent]]],
    helpline_of: Callable[[InboundMessage], HelplineConfig | None],
) -> Batch:
    """The batch's keyed hashes, computed before its transaction begins, each
    in the blind-index domain of the helpline the message was sent to."""
    helplines = {id(m): h for m in _messages(deliveries) if (h := helpline_of(m)) is not None}
    messages = [m for m in _messages(deliveries) if id(m) in helplines]
    return Batch(
        blinds={id(m): blind_indexes(helplines[id(m)], m) for m in messages},
        dedup={id(m): services.index.tag("dedup", f"{m.channel.value}:{m.provider_message_id}")
               for m in messages},
        helplines=helplines,
    )


def load(session: Session, batch: Batch, now: datetime) -> None:
    """Claim the batch's dedup keys and read its returning texters."""
    if not batch.dedup:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    keys = sorted(set(batch.dedup.values()))
    # RETURNING tells reliably which rows went in (rowcount does not, on every
    # driver). On PostgreSQL a concurrent delivery of the same id waits for
    # our commit and then sees the conflict.
    batch.new_keys = set(connection.execute(
        _DEDUP[dialect], [{"key": key, "created_at": now} for key in keys]).scalars())
    single = sorted({values[0] for values in batch.blinds.values() if len(values) == 1})
    if not single:
        return
    query = _TEXTERS_WITH_KEYS_LOCKED if dialect == "postgresql" else _TEXTERS_WITH_KEYS
    for texter, wrapped, conversation, held, referred in session.execute(
            query, {"blinds": single}).all():
        if texter.blind_index not in batch.known:
            batch.known[texter.blind_index] = Known(texter, wrapped, conversation,
                                                    bool(held), bool(referred))


def _messages(deliveries: Iterable[tuple[str, list[InboundEvent]]]) -> list[InboundMessage]:
    return [event for _channel, events in deliveries for event in events
            if isinstance(event, InboundMessage)]


__all__ = ["DEFERRABLE", "Batch", "Known", "Pending", "load", "prepare"]
