"""Column types and row-id helpers shared by every table module: times are
stored as naive UTC and read back aware, person-linked content is bytes (an
encrypted envelope), ids are random, and a root row names its helpline."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Field


def new_id() -> str:
    """Random, unguessable row id (also used in URLs: never sequential)."""
    return secrets.token_urlsafe(12)


def _now() -> datetime:
    return datetime.now(UTC)


def naive_utc(value: datetime) -> datetime:
    """How UTCDateTime columns hold a time: TIMESTAMP WITHOUT TIME ZONE, in UTC."""
    return value.astimezone(UTC).replace(tzinfo=None)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without type detection
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError("not a datetime")
        return value.replace(tzinfo=UTC)


def ts(*, index: bool = False, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(
        default_factory=_now, sa_column=Column(UTCDateTime(), nullable=False, index=index)
    )


def blob(*, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(LargeBinary(), nullable=nullable))


# The helpline a one-helpline installation always had; migration 0009_helplines moves
# every existing row into it, and it keeps the installation's own index key.
DEFAULT_HELPLINE_ID = "default"


def owner(*, index: bool = True, foreign: bool = True) -> Any:
    """The helpline a row belongs to (issue 17). Rows hanging off a texter or
    conversation (messages, notes, labels, referrals, outbox) reach it
    through that parent instead of carrying a copy that could disagree."""
    return Field(
        default=DEFAULT_HELPLINE_ID,
        max_length=32,
        index=index,
        foreign_key="helplines.id" if foreign else None,
    )
