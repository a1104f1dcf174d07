"""Sign-in: argon2id passwords, single-use TOTP codes, throttling.

Threats and answers:

* Offline cracking of a stolen database: argon2id (argon2-cffi) with the
  configured cost. Overlong passwords are refused before hashing, so nobody
  can make the server hash a megabyte.
* Telling which usernames exist: an unknown user is answered exactly like a
  wrong password (same 401, same body), after hashing against a dummy hash so
  the time taken is alike too. Throttling counts per *typed* handle, keyed-
  hashed, so unknown and known accounts lock alike as well.
* Online guessing: the 6th failed sign-in for a handle within a minute is
  refused (429) even with the right password, and a client address gets a
  larger budget across handles. Only keyed hashes
  (`services.index.tag("login-address", ip)`) are stored, never the address.
* Stolen or shoulder-surfed codes: TOTP (pyotp, 30 s steps, one step of clock
  drift either way) and each step is accepted once (`users.totp_last_step`).
  The secret is sealed under the user's own data key.

Password verification runs outside any database transaction: on SQLite every
transaction holds the write lock, and a slow hash must not stall intake.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from helpline import logs
from helpline.config import Settings
from helpline.console import audit, memberships, sessions
from helpline.errors import HelplineError
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, LoginFailure, User

PASSWORD_MIN = 12
PASSWORD_MAX = 128
ACCOUNT_LIMIT = 5  # failures allowed per handle per ACCOUNT_WINDOW; the 6th is refused
ACCOUNT_WINDOW = timedelta(minutes=1)
ADDRESS_LIMIT = 30  # failures allowed per client address per ADDRESS_WINDOW
ADDRESS_WINDOW = timedelta(minutes=15)
TOTP_STEP = 30
TOTP_DRIFT_STEPS = 1  # pyotp's valid_window=1
ISSUER = "Helpline"
_CODE = re.compile(r"^\d{6}$")


class SignInFailed(HelplineError):
    status_code = 401
    public_message = "sign-in failed"


class CodeAlreadyUsed(SignInFailed):
    """Right password, and a code that was valid but is spent (each code
    works once). Only said after a correct password, so it tells a stranger
    nothing about the password; someone who has it learns only that a code
    they already hold was used, and waits for the next."""

    public_message = "code already used, wait for the next one"


class SignInThrottled(HelplineError):
    status_code = 429
    public_message = "too many attempts, wait a minute"


class PasswordRejected(HelplineError):
    status_code = 400
    public_message = f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters"


# ------------------------------------------------------------------ passwords


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, type=Type.ID)


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_cost)


@functools.lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    return _hasher(time_cost, memory_cost).hash("not a password of anyone, only for timing")


def check_password_length(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise PasswordRejected()


def hash_password(settings: Settings, password: str) -> str:
    check_password_length(password)
    return hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (dummy hash when None)."""
    if len(password) > PASSWORD_MAX:
        return False
    target = password_hash or _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_cost)
    try:
        ok = hasher(settings).verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeEncodeError):
        return False
    return ok and password_hash is not None


# ------------------------------------------------------------------ TOTP


TOTP_SECRET_MIN_BYTES = 10  # 80 bits, RFC 4226 section 4's minimum (160 recommended)


def normalise_totp_secret(secret: str) -> str | None:
    """The secret without spaces or padding, upper case, if it decodes as
    base32 to at least 80 bits; else None. pyotp decodes lazily, so a secret
    that does not decode failed only at sign-in, and only after a correct
    password: a 500 that told an attacker the password was right."""
    cleaned = secret.replace(" ", "").upper().rstrip("=")
    if not re.fullmatch(r"[A-Z2-7]{16,128}", cleaned):
        return None
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        return None
    return cleaned if len(raw) >= TOTP_SECRET_MIN_BYTES else None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def seal_totp(services: Services, session: Session, user: User, secret: str) -> bytes:
    key = services.vault.key(session, user.data_key_id)
    return services.vault.seal(key, secret, "users", "totp_secret", user.id)


