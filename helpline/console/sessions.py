"""Server-side console sessions.

The cookie holds a random 256-bit token; the database holds only its SHA-256
(`sessions.id`), so a copied database or backup contains no usable cookie.
The CSRF token is not stored at all: it is an HMAC of the cookie token under
the index key (`services.index.tag("csrf", token)`). Only someone who holds
the cookie *and* the server key can compute it, it changes with every session,
and a page render can always hand it to the browser again without a lookup.

Lifetimes: 30 minutes idle, 12 hours at most. `last_seen_at` is written at
most once a minute per session so that every request is not a write on
SQLite (where writes are serialised); the idle limit is therefore exact to
within that minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, select

from helpline.config import Settings
from helpline.console import memberships
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, ConsoleSession, User

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_INTERVAL = timedelta(minutes=1)

# `__Host-` makes the browser refuse the cookie unless it is Secure, has
# Path=/ and no Domain: no sibling subdomain can set or overwrite it. Browsers
# also refuse a Secure cookie over plain http, so the local demo (http,
# secure_cookies=False) must use a name without the prefix.
SECURE_COOKIE = "__Host-helpline"
PLAIN_COOKIE = "helpline_session"


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if settings.secure_cookies else PLAIN_COOKIE


def session_id_for(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token_for(services: Services, token: str) -> str:
    return services.index.tag("csrf", token)


def csrf_matches(services: Services, token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(services, token), presented)


@dataclass(frozen=True)
class SessionUser:
    """Who is signed in, as the routes see it. No secrets apart from the
    CSRF token, which pages need to hand to their scripts."""

    user_id: str
    username: str
    role: str
    alias: str
    partner_id: str | None
    ui_language: str
    session_id: str
    csrf_token: str
    # The session's own start (sessions.created_at), for the end-of-shift prompt.
    signed_in_at: datetime | None = None
    # The helpline the user works in now (issue 17): every console query is
    # scoped to it. `choosing`: roles in several helplines and none picked
    # yet; nothing but the choice is open until then.
    helpline_id: str = DEFAULT_HELPLINE_ID
    choosing: bool = False
    helpline_count: int = 1  # how many helplines the account may work in

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def start_session(services: Services, session: Session, user: User, now: datetime) -> str:
    """Create a fresh session for `user`; returns the cookie token.

    Always a new id at sign-in, so a token planted before sign-in (session
    fixation) never becomes an authenticated one.
    """
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(id=session_id_for(token), user_id=user.id, created_at=now, last_seen_at=now)
    )
    return token


def _expired(row: ConsoleSession, now: datetime) -> bool:
    return now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT


def load(services: Services, token: str | None) -> SessionUser | None:
    """The signed-in user for a cookie token, or None (unknown, expired,
    revoked, or the account is disabled). Touches `last_seen_at`."""
    if not token or len(token) > 256:
        return None
    now = services.now()
    sid = session_id_for(token)
    with services.db.session() as session:
        row = session.get(ConsoleSession, sid)
        if row is None:
            return None
        user = session.get(User, row.user_id)
        if user is None or user.disabled:
            revoke_all(session, row.user_id)
            return None
        if _expired(row, now):
            session.execute(delete(ConsoleSession).where(ConsoleSession.id == sid))  # type: ignore[arg-type]
            return None
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            row.last_seen_at = now
            session.add(row)
        roles = memberships.roles_of(session, user)
        active, choosing = memberships.active_role(roles, row.helpline_id)
        return SessionUser(
            user_id=user.id,
            username=user.username,
            # No role at all until a helpline is chosen: every role check
            # refuses, and every page sends the user to the choice.
            role="" if choosing else active.role,
            alias=user.alias,
            partner_id=None if choosing else active.partner_id,
            ui_language=user.ui_language,
            session_id=sid,
            csrf_token=csrf_token_for(services, token),
            signed_in_at=row.created_at,
            helpline_id=active.helpline_id,
            choosing=choosing,
            helpline_count=len(roles),
        )


def revoke(session: Session, session_id: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))  # type: ignore[arg-type]


def revoke_all(session: Session, user_id: str, *, except_id: str | None = None) -> int:
    stmt = delete(ConsoleSession).where(ConsoleSession.user_id == user_id)  # type: ignore[arg-type]
    if except_id is not None:
        stmt = stmt.where(ConsoleSession.id != except_id)  # type: ignore[arg-type]
    result = session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, now: datetime) -> int:
    """Delete sessions past either limit (called at sign-in; cheap)."""
    stale = select(ConsoleSession.id).where(
        (ConsoleSession.last_seen_at < now - IDLE_TIMEOUT)
        | (ConsoleSession.created_at < now - ABSOLUTE_TIMEOUT)
    )
    ids = list(session.exec(stale))
    if ids:
        session.execute(delete(ConsoleSession).where(ConsoleSession.id.in_(ids)))  # type: ignore[attr-defined]
    return len(ids)
