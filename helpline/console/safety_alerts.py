"""Safety alerts in the console: a volunteer drafts one from a report in a
conversation, a second person approves it, and it goes to every subscriber.

Who may see what:
- the draft is masked at once (helpline.console.alert_masking), before anyone
  else reads it, and the reporter's pseudonym is removed; the alert row names
  no conversation, so an alert never points back at who reported;
- four eyes: a coordinator, or a volunteer other than the one who drafted
  it, approves; nothing is sent before that;
- the console lists past alerts with counts of deliveries by status, never
  who received them (the deliveries are only ever counted).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from helpline.console.alert_masking import mask
from helpline.console.conversation_access import (
    Actor,
    aliases_of,
    audit_action,
    clean_text,
    iso,
    load,
)
from helpline.errors import Conflict, Forbidden, NotFound
from helpline.outbound.alert_broadcast import broadcast, subscribers
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import AlertDelivery, Message, SafetyAlert, Texter

MAX_ALERT = 1000
LIST_LIMIT = 50
APPROVERS = ("coordinator", "volunteer")


class NotForThisRole(Forbidden):
    public_message = "this role does not handle safety alerts"


class NotADraft(Conflict):
    public_message = "this alert is no longer a draft"


class NotYourDraft(Conflict):
    public_message = "only the one who drafted it or a coordinator can discard a draft"


class FourEyes(Conflict):
    code = "four_eyes"
    public_message = "a second person must approve: you drafted this alert"

    def details(self) -> dict[str, object]:
        return {"code": self.code}


class WeeklyLimit(Conflict):
    code = "alerts_weekly_limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.public_message = (
            f"{limit} alerts were sent in the last 7 days, the most subscribers were promised"
        )
        super().__init__(self.public_message)

    def details(self) -> dict[str, object]:
        return {"code": self.code, "limit": self.limit}


def _require(actor: Actor, roles: tuple[str, ...]) -> None:
    if actor.role not in roles:
        raise NotForThisRole()


def draft(services: Services, actor: Actor, conversation_id: str, text: object) -> dict[str, Any]:
    """A masked draft from a report in a conversation the volunteer may act on."""
    _require(actor, ("volunteer",))
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id)
        cleaned = clean_text(text, MAX_ALERT)
        texter = session.get(Texter, conversation.texter_id)
        masked = mask(cleaned, (texter.pseudonym,) if texter else ())
        data_key, key = services.vault.create_key(session, now)
        alert = SafetyAlert(helpline_id=conversation.helpline_id, data_key_id=data_key.id,
                            body=b"", drafted_by_id=actor.user_id, created_at=now)
        alert.body = services.vault.seal(key, masked, "safety_alerts", "body", alert.id)
        session.add(alert)
        audit_action(services, session, actor, "alert.draft", alert.id)
        session.flush()
        return _json(services, session, alert)


def approve(services: Services, actor: Actor, alert_id: str) -> dict[str, Any]:
    _require(actor, APPROVERS)
    now = services.now()
    with services.db.session() as session:
        alert = _load(session, actor, alert_id, for_update=True)
        if alert.state != "draft":
            raise NotADraft()
        if alert.drafted_by_id == actor.user_id:
            raise FourEyes()
        limit = services.policy_for(actor.helpline_id).alerts_per_week
        sent = session.exec(
            select(func.count()).select_from(SafetyAlert).where(
                SafetyAlert.helpline_id == actor.helpline_id,
                col(SafetyAlert.sent_at) > now - timedelta(days=7))
        ).one()
        if int(sent) >= limit:
            raise WeeklyLimit(limit)
        text = _text(services, session, alert) or ""
        alert.recipients = broadcast(services, session, alert.id, text, now, alert.helpline_id)
        alert.state = "sent"
        alert.approved_by_id = actor.user_id
        alert.sent_at = now
        session.add(alert)
        counting.record_alert_sent(services, session, now, alert.helpline_id)
        audit_action(services, session, actor, "alert.approve", alert.id)
        session.flush()
        answer = _json(services, session, alert)
    services.wakeup.set()
    return answer


def discard(services: Services, actor: Actor, alert_id: str) -> dict[str, Any]:
    """The drafter or a coordinator drops a draft; its text is destroyed."""
    _require(actor, APPROVERS)
    with services.db.session() as session:
        alert = _load(session, actor, alert_id, for_update=True)
        if alert.state != "draft":
            raise NotADraft()
        if actor.role != "coordinator" and alert.drafted_by_id != actor.user_id:
            raise NotYourDraft()
        alert.state = "discarded"
        alert.body = b""
        session.add(alert)
        audit_action(services, session, actor, "alert.discard", alert.id)
        session.flush()
        return _json(services, session, alert)


def list_alerts(services: Services, actor: Actor) -> dict[str, Any]:
    _require(actor, APPROVERS)
    with services.db.read_session() as session:
        alerts = session.exec(
            select(SafetyAlert).where(SafetyAlert.helpline_id == actor.helpline_id)
            .order_by(col(SafetyAlert.created_at).desc(), col(SafetyAlert.id)).limit(LIST_LIMIT)
        ).all()
        return {
            "items": [_json(services, session, a, actor=actor) for a in alerts],
            "subscribers": len(subscribers(session, actor.helpline_id)),
        }


# ---------------------------------------------------------------- helpers


def _load(
    session: Session, actor: Actor, alert_id: str, *, for_update: bool = False
) -> SafetyAlert:
    # Another helpline's alert is not found, like one that does not exist.
    query = select(SafetyAlert).where(SafetyAlert.id == alert_id,
                                      SafetyAlert.helpline_id == actor.helpline_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    alert = session.exec(query).first()
    if alert is None:
        raise NotFound()
    return alert


def _text(services: Services, session: Session, alert: SafetyAlert) -> str | None:
    if not alert.body:
        return None
    key = services.vault.key(session, alert.data_key_id)
    return services.vault.open(key, alert.body, "safety_alerts", "body", alert.id)


def delivery_counts(session: Session, alert_id: str) -> dict[str, int]:
    """How many deliveries are in each status: counts, never recipients."""
    rows = session.exec(
        select(Message.status, func.count())
        .join(AlertDelivery, col(AlertDelivery.message_id) == Message.id)
        .where(AlertDelivery.alert_id == alert_id)
        .group_by(Message.status)
    ).all()
    return {status: int(n) for status, n in rows}


def _json(
    services: Services, session: Session, alert: SafetyAlert, *, actor: Actor | None = None
) -> dict[str, Any]:
    aliases = aliases_of(session, {i for i in (alert.drafted_by_id, alert.approved_by_id) if i})
    return {
        "id": alert.id,
        "state": alert.state,
        "body": _text(services, session, alert),
        "created_at": iso(alert.created_at),
        "sent_at": iso(alert.sent_at),
        "drafted_by": aliases.get(alert.drafted_by_id or ""),
        "approved_by": aliases.get(alert.approved_by_id or ""),
        "recipients": alert.recipients,
        "deliveries": delivery_counts(session, alert.id) if alert.state == "sent" else {},
        "can_approve": actor is not None and alert.state == "draft"
        and alert.drafted_by_id != actor.user_id,
    }
