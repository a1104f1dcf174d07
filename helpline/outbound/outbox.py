"""The durable send queue and its worker.

Rows are claimed with a lease (`locked_until`): on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so several workers never take the same row; on
SQLite the write lock serialises claims. A worker killed mid-send leaves a
row whose lease expires and is sent again: a duplicate is then possible only
if the kill fell between the provider's answer and our marking the row sent.

Backoff is capped exponential with full jitter. A `pause` outcome (Signal
rate limit or captcha) stops the channel for the helpline whose number was
refused, and raises that helpline's alert, instead of retrying hot (the other
helplines' numbers on the same channel keep sending); a `hold` outcome
(WhatsApp 131047, outside the 24 h window) waits for the texter's next message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, func, not_
from sqlmodel import Session, col, select

from helpline import logs
from helpline.channels.base import (
    Attachment,
    Button,
    ChannelSendError,
    OutboundMessage,
    SendResult,
)
from helpline.helplines import UnknownHelpline
from helpline.lifecycle.retention import periodic
from helpline.live.bus import LiveEvent
from helpline.media import fetch as media_fetch
from helpline.media import store as media_store
from helpline.outbound import read_receipts, volunteer_notifications
from helpline.outbound.conversations import request_template
from helpline.outbound.status import provider_ref, status_event
from helpline.services import Services
from helpline.stats import publishing
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    Alert,
    ChannelPause,
    DataKey,
    MediaItem,
    Message,
    OutboxItem,
    Texter,
)

LEASE = timedelta(seconds=60)
BASE_DELAY = 2.0
MAX_DELAY = 15 * 60.0
DEFAULT_PAUSE = timedelta(minutes=15)


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before try `attempt + 1`: full jitter under a capped exponential."""
    ceiling = min(MAX_DELAY, BASE_DELAY * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class Claimed:
    id: str
    channel: str
    message: OutboundMessage
    attempts: int
    # Whose number sends it: a pause it causes is that helpline's only.
    helpline_id: str = DEFAULT_HELPLINE_ID


def active_pauses(session: Session, now: datetime) -> set[tuple[str, str]]:
    """(helpline id, channel) of every number whose sending is paused now."""
    return {
        (p.helpline_id, p.channel)
        for p in session.exec(select(ChannelPause).where(col(ChannelPause.until) > now)).all()
    }


def _helpline_of(services: Services, item: OutboxItem, owner: str | None,
                 outbound: OutboundMessage) -> str:
    """The helpline whose number an item leaves from: its texter's, or for a
    detached goodbye (texter erased) the helpline that owns its sealed sender."""
    if owner is not None:
        return owner
    found = services.helplines.for_account(item.channel, outbound.sender)
    return found.id if found is not None else DEFAULT_HELPLINE_ID


def claim(services: Services, *, limit: int = 20) -> list[Claimed]:
    now = services.now()
    claimed: list[Claimed] = []
    with services.db.session() as session:
        paused = active_pauses(session, now)
        # The texter's helpline picks the number; a detached item (no texter)
        # passes this filter and is checked once its sealed sender is read.
        owner = func.coalesce(Texter.helpline_id, "")
        query = (
            select(OutboxItem, Texter.helpline_id)
            .outerjoin(Texter, col(Texter.id) == col(OutboxItem.texter_id))
            .where(
                col(OutboxItem.state).in_(("pending", "sending")),
                col(OutboxItem.next_attempt_at) <= now,
            )
            .where(
                col(OutboxItem.locked_until).is_(None) | (col(OutboxItem.locked_until) < now)
            )
            .order_by(col(OutboxItem.next_attempt_at))
            .limit(limit)
        )
        for helpline_id, channel in paused:
            query = query.where(not_(and_(col(OutboxItem.channel) == channel,
                                          owner == helpline_id)))
        if not services.db.is_sqlite:
            # Lock the outbox rows only (the texter is the nullable side).
            query = query.with_for_update(skip_locked=True, of=OutboxItem)
        for item, texter_helpline in session.exec(query).all():
            if item.channel not in services.channels:
                continue
            try:
                outbound = _build(services, session, item)
            except Exception:  # noqa: BLE001 - a broken row must not stop the queue
                item.state = "failed"
                item.last_error = "outbox:unreadable"
                logs.event("outbox.unreadable", logging.WARNING, outbox=item.id)
                continue
            if outbound is None:
                item.state = "failed"
                item.last_error = "outbox:texter_gone"
                continue
            helpline_id = _helpline_of(services, item, texter_helpline, outbound)
            if (helpline_id, item.channel) in paused:
                continue  # a detached goodbye from a paused number waits
            item.state = "sending"
            item.attempts += 1
            item.locked_until = now + LEASE
            claimed.append(Claimed(item.id, item.channel, outbound, item.attempts, helpline_id))
    return claimed


def _build(services: Services, session: Session, item: OutboxItem) -> OutboundMessage | None:
    vault = services.vault
    if item.payload is not None and item.data_key_id is not None:
        key = vault.key(session, item.data_key_id)
        data = json.loads(vault.open(key, item.payload, "outbox", "payload", item.id))
        return OutboundMessage(to=data["to"], text=data["text"], sender=data.get("from"))
    if item.texter_id is None:
        return None
    texter = session.get(Texter, item.texter_id)
    if texter is None:
        return None
    key = vault.key(session, texter.data_key_id)
    to = vault.open(key, texter.reply_address, "texters", "reply_address", texter.id)
    # Replies leave from the number of the helpline the texter wrote to.
    sender = services.helpline(texter.helpline_id).account(item.channel)
    if item.kind == "template":
        return OutboundMessage(
            to=to,
            sender=sender,
            kind="template",
            template_name=services.settings.whatsapp_template,
            template_language=services.settings.whatsapp_template_language,
        )
    message = session.get(Message, item.message_id) if item.message_id else None
    if item.kind == read_receipts.KIND:
        if message is None or message.provider_message_id is None:
            return None
        target = vault.open(
            key, message.provider_message_id, "messages", "provider_message_id", message.id
        )
        return OutboundMessage(to=to, kind="read_receipt", reply_to_message_id=target,
                               sender=sender)
    if message is None or message.body is None:
        return None
    text = vault.open(key, message.body, "messages", "body", message.id)
    buttons = tuple(Button(id=b[0], title=b[1]) for b in json.loads(item.buttons or "[]"))
    attachment = None
    if message.kind in ("image", "document"):
        attachment = _attachment(services, session, message, key)
        if attachment is None:
            return None
    return OutboundMessage(to=to, kind="text", text=text, buttons=buttons, attachment=attachment,
                           sender=sender)


def _attachment(
    services: Services, session: Session, message: Message, key: bytes
) -> Attachment | None:
    """The sealed photo or PDF a volunteer attached (helpline/media/attachments.py)."""
    media = session.exec(select(MediaItem).where(MediaItem.message_id == message.id)).first()
    if media is None or media.state != "stored" or media.content_type is None:
        return None
    kind: Literal["image", "document"] = "image" if message.kind == "image" else "document"
    data = media_store.read(services.settings, media, key)
    return Attachment(kind=kind, content_type=media.content_type, data=bytes(data))


def settle(
    services: Services,
    claimed: Claimed,
    result: SendResult | None,
    error: ChannelSendError | None,
) -> LiveEvent | None:
    now = services.now()
    with services.db.session() as session:
        item = session.get(OutboxItem, claimed.id)
        if item is None:  # erased while sending
            return None
        item.locked_until = None
        if item.kind == read_receipts.KIND:
            _settle_read_receipt(services, session, item, error, claimed.helpline_id)
            return None
        message = session.get(Message, item.message_id) if item.message_id else None
        if result is not None:
            item.state = "sent"
            item.last_error = None
            if message is not None:
                message.provider_ref = provider_ref(
                    services, item.channel, result.provider_message_id
                )
                if message.status in ("queued", "held", "failed"):
                    message.status = "sent"
                    message.status_at = now
                    message.error_reason = None
            if item.payload is not None:
                _drop_detached(session, item)
            logs.event("outbox.sent", outbox=claimed.id, channel=claimed.channel,
                       attempt=claimed.attempts)
        else:
            _failed(
                services, session, item, message,
                error or ChannelSendError("retry", "outbox:no_result"), now,
                claimed.helpline_id,
            )
        if message is None:
            return None
        return status_event(session, message)


def _settle_read_receipt(
    services: Services, session: Session, item: OutboxItem, error: ChannelSendError | None,
    helpline_id: str,
) -> None:
    """A receipt is about a message the texter sent: it never changes that
    message's status, and it is never held for a template (a tick is not
    worth asking the texter to write again)."""
    if error is not None and error.outcome in ("retry", "pause"):
        _failed(services, session, item, None, error, services.now(), helpline_id)
        if item.state == "pending":
            return
    if error is None:
        item.state = "sent"
        item.last_error = None
        logs.event("outbox.sent", outbox=item.id, channel=item.channel, kind=item.kind)
    elif item.state != "failed":
        item.state = "failed"
        item.last_error = error.reason[:64]
        logs.event("outbox.failed", logging.WARNING, outbox=item.id, reason=item.last_error)
    if item.message_id is not None:
        read_receipts.forget(session, item.message_id)


def _failed(
    services: Services,
    session: Session,
    item: OutboxItem,
    message: Message | None,
    error: ChannelSendError,
    now: datetime,
    helpline_id: str,
) -> None:
    item.last_error = error.reason[:64]
    outcome = error.outcome
    if outcome == "retry" and item.attempts >= services.settings.send_max_attempts:
        outcome = "fail"
    if outcome == "retry":
        delay = max(error.retry_after or 0.0, backoff(item.attempts))
        item.state = "pending"
        item.next_attempt_at = now + timedelta(seconds=delay)
        logs.event("outbox.retry", outbox=item.id, attempt=item.attempts, delay=round(delay, 1),
                   reason=item.last_error)
        return
    if outcome == "pause":
        until = now + (
            timedelta(seconds=error.retry_after) if error.retry_after else DEFAULT_PAUSE
        )
        pause = session.get(ChannelPause, (helpline_id, item.channel))
        if pause is None:
            session.add(ChannelPause(helpline_id=helpline_id, channel=item.channel, until=until,
                                     reason=item.last_error))
        else:
            pause.until, pause.reason = until, item.last_error
        open_alert = session.exec(
            select(Alert).where(
                Alert.helpline_id == helpline_id,
                Alert.kind == error.reason[:64], Alert.resolved_at == None  # noqa: E711
            )
        ).first()
        if open_alert is None:
            session.add(Alert(helpline_id=helpline_id, kind=error.reason[:64],
                              channel=item.channel, created_at=now))
        # The pause is not the message's fault: this try does not count.
        item.attempts = max(0, item.attempts - 1)
        item.state = "pending"
        item.next_attempt_at = until
        logs.event("outbox.channel_paused", logging.WARNING, channel=item.channel,
                   helpline=_slug(services, helpline_id), reason=item.last_error)
        services.bus.publish(LiveEvent(kind="alert", state=item.last_error,
                                       helpline=helpline_id))
        return
    if outcome == "hold":
        item.state = "held"
        if message is not None:
            message.status = "held"
            message.status_at = now
            message.error_reason = item.last_error
        texter = session.get(Texter, item.texter_id) if item.texter_id else None
        if texter is not None:
            request_template(services, session, texter, now)
        logs.event("outbox.held", outbox=item.id, reason=item.last_error)
        return
    item.state = "failed"
    if message is not None:
        message.status = "failed"
        message.status_at = now
        message.error_reason = item.last_error
    if item.payload is not None:
        _drop_detached(session, item)
    logs.event("outbox.failed", logging.WARNING, outbox=item.id, reason=item.last_error)


def _slug(services: Services, helpline_id: str) -> str:
    try:
        return services.helpline(helpline_id).slug
    except UnknownHelpline:  # removed meanwhile: the id says as much
        return helpline_id


def _drop_detached(session: Session, item: OutboxItem) -> None:
    key_id = item.data_key_id
    item.payload = None
    item.data_key_id = None
    session.flush()
    if key_id:
        key = session.get(DataKey, key_id)
        if key is not None:
            session.delete(key)


async def send_one(services: Services, claimed: Claimed) -> None:
    channel = services.channels[claimed.channel]
    result: SendResult | None = None
    error: ChannelSendError | None = None
    try:
        result = await channel.send(claimed.message)
    except ChannelSendError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not lose the message
        error = ChannelSendError("retry", f"{claimed.channel}:{type(exc).__name__}"[:64])
    live = await asyncio.to_thread(settle, services, claimed, result, error)
    if live is not None:
        services.bus.publish(live)


async def run_once(services: Services) -> int:
    """Claim and send one batch; returns how many were tried."""
    claimed = await asyncio.to_thread(claim, services)
    if claimed:
        await asyncio.gather(*(send_one(services, c) for c in claimed))
    return len(claimed)


async def run_worker(services: Services, stop: asyncio.Event) -> None:
    """Send until `stop` is set. Errors (database down) are logged and retried."""
    logs.event("worker.started")
    poll = services.settings.worker_poll_seconds
    # Statistics are republished beside the sending loop (seconds of CPU at a
    # million events), never in it.
    refresher = asyncio.create_task(publishing.run_refresher(services, stop))
    # Media downloads run beside sending too: a slow 16 MB fetch never delays a reply.
    fetcher = asyncio.create_task(media_fetch.run_fetcher(services, stop))
    while not stop.is_set():
        try:
            sent = await run_once(services)
            await asyncio.to_thread(periodic, services)
            await asyncio.to_thread(volunteer_notifications.tick, services)
        except Exception as exc:  # noqa: BLE001 - keep the worker alive
            logs.event("worker.error", logging.WARNING, error=type(exc).__name__)
            sent = 0
            await asyncio.sleep(min(5.0, poll * 5))
        if sent:
            continue
        # Wait for a nudge from intake (same process) or the poll interval.
        await asyncio.to_thread(services.wakeup.wait, poll)
    await refresher
    await fetcher
    logs.event("worker.stopped")
