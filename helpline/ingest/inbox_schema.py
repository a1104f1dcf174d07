"""The inbox's own schema (SQLite) and its backlog (both backends).

On SQLite the inbox is a file of its own (`helpline.db-inbox`, see
helpline/ingest/inbox.py), outside Alembic's reach. Its layout is still data
the next release must read: a file written by an older helpline may hold
acknowledged deliveries, so it is migrated in numbered steps recorded in
`PRAGMA user_version`, never re-created or silently trusted. A file from a
newer helpline is refused rather than guessed at.

On PostgreSQL the inbox is a table of the main database and Alembic migrates
it with everything else; only `backlog` applies there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from helpline.errors import HelplineError
from helpline.store import models  # noqa: F401 - registers the inbox table
from helpline.store.db import ensure_private_file

INBOX = SQLModel.metadata.tables["inbox"]


class InboxSchemaError(HelplineError):
    """The inbox file cannot be used by this version (the message says why)."""


def _v1_baseline(conn: Connection) -> None:
    # Files written before versioning (user_version 0) already hold exactly
    # this table; checkfirst adopts them with their rows.
    INBOX.create(conn, checkfirst=True)


# (version reached, step). Append only; never edit a released step.
STEPS: tuple[tuple[int, Callable[[Connection], None]], ...] = (
    (1, _v1_baseline),
)
CURRENT = STEPS[-1][0]


def version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def migrate(engine: Engine) -> int:
    """Bring a SQLite inbox file to CURRENT; returns the version it had."""
    with engine.begin() as conn:
        found = version(conn)
        if found > CURRENT:
            raise InboxSchemaError(
                f"the inbox file has schema version {found}, newer than this helpline "
                f"knows ({CURRENT}); run the newer helpline until its inbox is empty, "
                "or upgrade")
        for reached, step in STEPS:
            if reached > found:
                step(conn)
                # PRAGMA takes no bound parameters; `reached` is our own int.
                conn.exec_driver_sql(f"PRAGMA user_version = {int(reached)}")
    return found


@dataclass(frozen=True)
class Backlog:
    """Deliveries acknowledged but not processed yet, and how long the oldest
    has waited. Counts and an age only: nothing about who sent them."""

    count: int
    oldest_seconds: float | None

    def stalled(self, limit_seconds: float) -> bool:
        return self.oldest_seconds is not None and self.oldest_seconds > limit_seconds

    def as_json(self) -> dict[str, int | float | None]:
        oldest = None if self.oldest_seconds is None else round(self.oldest_seconds, 1)
        return {"backlog": self.count, "oldest_seconds": oldest}


def backlog(conn: Connection, now: datetime) -> Backlog:
    count, oldest = conn.execute(
        select(func.count(), func.min(INBOX.c.received_at)).select_from(INBOX)).one()
    if oldest is None:
        return Backlog(int(count), None)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return Backlog(int(count), max(0.0, (now - oldest).total_seconds()))


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite dialect stores and reads it back."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A DB-API connection to the inbox file, for appends on the event loop;
    the same settings as helpline.db's engine (WAL, overwrite deleted pages)."""
    ensure_private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")
    return conn


__all__ = ["CURRENT", "STEPS", "Backlog", "InboxSchemaError", "backlog", "connect_sqlite",
           "migrate", "sqlite_time", "version"]
