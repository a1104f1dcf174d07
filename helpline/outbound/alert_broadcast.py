"""Sending an approved safety alert to every subscriber, through the outbox.

Each delivery is an ordinary bot message in the subscriber's own conversation
(`queue_outbound`), so everything the outbox already does for a reply holds:
Signal rate limits and captcha challenges pause the channel and alert a
coordinator instead of looping; on WhatsApp outside the 24 h window the text
is held, the configured neutral template asks the texter to write back, and
the text leaves when they do. Deliveries are paced: the n-th is due n
intervals after approval (`Policy.alert_sends_per_minute`), so the worker
never bursts 500 sends at Signal at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from helpline import logs
from helpline.outbound.conversations import (
    current_conversation,
    latest_conversation,
    open_conversation,
    queue_outbound,
)
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, AlertDelivery, OutboxItem, Texter


def subscribers(session: Session, helpline_id: str = DEFAULT_HELPLINE_ID) -> list[Texter]:
    """One helpline's subscribers: a region's warning reaches its own texters."""
    return list(session.exec(
        select(Texter).where(
            Texter.helpline_id == helpline_id,
            col(Texter.alerts_since).is_not(None),
            col(Texter.stopped).is_(False),
            col(Texter.practice).is_(False),
        ).order_by(col(Texter.alerts_since), col(Texter.id))
    ).all())


def broadcast(
    services: Services, session: Session, alert_id: str, text: str, now: datetime,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> int:
    """Queue the alert for every subscriber of the helpline in the caller's
    transaction; returns how many."""
    policy = services.policy_for(helpline_id)
    spacing = timedelta(seconds=60 / policy.alert_sends_per_minute)
    recipients = subscribers(session, helpline_id)
    for n, texter in enumerate(recipients):
        key = services.vault.key(session, texter.data_key_id)
        conversation = (
            current_conversation(session, texter)
            or latest_conversation(session, texter)
            or open_conversation(session, texter, now)
        )
        language = texter.language or policy.default_language
        body = services.catalog.render("safety_alert", language, {"text": text})
        message = queue_outbound(services, session, texter=texter, conversation=conversation,
                                 text=body, key=key, now=now, author_kind="bot")
        session.add(AlertDelivery(alert_id=alert_id, message_id=message.id,
                                  texter_id=texter.id))
        if n:
            session.execute(
                update(OutboxItem)
                .where(col(OutboxItem.message_id) == message.id)
                .values(next_attempt_at=now + spacing * n)
            )
    logs.event("alerts.broadcast", count=len(recipients))
    return len(recipients)
