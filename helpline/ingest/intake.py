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

from sqlalchemy import bindparam, text
from sqlmodel import Session, SQLModel, select

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
from helpline.ingest import batch_store
from helpline.ingest.texters import FoundTexter, find_or_create_texter
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
    batch = batch_store.prepare(
        services, deliveries, lambda event: _helpline_of(services, event, helpline_id)
    )
    with services.db.session() as session:
        if not services.db.is_sqlite:
            _lock_texters_in_order(session, batch)
        batch_store.load(session, batch, services.now())
        for (channel, events), result in zip(deliveries, results, strict=True):
            now = services.now()
            for item in events:
                event = item
                if isinstance(item, InboundMessage):
                    helpline = batch.helplines.get(id(item))
                    if helpline is not None:
                        _message(services, session, item, helpline, now, result, practice,
                                 batch)
                        continue
                    event = Ignored(reason=f"{channel}.foreign_number")
                if isinstance(event, DeliveryStatus):
                    # A status is about a message we sent: the batch's pending
                    # inbound rows and activity times are nothing it reads.
                    live = apply_status(services, session, event, now)
                    result.statuses += 1
                    if live is not None:
                        result.live.append(live)
                        if live.state == "held":
                            result.outbound = True
                            batch.held_may_have_changed()
                elif isinstance(event, Ignored):
                    result.ignored += 1
                    # One line per item, so an operator can tell why a message
                    # did not arrive: a fixed word and event name, never content.
                    logs.event("intake.ignored", channel=channel, reason=event.word.value,
                               detail=event.reason)
        batch.pending.write(session)
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


def _lock_texters_in_order(session: Session, batch: batch_store.Batch) -> None:
    """PostgreSQL: lock the batch's texters up front, in one order for every
    process. Otherwise each message locks its texter's row as it comes, and
    two processors whose batches hold the same texters in opposite orders
    each wait for the other, until PostgreSQL aborts one batch as a deadlock
    (it is retried, but only after its claim is released). A batch of one
    texter takes its lock too: a delivery appended twice would otherwise
    have it wait on the other batch's dedup key while holding the texter.
    SQLite has one writer at a time and needs none of this."""
    keys = batch.lock_keys()
    if keys:
        session.connection().execute(_LOCK_TEXTERS, {"keys": keys})


# The hot path runs Core statements on the session's connection: no ORM unit
# of work and no autoflush for rows nobody reads back (about half of intake's
# CPU went there; benchmarks/profile_intake.py measures it).
_MESSAGES = SQLModel.metadata.tables["messages"]
_TEXTERS = SQLModel.metadata.tables["texters"]
_CONVERSATIONS = SQLModel.metadata.tables["conversations"]
_IDENTIFIERS = SQLModel.metadata.tables["texter_identifiers"]
_ACTIVE_REFERRALS = select(Referral.partner_id).where(
    Referral.conversation_id == bindparam("conversation"), Referral.state == "accepted"
)

def _message(
    services: Services,
    session: Session,
    event: InboundMessage,
    helpline: HelplineConfig,
    now: datetime,
    result: IntakeResult,
    practice: bool,
    batch: batch_store.Batch,
) -> None:
    if not batch.first_delivery(event):
        result.duplicates += 1
        return

    known = batch.take(event)
    held: bool | None = None
    active: frozenset[str] | None = None
    if known is not None:
        # The common case: a returning texter with one identifier, read with
        # the rest of the batch.
        texter, previous, held = known.texter, known.conversation, known.held
        key = services.vault.unwrap(known.wrapped, texter.data_key_id)
        _follow_address(services, texter, key, event)
        is_new = False
        if previous is not None and not known.referred:
            active = frozenset()
    else:
        # What this reads must be what it would read alone.
        batch.pending.write(session)
        texter, key, is_new, previous = find_or_create_texter(
            services, session, event, now, practice=practice, helpline=helpline,
            blinds=batch.blinds[id(event)],
        )
    if event.language in helpline.policy.languages and event.language != texter.language:
        texter.language = event.language  # chosen on the chat page, not guessed
    had_any = previous is not None or (
        not is_new and latest_conversation(session, texter) is not None)
    conversation = previous or open_conversation(session, texter, now)

    message_id = new_id()
    batch.pending.messages.append(
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
    batch.pending.touch(texter, conversation, now)
    if event.media is not None:
        batch.pending.write(session)  # the media job refers to the message row
    if media_fetch.enqueue_for(services, session, key, event, message_id, conversation, now):
        result.media = True
    if release_held(session, texter, now, held=held):
        result.outbound = True

    if active is None:
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
    if not all(isinstance(action, batch_store.DEFERRABLE) for action in decision):
        batch.pending.write(session)  # an erasure deletes the texter's rows
    effects = Effects(services, session, texter, conversation, key, now)
    effects.apply(decision)
    # A move to Signal folds this texter into an earlier one (channel_switch).
    texter, conversation = effects.texter, effects.conversation
    counting.observe_conversation(services, session, conversation, texter.language)
    session.flush()
    result.stored += 1
    result.outbound = result.outbound or effects.outbound
    result.live.append(
        LiveEvent.of(conversation, "message", message=message_id, queue=conversation.queue)
    )
    result.live.extend(effects.live)
    logs.event("intake.stored", conversation=conversation.id, message=message_id,
               channel=event.channel.value)


def _follow_address(
    services: Services, texter: Texter, key: bytes, event: InboundMessage
) -> None:
    current = services.vault.open(key, texter.reply_address, "texters", "reply_address",
                                  texter.id)
    if current != event.reply_to:
        # The address follows the latest delivery: a phone number while the
        # texter shows one, their BSUID once they only show that (they hid
        # the number, so we stop keeping it as an address).
        texter.reply_address = services.vault.seal(
            key, event.reply_to, "texters", "reply_address", texter.id
        )


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


__all__ = ["FoundTexter", "IntakeResult", "find_or_create_texter", "receive"]
