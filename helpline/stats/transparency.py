"""The yearly transparency summary: suppressed figures, account counts and audit counts."""


from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlmodel import Session

from helpline.stats.cells import (
    ALL,
    CONVERSATIONS,
    ERASURE_REQUESTS,
    REFERRALS_ACCEPTED,
    REFERRALS_PROPOSED,
    REFERRALS_WITHDRAWN,
)
from helpline.stats.publishing import snapshot
from helpline.stats.suppression import Row, rows_for
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    User,
)

if TYPE_CHECKING:
    from helpline.services import Services


# ------------------------------------------------------------------ transparency


@dataclass
class Transparency:
    year: int
    threshold: int
    figures: list[Row]
    accounts: dict[str, int]
    audit: dict[str, int]
    as_of: datetime | None = None
    stale: bool = False


def transparency(
    services: Services, year: int, helpline_id: str = DEFAULT_HELPLINE_ID
) -> Transparency:
    """A yearly summary a coordinator can publish as it is: conversations,
    erasure requests and referrals (suppressed like everything else), the
    number of accounts with access by role, and how often the audit log
    recorded access (by kind of action; no actor, no object)."""
    snap = snapshot(services, helpline_id)
    values = snap.values
    with services.db.session() as session:
        accounts = {
            str(role): int(n)
            for role, n in session.execute(
                select(User.role, func.count()).where(User.disabled == False)  # type: ignore[call-overload]  # noqa: E712
                .where(User.helpline_id == helpline_id)
                .group_by(User.role)
            ).all()
        }
        audit = _audit_counts(session, year, helpline_id)
    wanted = {CONVERSATIONS: (ALL,), ERASURE_REQUESTS: (ALL,), REFERRALS_PROPOSED: ("partner",),
              REFERRALS_ACCEPTED: ("partner",), REFERRALS_WITHDRAWN: ("partner",)}
    figures = [
        row for row in rows_for(values, "year")
        if row.bucket == str(year) and row.dimension in wanted.get(row.metric, ())
    ]
    return Transparency(year=year, threshold=services.policy_for(helpline_id).stats_threshold,
                        figures=figures, accounts=accounts, audit=audit,
                        as_of=snap.as_of, stale=snap.stale)


def _audit_counts(session: Session, year: int, helpline_id: str) -> dict[str, int]:
    from helpline.store import models

    entry = getattr(models, "AuditEntry", None)
    if entry is None:
        return {}
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    rows = session.execute(
        select(entry.action, func.count())
        .where(entry.at >= start, entry.at < end, entry.helpline_id == helpline_id)
        .group_by(entry.action)
    ).all()
    return {str(action): int(n) for action, n in rows}