def open_totp(services: Services, session: Session, user: User) -> str:
    key = services.vault.key(session, user.data_key_id)
    return services.vault.open(key, user.totp_secret, "users", "totp_secret", user.id)


def matching_step(secret: str, code: str, now: datetime, last_step: int) -> int | None:
    """The TOTP step `code` belongs to, if it is valid now (one step of drift
    either way) and newer than the last accepted one; else None."""
    code = code.replace(" ", "")
    if not _CODE.match(code):
        return None
    current = int(now.timestamp()) // TOTP_STEP
    found = None
    try:
        totp = pyotp.TOTP(secret)
        for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
            # Compare every candidate (no early exit) and in constant time.
            if hmac.compare_digest(totp.at(step * TOTP_STEP), code) and step > last_step:
                found = step
    except (binascii.Error, ValueError):
        # A stored secret that does not decode (written before validation):
        # fail closed as a wrong code, never as a server error.
        return None
    return found


def code_was_used(secret: str, code: str, now: datetime, last_step: int) -> bool:
    """True if `code` is valid now but its step was already accepted."""
    code = code.replace(" ", "")
    if not _CODE.match(code):
        return False
    current = int(now.timestamp()) // TOTP_STEP
    used = False
    try:
        totp = pyotp.TOTP(secret)
        for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.at(step * TOTP_STEP), code) and step <= last_step:
                used = True
    except (binascii.Error, ValueError):
        return False
    return used


# ------------------------------------------------------------------ throttling


def normalise_username(username: str) -> str:
    return username.strip().casefold()


def account_key(services: Services, username: str) -> str:
    return services.index.tag("login-account", normalise_username(username))


def address_key(services: Services, address: str | None) -> str:
    return services.index.tag("login-address", address or "unknown")


def _failures(session: Session, scope: str, key: str, since: datetime) -> int:
    stmt = (
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.scope == scope, LoginFailure.key == key, col(LoginFailure.at) > since)
    )
    return int(session.exec(stmt).one())


def is_throttled(session: Session, acct: str, addr: str, now: datetime) -> bool:
    return (
        _failures(session, "account", acct, now - ACCOUNT_WINDOW) >= ACCOUNT_LIMIT
        or _failures(session, "address", addr, now - ADDRESS_WINDOW) >= ADDRESS_LIMIT
    )


def record_failure(session: Session, acct: str, addr: str, now: datetime) -> None:
    session.add(LoginFailure(scope="account", key=acct, at=now))
    session.add(LoginFailure(scope="address", key=addr, at=now))


def forget_old_failures(session: Session, now: datetime) -> None:
    horizon = now - max(ACCOUNT_WINDOW, ADDRESS_WINDOW)
    session.execute(delete(LoginFailure).where(col(LoginFailure.at) < horizon))


# ------------------------------------------------------------------ sign-in


@dataclass(frozen=True)
class SignedIn:
    token: str
    user: sessions.SessionUser


