"""The audit log: who did what to which pseudonymous object, and when.

Append-only through the app: this module only inserts, and no code path
updates or deletes `audit_log` rows (a test greps for one). Object references
are internal ids or pseudonyms, never content and never a typed username:
a mistyped password pasted into the username field must not end up stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from helpline.store.models import DEFAULT_HELPLINE_ID, AuditEntry

# Actions recorded by the account and sign-in code; other parts use their own
# dotted names ("conversation.open", "message.reply", "referral.propose",
# "texter.erase").
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
LOGIN_THROTTLED = "login.throttled"
LOGOUT = "logout"
PASSWORD_CHANGE = "password.change"  # noqa: S105 - an action name
USER_CREATE = "user.create"
USER_DISABLE = "user.disable"
USER_ENABLE = "user.enable"
USER_RESET_TOTP = "user.reset_totp"
USER_ROLE = "user.role"
SAVED_REPLY_CREATE = "saved_reply.create"
SAVED_REPLY_UPDATE = "saved_reply.update"
SAVED_REPLY_DELETE = "saved_reply.delete"
HELPLINE_CREATE = "helpline.create"
MEMBERSHIP_GRANT = "membership.grant"


def record(
    session: Session,
    actor_id: str | None,
    action: str,
    object_ref: str | None,
    now: datetime,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> AuditEntry:
    """One entry, in the log of the helpline it happened in (sign-ins: the
    account's own helpline)."""
    if len(action) > 64 or (object_ref is not None and len(object_ref) > 64):
        raise ValueError("audit action or object reference too long")
    entry = AuditEntry(at=now, actor_id=actor_id, action=action, object_ref=object_ref,
                       helpline_id=helpline_id)
    session.add(entry)
    return entry


def page(
    session: Session, *, before_id: int | None = None, limit: int = 50,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> tuple[list[AuditEntry], int | None]:
    """One helpline's log, newest first; returns the rows and the cursor for
    the next (older) page."""
    stmt = (select(AuditEntry).where(AuditEntry.helpline_id == helpline_id)
            .order_by(col(AuditEntry.id).desc()).limit(limit + 1))
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    rows = list(session.exec(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def count(session: Session, helpline_id: str = DEFAULT_HELPLINE_ID) -> int:
    return int(session.exec(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.helpline_id == helpline_id)).one())
