"""Content-free notifications for volunteers (issue 18): "Someone is waiting
in the queue (3)" on Signal, so a volunteer need not sit in a browser all day.

The text is fixed and holds only a count: never a pseudonym, a message, a
partner or a channel, because a volunteer's phone shows notifications to
whoever looks at it, and Signal's servers carry them. Each goes out as a
*detached* outbox item (sealed under a key of its own, dropped once sent),
so it is not tied to any texter. Sent when someone waited in the peer queue
longer than `Policy.notify_waiting_minutes`, outside the volunteer's quiet
hours, at most once per `notify_repeat_minutes`. Coordinators see how many
went out (statistics), not to whom.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from helpline import logs
from helpline.lifecycle.retention import queue_detached
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import DEFAULT_HELPLINE_ID, Conversation, User, VolunteerNotifier

CHECK_EVERY = timedelta(minutes=1)
TEXTS = {
    "nl": "Er wacht iemand in de wachtrij ({count})",
    "en": "Someone is waiting in the queue ({count})",
}
_last_check: dict[int, datetime] = {}


def text_for(language: str, count: int) -> str:
    return TEXTS.get(language, TEXTS["nl"]).format(count=count)


def parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(notifier: VolunteerNotifier, local: time) -> bool:
    if not notifier.quiet_from or not notifier.quiet_until:
        return False
    start, end = parse_clock(notifier.quiet_from), parse_clock(notifier.quiet_until)
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # across midnight, 22:00-08:00


def waiting_count(
    services: Services, session: Session, now: datetime, helpline_id: str = DEFAULT_HELPLINE_ID
) -> int:
    """Open, unclaimed peer-queue conversations of one helpline waiting longer
    than its policy says (a volunteer hears only of their own helpline's queue)."""
    policy = services.helpline(helpline_id).policy
    since = now - timedelta(minutes=policy.notify_waiting_minutes)
    return int(session.exec(
        select(func.count()).select_from(Conversation).where(
            Conversation.helpline_id == helpline_id,
            Conversation.queue == "peer",
            Conversation.status != "closed",
            col(Conversation.claimed_by_id).is_(None),
            col(Conversation.practice).is_(False),
            col(Conversation.waiting_since).is_not(None),
            col(Conversation.waiting_since) <= since,
        )
    ).one())


def tick(services: Services, *, force: bool = False) -> int:
    """From the worker loop (at most once a minute unless `force`): notify the
    volunteers who should know; returns how many were notified."""
    now = services.now()
    last = _last_check.get(id(services))
    if not force and last is not None and timedelta(0) <= now - last < CHECK_EVERY:
        return 0
    _last_check[id(services)] = now
    if "signal" not in services.channels:
        return 0
    local = now.astimezone(ZoneInfo(services.policy.timezone)).time()
    repeat = timedelta(minutes=services.policy.notify_repeat_minutes)
    sent = 0
    with services.db.session() as session:
        waiting: dict[str, int] = {}
        rows = session.exec(
            select(VolunteerNotifier, User)
            .join(User, col(User.id) == VolunteerNotifier.user_id)
            .where(User.role == "volunteer", col(User.disabled).is_(False))
        ).all()
        notified: dict[str, int] = {}
        for notifier, user in rows:
            if notifier.last_sent_at is not None and now - notifier.last_sent_at < repeat:
                continue
            if in_quiet_hours(notifier, local):
                continue
            if user.helpline_id not in waiting:
                waiting[user.helpline_id] = waiting_count(services, session, now,
                                                          user.helpline_id)
            count = waiting[user.helpline_id]
            if count == 0:
                continue
            key = services.vault.key(session, user.data_key_id)
            to = services.vault.open(key, notifier.signal_target, "volunteer_notifiers",
                                     "signal_target", user.id)
            sender = services.helpline(user.helpline_id).account("signal")
            queue_detached(services, session, "signal", to, text_for(user.ui_language, count),
                           now, sender)
            notifier.last_sent_at = now
            session.add(notifier)
            sent += 1
            notified[user.helpline_id] = notified.get(user.helpline_id, 0) + 1
        for helpline_id, number in notified.items():
            counting.record_volunteer_notifications(services, session, now, number, helpline_id)
    if sent:
        logs.event("notify.volunteers", count=sent)
    return sent
