"""Statistics that cannot identify anyone.

Why it looks like this (DESIGN invariant 4): the mere fact that someone texted
the line is data about their sex life, so the statistics table (`stat_counts`)
holds no texter, conversation, pseudonym, blind index or timestamp. A count is
written *when something happens* (a conversation starts, a referral is
accepted, a volunteer answers), keyed only by a fixed bucket (ISO week
"2026-W48" and calendar month "2026-11", in the policy's time zone), a metric,
a dimension and a key. The figures therefore survive retention and erasure,
and deleting a texter cannot be undone by looking at the counts.

Counts are of distinct conversations, not of messages: each conversation row
carries `stats_flags`, the tokens of what it already moved, so a texter who
sends 500 messages moves any count by at most 1. The flags go with the
conversation when it is deleted; the counts stay. Everything about a
conversation is counted in the bucket where the conversation *started*, so a
breakdown (by topic, by language) always adds up against the same total.
Practice conversations (training in the simulator) are never counted.

What may be published, and as what: helpline/stats/suppression.py.
"""


from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Executable, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from helpline import logs
from helpline.stats.cells import (
    _FLAGS_MAX,
    ALERT_SUBSCRIPTIONS,
    ALERTS_SENT,
    ALL,
    CONVERSATIONS,
    ERASURE_REQUESTS,
    NEVER_ANSWERED,
    OUTSIDE_HOURS,
    REFERRAL_STAGES,
    URGENT,
    VOLUNTEER_NOTIFICATIONS,
    WAIT,
    WAIT_BINS,
    CellId,
    StatsError,
    _key,
    buckets_for,
)
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    Conversation,
    StatCount,
    StatPartition,
    Texter,
)
from routing import hours

if TYPE_CHECKING:
    from helpline.services import Services


# ------------------------------------------------------------------ recording


def _mark(conversation: Conversation, token: str) -> bool:
    """Set a per-conversation flag; False when it was already set (or the
    flags are full: then we fail closed and count nothing more)."""
    flags = set(conversation.stats_flags.split())
    if token in flags:
        return False
    flags.add(token)
    joined = " ".join(sorted(flags))
    if len(joined) > _FLAGS_MAX:
        logs.event("stats.flags_full", conversation=conversation.id)
        return False
    conversation.stats_flags = joined
    return True


def _has(conversation: Conversation, token: str) -> bool:
    return token in conversation.stats_flags.split()


def _upserts(
    dialect_insert: Callable[[Table], Any],
) -> tuple[Executable, Executable]:
    counts_table: Table = StatCount.__table__  # type: ignore[attr-defined]
    counts = dialect_insert(counts_table)
    counts = counts.on_conflict_do_update(
        index_elements=["helpline_id", "period", "bucket", "metric", "dimension", "key"],
        set_={"count": counts_table.c.count + counts.excluded.count},
    )
    parts_table: Table = StatPartition.__table__  # type: ignore[attr-defined]
    parts = dialect_insert(parts_table)
    parts = parts.on_conflict_do_update(
        index_elements=["helpline_id", "partition"], set_={"version": parts_table.c.version + 1}
    )
    return counts, parts


# Built once and run with a list of rows (executemany): a multi-row VALUES
# statement has a new shape for every number of rows, and SQLAlchemy compiled
# it afresh each time (a quarter of the cost of a new texter's first message).
_UPSERTS = {"postgresql": _upserts(pg_insert), "sqlite": _upserts(sqlite_insert)}