def sign_in(
    services: Services,
    username: str,
    password: str,
    code: str,
    address: str | None,
    *,
    ui_language: str | None = None,
) -> SignedIn:
    """Check the three credentials and start a session, or raise
    SignInFailed (CodeAlreadyUsed) / SignInThrottled. Every outcome is in the
    audit log. `ui_language`, the console language chosen on the sign-in
    page, is saved for the account."""
    settings = services.settings
    now = services.now()
    acct, addr = account_key(services, username), address_key(services, address)
    handle = normalise_username(username)

    with services.db.session() as session:
        user = session.exec(select(User).where(User.username == handle)).first()
        user_id = user.id if user is not None else None
        password_hash = user.password_hash if user is not None else None
        # Sign-ins are in the log of the account's own helpline.
        home = user.helpline_id if user is not None else DEFAULT_HELPLINE_ID
        if is_throttled(session, acct, addr, now):
            throttled = True
            audit.record(session, user_id, audit.LOGIN_THROTTLED, None, now, helpline_id=home)
        else:
            throttled = False
    if throttled:
        logs.event("auth.throttled", user=user_id)
        raise SignInThrottled()

    password_ok = verify_password(settings, password_hash, password)

    with services.db.session() as session:
        user = None
        if password_ok and user_id is not None:
            # Row lock on PostgreSQL, write lock on SQLite: two requests with
            # the same code cannot both pass the single-use check.
            user = session.exec(
                select(User).where(User.id == user_id).with_for_update()
            ).first()
        step = None
        used = False
        if user is not None and not user.disabled:
            secret = open_totp(services, session, user)
            step = matching_step(secret, code, now, user.totp_last_step)
            used = step is None and code_was_used(secret, code, now, user.totp_last_step)
        if user is None or user.disabled or step is None:
            record_failure(session, acct, addr, now)
            audit.record(session, user_id, audit.LOGIN_FAILURE, None, now, helpline_id=home)
            failed = True
        else:
            failed = False
            user.totp_last_step = step
            if ui_language is not None:
                user.ui_language = ui_language
            if hasher(settings).check_needs_rehash(user.password_hash):
                user.password_hash = hasher(settings).hash(password)
            session.add(user)
            session.execute(
                delete(LoginFailure).where(
                    col(LoginFailure.scope) == "account", col(LoginFailure.key) == acct
                )
            )
            forget_old_failures(session, now)
            sessions.purge_expired(session, now)
            token = sessions.start_session(services, session, user, now)
            audit.record(session, user.id, audit.LOGIN_SUCCESS, user.id, now, helpline_id=home)
            roles = memberships.roles_of(session, user)
            active, choosing = memberships.active_role(roles, None)
            signed_in = SignedIn(
                token=token,
                user=sessions.SessionUser(
                    user_id=user.id,
                    username=user.username,
                    role="" if choosing else active.role,
                    alias=user.alias,
                    partner_id=None if choosing else active.partner_id,
                    ui_language=user.ui_language,
                    session_id=sessions.session_id_for(token),
                    csrf_token=sessions.csrf_token_for(services, token),
                    signed_in_at=now,
                    helpline_id=active.helpline_id,
                    choosing=choosing,
                    helpline_count=len(roles),
                ),
            )
    if failed:
        logs.event("auth.code_used" if used else "auth.failed", user=user_id)
        raise CodeAlreadyUsed() if used else SignInFailed()
    logs.event("auth.signed_in", user=signed_in.user.user_id, role=signed_in.user.role)
    return signed_in


def change_password(
    services: Services, me: sessions.SessionUser, current: str, new: str, address: str | None
) -> None:
    """Change one's own password; every other session of the account ends."""
    settings = services.settings
    now = services.now()
    check_password_length(new)
    acct, addr = account_key(services, me.username), address_key(services, address)
    with services.db.session() as session:
        user = session.get(User, me.user_id)
        if user is None:
            raise SignInFailed()
        if is_throttled(session, acct, addr, now):
            raise SignInThrottled()
        old_hash = user.password_hash
    ok = verify_password(settings, old_hash, current)
    new_hash = hash_password(settings, new) if ok else None
    with services.db.session() as session:
        user = session.get(User, me.user_id)
        if user is None or new_hash is None:
            record_failure(session, acct, addr, now)
            audit.record(session, me.user_id, audit.LOGIN_FAILURE, me.user_id, now,
                         helpline_id=user.helpline_id if user else DEFAULT_HELPLINE_ID)
        else:
            user.password_hash = new_hash
            user.password_changed_at = now
            session.add(user)
            sessions.revoke_all(session, user.id, except_id=me.session_id)
            audit.record(session, user.id, audit.PASSWORD_CHANGE, user.id, now,
                         helpline_id=user.helpline_id)
    if new_hash is None:
        raise WrongPassword()
    logs.event("auth.password_changed", user=me.user_id)


class WrongPassword(HelplineError):
    status_code = 400
    public_message = "current password is wrong"
