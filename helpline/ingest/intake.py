"""The receive pipeline, top to bottom.

verify → seal → inbox → 200 (the webhook route), then parse (the inbox
processor, helpline/ingest/inbox.py) → here, in ONE transaction per batch of
deliveries: dedup on a keyed hash of the provider message id → find or create
the texter by blind index → encrypt and store → open or continue the
conversation → `routing.decide` → carry out its actions (replies go to the
outbox) → commit. The simulator and the Signal poll receiver call it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select

import routing
from helpline import logs
from helpline.channels.base import (
    ChannelName,
    DeliveryStatus,
    Ignored,
    InboundEvent,
    InboundMessage,
)
from helpline.helplines import HelplineConfig
from helpline.ingest.texters import blind_indexes, find_or_create_texter
from helpline.live.bus import LiveEvent
from helpline.media import fetch as media_fetch
from helpline.outbound.conversations import (
    latest_conversation,
    open_conversation,
    release_held,
)
from helpline.outbound.effects import Effects, build_state
from helpline.outbound.status import apply_status
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    Conversation,
    DedupKey,
    Referral,
    Texter,
    new_id,
)


@dataclass
class IntakeResult:
    stored: int = 0
    duplicates: int = 0
    statuses: int = 0
    ignored: int = 0
    live: list[LiveEvent] = field(default_factory=list)
    outbound: bool = False
    media: bool = False


def receive(
    services: Services, channel: str, events: list[InboundEvent], *, practice: bool = False
) -> IntakeResult:
    """Store one delivery's events atomically. Raises ServiceUnavailable when
    the database is down (the route answers 503 and the platform retries).

    `practice` is set only by the simulator's training mode: texters it creates
    are marked practice, so their conversations go to the practice queue and
    never into real queues or statistics."""
    return receive_many(services, [(channel, events)], practice=practice)[0]


def receive_many(
    services: Services,
    deliveries: Sequence[tuple[str, list[InboundEvent]]],
    *,
    practice: bool = False,
    before_commit: Callable[[Session], None] | None = None,
    helpline_id: str | None = None,
) -> list[IntakeResult]:
    """Store several deliveries in one transaction: all of them or, on any
    error, none. Each is handled exactly as it would be alone, in order, so a
    later one sees what an earlier one stored. `before_commit` runs last in
    the same transaction (the inbox deletes the rows it came from).

    Each message goes to the helpline whose number it was sent to (or
    `helpline_id`, for the simulator, which has no numbers); one sent to a
    number of no helpline here is dropped, never filed under a guess."""
    results = [IntakeResult() for _ in deliveries]
    with services.db.session() as session:
        if not services.db.is_sqlite:
            _lock_texters_in_order(services, session, deliveries, helpline_id)
        for (channel, events), result in zip(deliveries, results, strict=True):
            now = services.now()
            for item in events:
                event = item
                if isinstance(item, InboundMessage):
                    helpline = _helpline_of(services, item, helpline_id)
                    if helpline is not None:
                        _message(services, session, item, helpline, now, result, practice)
                        continue
                    event = Ignored(reason=f"{channel}.foreign_number")
                if isinstance(event, DeliveryStatus):
                    live = apply_status(services, session, event, now)
                    result.statuses += 1
                    if live is not None:
                        result.live.append(live)
                        result.outbound = result.outbound or live.state == "held"
                elif isinstance(event, Ignored):
                    result.ignored += 1
                    # One line per item, so an operator can tell why a message
                    # did not arrive: a fixed word and event name, never content.
                    logs.event("intake.ignored", channel=channel, reason=event.word.value,
                               detail=event.reason)
        if before_commit is not None:
            before_commit(session)
    for (channel, _events), result in zip(deliveries, results, strict=True):
        for live in result.live:
            services.bus.publish(live)
        logs.event(
            "intake.batch",
            channel=channel,
            stored=result.stored,
            duplicates=result.duplicates,
            statuses=result.statuses,
            ignored=result.ignored,
        )
    if any(result.outbound or result.media for result in results):
        services.wakeup.set()
    return results


# Transaction-scoped, released at commit or rollback; unnest keeps the array's
# order. https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
_LOCK_TEXTERS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def _helpline_of(
    services: Services, event: InboundMessage, forced: str | None
) -> HelplineConfig | None:
    if forced is not None:
        return services.helpline(forced)
    return services.helplines.for_account(event.channel.value, event.account)


def _lock_texters_in_order(
    services: Services, session: Session, deliveries: Sequence[tuple[str, list[InboundEvent]]],
    forced: str | None,
) -> None:
    """PostgreSQL: lock the batch's texters up front, in one order for every
    process. Otherwise each message locks its texter's row as it comes, and
    two processors whose batches hold the same texters in opposite orders
    each wait for the other, until PostgreSQL aborts one batch as a deadlock
    (it is retried, but only after its claim is released). A batch of one
    texter takes its lock too: a delivery appended twice would otherwise
    have it wait on the other batch's dedup key while holding the texter.
    SQLite has one writer at a time and needs none of this."""
    blinds = {
        blind
        for _channel, events in deliveries
        for event in events
        if isinstance(event, InboundMessage)
        and (helpline := _helpline_of(services, event, forced)) is not None
        for blind in blind_indexes(helpline, event)
    }
    # The blind index is a keyed hash already: its first 64 bits will do (two
    # texters sharing a key only wait for each other).
    keys = sorted(int.from_bytes(bytes.fromhex(blind[:16]), "big", signed=True)
                  for blind in blinds)
    if keys:
        session.connection().execute(_LOCK_TEXTERS, {"keys": keys})


# The hot path runs Core statements on the session's connection: no ORM unit
# of work and no autoflush for rows nobody reads back (about half of intake's
# CPU went there; benchmarks/profile_intake.py measures it).
_DEDUP = {
    name: insert_(DedupKey).on_conflict_do_nothing().returning(col(DedupKey.key))
    for name, insert_ in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_MESSAGES = SQLModel.metadata.tables["messages"]
_TEXTERS = SQLModel.metadata.tables["texters"]
_CONVERSATIONS = SQLModel.metadata.tables["conversations"]
_IDENTIFIERS = SQLModel.metadata.tables["texter_identifiers"]
_ACTIVE_REFERRALS = select(Referral.partner_id).where(
    Referral.conversation_id == bindparam("conversation"), Referral.state == "accepted"
)

_TOUCH_TEXTER = (
    update(_TEXTERS)
    .where(_TEXTERS.c.id == bindparam("row"))
    .values(last_activity_at=bindparam("now"), last_inbound_at=bindparam("now"))
)
_TOUCH_CONVERSATION = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("row"))
    .values(last_message_at=bindparam("now"))
)


def _touch(session: Session, texter: Texter, conversation: Conversation, now: datetime) -> None:
    """Record the activity with two Core UPDATEs and tell the ORM the objects
    already hold those values: a message that changes nothing else then
    leaves nothing for a unit of work to flush."""
    connection = session.connection()
    connection.execute(_TOUCH_TEXTER, {"row": texter.id, "now": now})
    connection.execute(_TOUCH_CONVERSATION, {"row": conversation.id, "now": now})
    set_committed_value(texter, "last_activity_at", now)
    set_committed_value(texter, "last_inbound_at", now)
    set_committed_value(conversation, "last_message_at", now)


def _claim_dedup_key(session: Session, key: str, now: datetime) -> bool:
    """Insert the dedup key unless present. On PostgreSQL a concurrent delivery
    of the same id waits for our commit and then sees the conflict."""
    stmt = _DEDUP[session.get_bind().dialect.name]
    # RETURNING tells reliably whether our row went in (rowcount does not, on
    # every driver).
    row = session.connection().execute(stmt, {"key": key, "created_at": now}).first()
    return row is not None


def _message(
    services: Services,
    session: Session,
    event: InboundMessage,
    helpline: HelplineConfig,
    now: datetime,
    result: IntakeResult,
    practice: bool = False,
) -> None:
    dedup = services.index.tag("dedup", f"{event.channel.value}:{event.provider_message_id}")
    if not _claim_dedup_key(session, dedup, now):
        result.duplicates += 1
        return

    texter, key, is_new, previous = find_or_create_texter(
        services, session, event, now, practice=practice, helpline=helpline
    )
    had_any = previous is not None or latest_conversation(session, texter) is not None
    conversation = previous or open_conversation(session, texter, now)

    message_id = new_id()
    session.connection().execute(
        insert(_MESSAGES),
        {
            "id": message_id,
            "conversation_id": conversation.id,
            "texter_id": texter.id,
            "direction": "in",
            "kind": event.kind.value,
            "body": (
                services.vault.seal(key, event.text, "messages", "body", message_id)
                if event.text is not None
                else None
            ),
            "author_kind": "texter",
            "status": "received",
            "created_at": now,
            "provider_message_id": _receipt_target(helpline, services, key, event, message_id),
        },
    )
    if media_fetch.enqueue_for(services, session, key, event, message_id, conversation, now):
        result.media = True
    _touch(session, texter, conversation, now)
    if release_held(session, texter, now):
        result.outbound = True

    active = (
        frozenset(session.connection().execute(
            _ACTIVE_REFERRALS, {"conversation": previous.id}).scalars())
        if previous is not None
        else frozenset()
    )
    state = build_state(
        session, texter, previous, is_new_texter=is_new, had_conversation=had_any,
        active_referrals=active,
    )
    decision = routing.decide(
        state,
        routing.model.TexterMessage(text=event.text, kind=event.kind.value, choice=event.choice),
        now=now,
        policy=helpline.policy,
    )
    effects = Effects(services, session, texter, conversation, key, now)
    effects.apply(decision)
    # A move to Signal folds this texter into an earlier one (channel_switch).
    texter, conversation = effects.texter, effects.conversation
    counting.observe_conversation(services, session, conversation, texter.language)
    session.flush()
    result.stored += 1
    result.outbound = result.outbound or effects.outbound
    result.live.append(
        LiveEvent.of(conversation, "message", message=message_id,
                  queue=conversation.queue)
    )
    result.live.extend(effects.live)
    logs.event("intake.stored", conversation=conversation.id, message=message_id,
               channel=event.channel.value)


def _receipt_target(
    helpline: HelplineConfig, services: Services, key: bytes, event: InboundMessage,
    message_id: str,
) -> bytes | None:
    """The id a WhatsApp read receipt would name, sealed (a wamid is base64 of
    a structure holding the sender's number); nothing at all unless the
    policy turns read receipts on, and never for Signal, whose receipts are
    not sent."""
    if not helpline.policy.read_receipts or event.channel is not ChannelName.WHATSAPP:
        return None
    return services.vault.seal(
        key, event.provider_message_id, "messages", "provider_message_id", message_id
    )


__all__ = ["IntakeResult", "find_or_create_texter", "receive"]
