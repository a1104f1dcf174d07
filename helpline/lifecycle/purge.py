"""Retention: erasing every texter inactive for longer than their helpline's
retention period, in bulk (what `helpline purge` and the worker run).

Each helpline's own policy `retention_days` governs its own texters: Tilburg
may keep conversations 30 days and Zeeland 90 in the same installation. An
explicit HELPLINE_RETENTION_DAYS is the installation's ceiling on all of them
and overrides every policy (docs/operating.md, "Retention"). Erasure itself
(what goes, keys first) is helpline.lifecycle.retention's and deletion's.

Retention deletes in bulk, a few dozen texters per transaction, so the write
lock (SQLite) or row locks (PostgreSQL) are held for milliseconds and the
webhooks keep answering while a large purge runs (benchmarks/purge.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlmodel import Session, col

from helpline import logs
from helpline.helplines import HelplineConfig, UnknownHelpline
from helpline.lifecycle.deletion import delete_texters
from helpline.lifecycle.keystore import apply_tombstones
from helpline.lifecycle.progress import Progress
from helpline.media import store as media_store
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    Conversation,
    DataKey,
    DedupKey,
    ErasedKey,
    OutboxItem,
    Texter,
)

# WhatsApp retries a delivery for up to 7 days; a day of margin on top.
DEDUP_TTL = timedelta(days=8)
# A detached goodbye that could not be sent by then is given up (key and all).
DETACHED_TTL = timedelta(days=2)
# Texters per retention transaction: small enough that a webhook waiting for
# the SQLite write lock waits milliseconds, large enough to purge 1M messages
# in well under a minute (benchmarks/purge.py).
PURGE_BATCH = 50


def retention_days(services: Services, helpline_id: str = DEFAULT_HELPLINE_ID) -> int:
    """HELPLINE_RETENTION_DAYS when set explicitly (for every helpline), else
    the helpline's own policy file's."""
    settings = services.settings
    if "retention_days" in settings.model_fields_set:
        return settings.retention_days
    return services.policy_for(helpline_id).retention_days


@dataclass
class HelplinePurge:
    """What retention erased in one helpline: counts only."""

    slug: str
    retention_days: int
    texters: int = 0
    messages: int = 0


@dataclass
class PurgeResult:
    texters: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    dedup_keys: int = 0
    detached: int = 0
    media_files: int = 0
    helplines: list[HelplinePurge] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return self.rows.get("messages", 0)

    def of(self, slug: str) -> HelplinePurge:
        return next(h for h in self.helplines if h.slug == slug)

    def lines(self) -> list[str]:
        out = [f"texters erased: {self.texters}"]
        out += [f"{table} deleted: {count}" for table, count in sorted(self.rows.items())]
        out.append(f"dedup keys expired: {self.dedup_keys}")
        out.append(f"detached outbox items removed: {self.detached}")
        out.append(f"orphaned media files removed: {self.media_files}")
        for h in self.helplines:
            out.append(f"helpline {h.slug} retention days: {h.retention_days}")
            out.append(f"helpline {h.slug} texters erased: {h.texters}")
            out.append(f"helpline {h.slug} messages deleted: {h.messages}")
        return out


def _expired_texters(
    services: Services, session: Session, helpline_id: str, cutoff: datetime, limit: int
) -> list[tuple[str, str]]:
    # Inactive = no inbound message since the cutoff AND no message either
    # way in any of their conversations (a volunteer still writing to them
    # keeps the conversation alive).
    recent = exists().where(
        col(Conversation.texter_id) == col(Texter.id),
        col(Conversation.last_message_at) >= cutoff,
    )
    query = (
        select(col(Texter.id), col(Texter.data_key_id))
        .where(
            col(Texter.helpline_id) == helpline_id,
            col(Texter.last_activity_at) < cutoff,
            ~recent,
        )
        .order_by(col(Texter.last_activity_at))
        .limit(limit)
    )
    if not services.db.is_sqlite:
        # A texter writing right now holds their row (intake locks it): skip
        # them; the re-checked WHERE keeps them if their activity moved on.
        query = query.with_for_update(of=Texter, skip_locked=True)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def helplines_to_purge(services: Services, slug: str | None) -> list[HelplineConfig]:
    """Every helpline (re-read, so one added by another process since this
    one started is purged too), or the one named; UnknownHelpline otherwise."""
    services.helplines.reload()
    if slug is None:
        return services.helplines.all()
    found = services.helplines.by_slug(slug)
    if found is None:
        raise UnknownHelpline()
    return [found]


def purge(
    services: Services,
    *,
    helpline: str | None = None,
    batch: int = PURGE_BATCH,
    progress: Progress | None = None,
    pause: bool = True,
) -> PurgeResult:
    """Erase every texter inactive for longer than their helpline's retention
    period (of every helpline, or only of the one whose slug is `helpline`),
    expire dedup keys and stale detached outbox items. Returns counts only.

    Dedup keys, detached goodbyes and orphaned media files belong to no
    texter: they are expired installation-wide whichever helpline is named."""
    now = services.now()
    result = PurgeResult()
    for config in helplines_to_purge(services, helpline):
        days = retention_days(services, config.id)
        own = HelplinePurge(slug=config.slug, retention_days=days)
        _purge_helpline(services, config.id, now - timedelta(days=days), batch, pause,
                        progress, result, own)
        result.helplines.append(own)
        logs.event("lifecycle.purged", helpline=config.slug, count=own.texters)
    with services.db.session() as session:
        result.media_files = media_store.sweep(session, services.settings)
    result.dedup_keys = _expire_dedup(services, now - DEDUP_TTL, batch * 100)
    result.detached = _expire_detached(services, now)
    if progress is not None:
        progress.finish()
    try:
        apply_tombstones(services, create=False)
    except Exception as exc:  # noqa: BLE001 - retention itself is done; report only
        logs.event("lifecycle.tombstones_failed", error=type(exc).__name__)
    return result


def _purge_helpline(
    services: Services, helpline_id: str, cutoff: datetime, batch: int, pause: bool,
    progress: Progress | None, result: PurgeResult, own: HelplinePurge,
) -> None:
    now = services.now()
    while True:
        started = time.monotonic()
        with services.db.session() as session:
            expired = _expired_texters(services, session, helpline_id, cutoff, batch)
            if not expired:
                return
            counting.record_removed(services, session, [t for t, _ in expired], now)
            deleted = delete_texters(
                session, [t for t, _ in expired], [k for _, k in expired], now
            )
        media_store.delete_files(services.settings, deleted.media_files)
        result.texters += deleted.texters
        own.texters += deleted.texters
        own.messages += deleted.rows.get("messages", 0)
        for table, count in deleted.rows.items():
            result.rows[table] = result.rows.get(table, 0) + count
        if progress is not None:
            progress.update(result.texters)
        if services.db.is_sqlite and pause:
            # SQLite has one write lock and its busy handler polls (every
            # 25-100 ms once it has waited a while): without a pause this loop
            # re-takes the lock at once and starves incoming webhooks.
            time.sleep(min(max((time.monotonic() - started) / 4, 0.02), 0.1))


def _expire_dedup(services: Services, before: datetime, batch: int) -> int:
    total = 0
    while True:
        with services.db.session() as session:
            keys = select(col(DedupKey.key)).where(col(DedupKey.created_at) < before).limit(batch)
            deleted = session.execute(
                delete(DedupKey).where(col(DedupKey.key).in_(keys.scalar_subquery()))
            )
            count = int(deleted.rowcount)  # type: ignore[attr-defined]
        total += count
        if count < batch:
            return total


def _expire_detached(services: Services, now: datetime) -> int:
    """Detached goodbyes: sent or failed ones carry nothing any more; a pending
    one older than DETACHED_TTL is given up, its key destroyed with it."""
    with services.db.session() as session:
        rows = session.execute(
            select(col(OutboxItem.id), col(OutboxItem.data_key_id)).where(
                col(OutboxItem.texter_id).is_(None),
                col(OutboxItem.created_at) < now - timedelta(hours=1),
                col(OutboxItem.state).in_(("sent", "failed"))
                | (col(OutboxItem.created_at) < now - DETACHED_TTL),
            )
        ).all()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        keys = [r[1] for r in rows if r[1]]
        session.execute(delete(OutboxItem).where(col(OutboxItem.id).in_(ids)))
        if keys:
            session.execute(delete(DataKey).where(col(DataKey.id).in_(keys)))
    return len(ids)


_last_periodic: dict[int, datetime] = {}


def periodic(services: Services, every: timedelta = timedelta(minutes=10)) -> PurgeResult | None:
    """From the worker loop: tombstones right away (so a backup's key store
    forgets an erased texter within seconds), retention of every helpline at
    most every `every`."""
    now = services.now()
    _tombstones_now(services)
    last = _last_periodic.get(id(services))
    if last is not None and now - last < every and now >= last:
        return None
    _last_periodic[id(services)] = now
    return purge(services)


def _tombstones_now(services: Services) -> None:
    with services.db.session() as session:
        waiting = session.execute(select(col(ErasedKey.key_id)).limit(1)).first()
    if waiting is None:
        return
    try:
        apply_tombstones(services, create=False)
    except Exception as exc:  # noqa: BLE001 - retried next tick; never stops the worker
        logs.event("lifecycle.tombstones_failed", error=type(exc).__name__)
