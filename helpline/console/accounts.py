"""Console accounts: create, disable, enable, reset TOTP, change role.

Used by the admin routes and by `helpline user add`. Every change is in the
audit log; disabling an account or changing its role ends its sessions, so a
removed volunteer's open browser stops working at once.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from helpline.console import audit, auth, sessions
from helpline.console.deps import NATIONAL, PARTNER, ROLES
from helpline.errors import Conflict, HelplineError, NotFound
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, User, new_id

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")

# Neutral aliases colleagues (and, if the policy signs replies, texters) see.
# Birds, so they never look like a texter's flower pseudonym.
BIRDS = (
    "Merel", "Vink", "Mees", "Zwaluw", "Reiger", "Specht", "Lijster", "Kievit",
    "Ekster", "Gaai", "Roodborst", "Winterkoning", "Ijsvogel", "Grutto", "Tureluur",
    "Kwikstaart", "Leeuwerik", "Nachtegaal", "Spreeuw", "Wielewaal", "Zanglijster",
    "Boomklever", "Goudvink", "Putter", "Sijs", "Kneu", "Fuut", "Meerkoet", "Scholekster",
    "Plevier",
)  # fmt: skip


class AccountInvalid(HelplineError):
    status_code = 400
    public_message = "invalid account data"
    explains = True  # the rule broken, for the admin's form and the CLI


class AccountConflict(Conflict):
    explains = True


def random_alias() -> str:
    return f"{secrets.choice(BIRDS)}-{secrets.randbelow(90) + 10}"


def check_role(
    services: Services, role: str, partner_id: str | None,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> None:
    if role not in ROLES:
        raise AccountInvalid(f"role must be one of {', '.join(ROLES)}")
    if role == NATIONAL and helpline_id != DEFAULT_HELPLINE_ID:
        # National figures span every helpline: the installation grants them.
        raise AccountInvalid("national accounts are made by the installation's admins")
    policy = services.policy_for(helpline_id)
    if role == PARTNER:
        if not partner_id or policy.partner(partner_id) is None:
            known = ", ".join(p.id for p in policy.partners) or "none"
            raise AccountInvalid(f"a partner account needs --partner, one of: {known}")
    elif partner_id:
        raise AccountInvalid("only partner accounts belong to a partner")


def create_user(
    services: Services,
    username: str,
    role: str,
    password: str,
    alias: str | None = None,
    partner_id: str | None = None,
    totp_secret: str | None = None,
    *,
    actor_id: str | None = None,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> tuple[User, str]:
    """Create an account of `helpline_id`; returns it with its TOTP secret
    (new unless given)."""
    handle = auth.normalise_username(username)
    if not USERNAME.match(handle):
        raise AccountInvalid(
            "a username has 3 to 64 characters: letters, digits, dot, dash, underscore"
        )
    services.helpline(helpline_id)  # UnknownHelpline (404) for a wrong id
    check_role(services, role, partner_id, helpline_id)
    if alias is not None and not 1 <= len(alias.strip()) <= 64:
        raise AccountInvalid("an alias has 1 to 64 characters")
    if totp_secret is not None:
        totp_secret = auth.normalise_totp_secret(totp_secret)
        if totp_secret is None:
            raise AccountInvalid(
                "the TOTP secret must be valid base32 (RFC 4648) of at least 80 bits "
                "(16 characters); leave it out to get a new one"
            )
    secret = totp_secret or auth.new_totp_secret()
    password_hash = auth.hash_password(services.settings, password)
    now = services.now()
    try:
        with services.db.session() as session:
            if session.exec(select(User.id).where(User.username == handle)).first():
                raise AccountConflict("username taken")
            chosen = alias.strip() if alias else _free_alias(session)
            if alias and session.exec(select(User.id).where(User.alias == chosen)).first():
                raise AccountConflict("alias taken")
            key_row, _ = services.vault.create_key(session, now)
            user = User(
                id=new_id(),
                helpline_id=helpline_id,
                username=handle,
                alias=chosen,
                role=role,
                partner_id=partner_id if role == PARTNER else None,
                password_hash=password_hash,
                data_key_id=key_row.id,
                totp_secret=b"",
                created_at=now,
                password_changed_at=now,
            )
            user.totp_secret = auth.seal_totp(services, session, user, secret)
            session.add(user)
            session.flush()
            audit.record(session, actor_id, audit.USER_CREATE, user.id, now,
                         helpline_id=helpline_id)
    except IntegrityError:
        raise AccountConflict("username or alias taken") from None
    return user, secret


def _free_alias(session: Session) -> str:
    for _ in range(50):
        alias = random_alias()
        if session.exec(select(User.id).where(User.alias == alias)).first() is None:
            return alias
    return f"{secrets.choice(BIRDS)}-{secrets.token_hex(3)}"


def _get(session: Session, user_id: str, helpline_id: str) -> User:
    """An account of `helpline_id`; another helpline's is not found (an
    admin manages the accounts of their own region only)."""
    user = session.get(User, user_id)
    if user is None or user.helpline_id != helpline_id:
        raise NotFound()
    return user


def set_disabled(
    services: Services, actor_id: str, user_id: str, disabled: bool,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> User:
    now = services.now()
    with services.db.session() as session:
        user = _get(session, user_id, helpline_id)
        if disabled and user.id == actor_id:
            raise AccountConflict("you cannot disable your own account")
        user.disabled = disabled
        session.add(user)
        if disabled:
            sessions.revoke_all(session, user.id)
        audit.record(session, actor_id, audit.USER_DISABLE if disabled else audit.USER_ENABLE,
                     user.id, now, helpline_id=helpline_id)
    return user


def reset_totp(
    services: Services, actor_id: str, user_id: str, helpline_id: str = DEFAULT_HELPLINE_ID
) -> tuple[User, str]:
    """A new secret (the old authenticator stops working); sessions end."""
    now = services.now()
    secret = auth.new_totp_secret()
    with services.db.session() as session:
        user = _get(session, user_id, helpline_id)
        user.totp_secret = auth.seal_totp(services, session, user, secret)
        user.totp_last_step = 0
        session.add(user)
        sessions.revoke_all(session, user.id)
        audit.record(session, actor_id, audit.USER_RESET_TOTP, user.id, now,
                     helpline_id=helpline_id)
    return user, secret


def change_role(
    services: Services, actor_id: str, user_id: str, role: str, partner_id: str | None,
    helpline_id: str = DEFAULT_HELPLINE_ID,
) -> User:
    check_role(services, role, partner_id, helpline_id)
    now = services.now()
    with services.db.session() as session:
        user = _get(session, user_id, helpline_id)
        if user.id == actor_id and role != user.role:
            raise AccountConflict("you cannot change your own role")
        user.role = role
        user.partner_id = partner_id if role == PARTNER else None
        session.add(user)
        # A session carries the role it was opened with in no way, but end
        # them anyway: whoever holds the browser should sign in again.
        sessions.revoke_all(session, user.id)
        audit.record(session, actor_id, audit.USER_ROLE, user.id, now, helpline_id=helpline_id)
    return user


def list_users(services: Services, helpline_id: str = DEFAULT_HELPLINE_ID) -> list[User]:
    """The accounts of one helpline (those it made, not members from elsewhere)."""
    with services.db.session() as session:
        return list(session.exec(select(User).where(User.helpline_id == helpline_id)
                                 .order_by(col(User.created_at), col(User.id))))
