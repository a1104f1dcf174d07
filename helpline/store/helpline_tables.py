"""The helplines of an installation and the memberships that give an
account a role in a helpline other than its own (issue 17)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from helpline.store.columns import new_id, ts


class Helpline(SQLModel, table=True):
    """One region's helpline in a shared installation: its own numbers, policy,
    people, texters and statistics. `whatsapp_phone_number_id` and
    `signal_number` are the helpline's own business numbers (not a texter's);
    `policy` is the policy file's text, so every process reads the same one."""

    __tablename__ = "helplines"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(max_length=120)
    whatsapp_phone_number_id: str | None = Field(
        default=None, sa_column=Column(String(64), unique=True, nullable=True)
    )
    signal_number: str | None = Field(
        default=None, sa_column=Column(String(32), unique=True, nullable=True)
    )
    policy: str | None = Field(default=None, max_length=200000)
    created_at: datetime = ts()


class Membership(SQLModel, table=True):
    """A console account's role in a helpline other than its own
    (`users.helpline_id`, `users.role`): one person coordinating two regions
    signs in once and picks the helpline to work in."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "helpline_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    helpline_id: str = Field(foreign_key="helplines.id", index=True, max_length=32)
    role: str = Field(max_length=16)
    partner_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = ts()
