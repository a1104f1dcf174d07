"""Which helplines an account works in, and in what role (issue 17).

An account belongs to one helpline (`users.helpline_id`, `users.role`);
`memberships` give it a role in further ones. The session records the
helpline chosen after sign-in (`sessions.helpline_id`), and that role is the
only one the account has for the rest of the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from helpline.errors import NotFound
from helpline.store.models import ConsoleSession, Membership, User


@dataclass(frozen=True)
class Role:
    helpline_id: str
    role: str
    partner_id: str | None


def roles_of(session: Session, user: User) -> list[Role]:
    """The account's role in its own helpline first, then its memberships."""
    own = [Role(user.helpline_id, user.role, user.partner_id)]
    rows = session.exec(
        select(Membership).where(Membership.user_id == user.id)
        .order_by(col(Membership.created_at))
    ).all()
    return own + [Role(m.helpline_id, m.role, m.partner_id) for m in rows
                  if m.helpline_id != user.helpline_id]


def active_role(roles: list[Role], chosen: str | None) -> tuple[Role, bool]:
    """The role for the session's chosen helpline, and whether a choice is
    still to be made. One helpline: it is the account's. Several and none
    chosen (or the chosen membership was removed since): the own helpline's
    identity, with `choosing` set, which shuts every route but the choice."""
    found = next((r for r in roles if r.helpline_id == chosen), None)
    if found is not None:
        return found, False
    return roles[0], len(roles) > 1


def choose(session: Session, session_id: str, user: User, helpline_id: str) -> Role:
    """Make `helpline_id` the session's helpline; NotFound unless the account
    has a role there (no hint whether such a helpline exists)."""
    role = next((r for r in roles_of(session, user) if r.helpline_id == helpline_id), None)
    row = session.get(ConsoleSession, session_id)
    if role is None or row is None:
        raise NotFound()
    row.helpline_id = helpline_id
    session.add(row)
    return role


def in_helpline(
    helpline_id: str, *roles: str, partner_id: str | None = None
) -> ColumnElement[bool]:
    """Accounts with a role in `helpline_id` (one of `roles`, when given; of
    that partner, when given): their own helpline, or a membership there."""
    own: list[ColumnElement[bool]] = [col(User.helpline_id) == helpline_id]
    member: list[ColumnElement[bool]] = [
        col(Membership.user_id) == User.id, col(Membership.helpline_id) == helpline_id
    ]
    if roles:
        own.append(col(User.role).in_(roles))
        member.append(col(Membership.role).in_(roles))
    if partner_id is not None:
        own.append(col(User.partner_id) == partner_id)
        member.append(col(Membership.partner_id) == partner_id)
    return or_(and_(*own), exists().where(*member))


def grant(
    session: Session, user: User, helpline_id: str, role: str, partner_id: str | None,
    now: datetime,
) -> None:
    """Give an account a role in a further helpline (or change it there)."""
    if helpline_id == user.helpline_id:
        raise ValueError("that is the account's own helpline")
    row = session.exec(select(Membership).where(
        Membership.user_id == user.id, Membership.helpline_id == helpline_id)).first()
    if row is None:
        row = Membership(user_id=user.id, helpline_id=helpline_id, role=role,
                         partner_id=partner_id, created_at=now)
    row.role, row.partner_id = role, partner_id
    session.add(row)