def add_counts(
    session: Session, counts: Mapping[CellId, int], helpline_id: str = DEFAULT_HELPLINE_ID
) -> None:
    """Add to one helpline's stored counts (upsert). Rows go in sorted order,
    so two transactions touching the same rows lock them in the same order."""
    rows = [
        {"helpline_id": helpline_id, "period": p, "bucket": b, "metric": m, "dimension": d,
         "key": k, "count": n}
        for (p, b, m, d, k), n in sorted(counts.items())
        if n
    ]
    if not rows:
        return
    upsert_counts, upsert_parts = _UPSERTS[session.get_bind().dialect.name]
    connection = session.connection()
    connection.execute(upsert_counts, rows)
    # Same transaction: the published figures of these years are now stale.
    parts = sorted({partition_of(cell) for cell, n in counts.items() if n})
    connection.execute(upsert_parts, [
        {"helpline_id": helpline_id, "partition": p, "version": 1, "published_version": 0,
         "group_key": "",
         "threshold": 0, "cost_ms": 0} for p in parts
    ])


def partition_of(cell: CellId) -> str:
    """The year a cell's bucket belongs to ("2026-W01", "2026-11", "2026")."""
    return cell[1][:4]


def _bump(
    services: Services, session: Session, moment: datetime,
    items: Iterable[tuple[str, str, str]], helpline_id: str,
) -> None:
    counts: dict[CellId, int] = {}
    wanted = sorted(set(items))
    if not wanted:
        return
    for period, bucket in buckets_for(moment, services.policy_for(helpline_id)):
        for metric, dimension, key in wanted:
            counts[(period, bucket, metric, dimension, key)] = 1
    add_counts(session, counts, helpline_id)


def observe_conversation(
    services: Services, session: Session, conversation: Conversation, language: str | None
) -> None:
    """Count what is now true of a conversation and was not counted yet: the
    conversation itself (with its channel, first queue and whether it started
    outside opening hours), its language once known, urgency once marked.
    Safe to call after every message: each count moves once per conversation."""
    if conversation.practice:
        return
    items: list[tuple[str, str, str]] = []
    if _mark(conversation, "c"):
        items += [
            (CONVERSATIONS, ALL, ALL),
            (CONVERSATIONS, "channel", _key(conversation.channel)),
            (CONVERSATIONS, "queue", _key(conversation.queue)),
        ]
        if not hours.is_open(conversation.created_at,
                             services.policy_for(conversation.helpline_id)):
            items.append((OUTSIDE_HOURS, ALL, ALL))
    if language and _mark(conversation, "l"):
        items.append((CONVERSATIONS, "language", _key(language)))
    if conversation.priority == "urgent" and _mark(conversation, "u"):
        items.append((URGENT, ALL, ALL))
    _bump(services, session, conversation.created_at, items, conversation.helpline_id)


def record_label(
    services: Services, session: Session, conversation: Conversation, topic: str
) -> None:
    """A topic label was set in the console (counted once per conversation and
    topic; removing the label later does not uncount it)."""
    if conversation.practice:
        return
    key = _key(topic)
    if _mark(conversation, f"t:{key}"):
        _bump(services, session, conversation.created_at,
              [(CONVERSATIONS, "topic", key)], conversation.helpline_id)


def record_media(
    services: Services, session: Session, conversation: Conversation, kind: str
) -> None:
    """A texter sent a photo, voice note, video, sticker or document: counted
    once per conversation and kind ("conversations with a voice note"), like
    topics: several kinds may meet in one conversation, so they are not parts
    of the total, and each is suppressed on its own and across periods."""
    if conversation.practice:
        return
    key = _key(kind)
    if _mark(conversation, f"m:{key}"):
        _bump(services, session, conversation.created_at, [(CONVERSATIONS, "media", key)],
              conversation.helpline_id)


def record_referral(
    services: Services, session: Session, conversation: Conversation, partner: str,
    stage: Literal["proposed", "accepted", "withdrawn"],
) -> None:
    if conversation.practice:
        return
    metric = REFERRAL_STAGES.get(stage)
    if metric is None:
        raise StatsError(f"unknown referral stage {stage!r}")
    key = _key(partner)
    if _mark(conversation, f"r{stage[0]}:{key}"):
        _bump(services, session, conversation.created_at,
              [(metric, "partner", key)], conversation.helpline_id)


def wait_bin(minutes: float) -> str:
    edge = max(b for b in WAIT_BINS if b <= max(minutes, 0))
    return str(edge)


def record_first_answer(
    services: Services, session: Session, conversation: Conversation, now: datetime
) -> None:
    """The first human answer: one count in the wait histogram of the bucket
    where the conversation started. No per-conversation duration is kept."""
    if conversation.practice or _has(conversation, "n"):
        return
    if _mark(conversation, "w"):
        minutes = (now - conversation.created_at).total_seconds() / 60
        _bump(services, session, conversation.created_at,
              [(WAIT, "bin", wait_bin(minutes))], conversation.helpline_id)


def record_closed(
    services: Services, session: Session, conversation: Conversation, now: datetime
) -> None:
    """A conversation closed (or is about to be deleted): never answered by a
    human if no answer was counted."""
    if _newly_never_answered(conversation):
        _bump(services, session, conversation.created_at,
              [(NEVER_ANSWERED, ALL, ALL)], conversation.helpline_id)


def _newly_never_answered(conversation: Conversation) -> bool:
    """True once per conversation that ends without a human answer."""
    if conversation.practice or conversation.first_response_at is not None:
        return False
    return not _has(conversation, "w") and _mark(conversation, "n")


def record_removed(
    services: Services, session: Session, texter_ids: Sequence[str], now: datetime
) -> None:
    """Texters are about to be deleted (erasure or retention): their
    conversations without a human answer count as never answered."""
    if not texter_ids:
        return
    conversations = session.exec(  # type: ignore[call-overload]
        select(Conversation).where(
            Conversation.texter_id.in_(list(texter_ids)),  # type: ignore[attr-defined]
            Conversation.practice.is_(False),  # type: ignore[attr-defined]
            Conversation.first_response_at.is_(None),  # type: ignore[union-attr]
        )
    ).scalars().all()
    # One upsert for the whole batch, not one per conversation: a retention
    # purge removes thousands of texters at a time.
    counts: dict[str, dict[CellId, int]] = {}
    for conversation in conversations:
        if not _newly_never_answered(conversation):
            continue
        mine = counts.setdefault(conversation.helpline_id, {})
        policy = services.policy_for(conversation.helpline_id)
        for period, bucket in buckets_for(conversation.created_at, policy):
            cell = (period, bucket, NEVER_ANSWERED, ALL, ALL)
            mine[cell] = mine.get(cell, 0) + 1
    for helpline_id, cells in sorted(counts.items()):
        add_counts(session, cells, helpline_id)


def record_erasure(
    services: Services, session: Session, texter: Texter, now: datetime
) -> None:
    """A texter (or an admin on their behalf) asked to be erased. Counted in
    the bucket of the request; retention is not a request and is not counted."""
    if texter.practice:
        return
    _bump(services, session, now, [(ERASURE_REQUESTS, ALL, ALL)], texter.helpline_id)


def record_alert_subscription(
    services: Services, session: Session, texter: Texter, now: datetime
) -> None:
    """A texter subscribed to safety alerts (counted when it happens; who, never)."""
    if texter.practice:
        return
    _bump(services, session, now, [(ALERT_SUBSCRIPTIONS, ALL, ALL)], texter.helpline_id)


def record_alert_sent(
    services: Services, session: Session, now: datetime, helpline_id: str = DEFAULT_HELPLINE_ID
) -> None:
    """A safety alert went out (one count per alert, not per recipient)."""
    _bump(services, session, now, [(ALERTS_SENT, ALL, ALL)], helpline_id)


def record_volunteer_notifications(
    services: Services, session: Session, now: datetime, count: int,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> None:
    """Content-free notifications sent to volunteers (how many, never to whom)."""
    if count <= 0:
        return
    counts: dict[CellId, int] = {}
    for period, bucket in buckets_for(now, services.policy):
        counts[(period, bucket, VOLUNTEER_NOTIFICATIONS, ALL, ALL)] = count
    add_counts(session, counts, helpline_id)
