"""The inbox on PostgreSQL: appending from the event loop, and waking the
processors of other processes, and the processor's commits that need not wait
for the disk (helpline/ingest/inbox.py has the inbox itself).

Appends use asyncio psycopg connections kept open per event loop instead of a
thread and SQLAlchemy: under load, answering waited on thread switches rather
than on the database (a commit here takes a fraction of a millisecond). After
each commit a NOTIFY on the schema's inbox channel, carrying the number of
rows, wakes `helpline worker` processes and lets them pace themselves.

https://www.psycopg.org/psycopg3/docs/advanced/async.html
https://www.postgresql.org/docs/current/sql-notify.html
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Connection, text

from helpline import logs
from helpline.errors import ServiceUnavailable
from helpline.live import postgres as live_pg

# An append that takes longer is answered 503 (the platform retries).
APPEND_TIMEOUT_SECONDS = 10.0
RECONNECT_SECONDS = 1.0

# One statement for the whole batch (atomic on its own, so no BEGIN and
# COMMIT round trips), its columns as arrays in binary: psycopg dumping each
# row's values as text was a fifth of a webhook's answer in process. The
# ordinality keeps the batch's rows, and so their processing, in arrival order.
_APPEND_PG = (
    "INSERT INTO inbox (ref, channel, master_key_id, wrapped_key, body, received_at, "
    "attempts, next_attempt_at) SELECT ref, channel, master_key_id, wrapped_key, body, "
    "received_at, attempts, next_attempt_at FROM unnest(%b::varchar[], %b::varchar[], "
    "%b::varchar[], %b::bytea[], %b::bytea[], %b::timestamp[], %b::integer[], "
    "%b::timestamp[]) WITH ORDINALITY AS d(ref, channel, master_key_id, wrapped_key, body, "
    "received_at, attempts, next_attempt_at, n) ORDER BY n"
)


class PgAppender:
    """One event loop's appends: asyncio connections kept open, one per
    transaction in flight (helpline.ingest.group_commit allows a few at once)."""

    def __init__(self, database_url: str) -> None:
        self.conninfo = live_pg.conninfo(database_url)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._channel: str | None = None
        self._notifier: psycopg.AsyncConnection[Any] | None = None
        self._notifying: asyncio.Task[None] | None = None
        self._again = False
        self._announced = 0  # rows appended since the last NOTIFY

    async def append(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._idle.pop() if self._idle else None
        try:
            async with asyncio.timeout(APPEND_TIMEOUT_SECONDS):
                if conn is None:
                    conn = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=5, keepalives=1,
                        keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
                if self._channel is None:
                    self._channel = await _inbox_channel(conn)
                await conn.execute(_APPEND_PG, [list(column) for column in zip(*rows, strict=True)])
        except (psycopg.Error, OSError, TimeoutError) as exc:
            if conn is not None:
                await _close(conn)
            raise ServiceUnavailable("inbox unavailable") from exc
        except BaseException:
            if conn is not None:
                await _close(conn)
            raise
        self._idle.append(conn)
        self._announced += len(rows)
        self._announce()

    def _announce(self) -> None:
        """Wake the processors of other processes (`helpline worker`) instead
        of leaving the deliveries to their next poll. NOTIFY is sent after the
        commit, on a connection of its own, and coalesced: one in flight at a
        time, one more if appends came in meanwhile. Inside the appending
        transaction it made PostgreSQL serialise the commits (every NOTIFY
        takes the same lock at commit) and halved how many webhooks were
        answered."""
        if self._notifying is not None and not self._notifying.done():
            self._again = True
            return
        self._notifying = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        while True:
            self._again = False
            count, self._announced = self._announced, 0
            try:
                if self._notifier is None or self._notifier.closed:
                    self._notifier = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=5)
                async with asyncio.timeout(APPEND_TIMEOUT_SECONDS):
                    # The payload is how many rows: the processors pace
                    # themselves by it (Pace.overloaded).
                    await self._notifier.execute("SELECT pg_notify(%s, %s)",
                                                 (self._channel, str(count)))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                # The processors poll meanwhile.
                logs.event("inbox.notify_error", logging.WARNING, kind=type(exc).__name__)
                if self._notifier is not None:
                    await _close(self._notifier)
                    self._notifier = None
                return
            if not self._again:
                return

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close(conn)
        if self._notifying is not None:
            with contextlib.suppress(Exception):
                await self._notifying
        if self._notifier is not None:
            await _close(self._notifier)
            self._notifier = None


async def _inbox_channel(conn: psycopg.AsyncConnection[Any]) -> str:
    cursor = await conn.execute("SELECT current_schema()")
    row = await cursor.fetchone()
    await conn.commit()
    return live_pg.channel_name(str(row[0]) if row and row[0] else "public", "inbox")


async def listen_for_appends(database_url: str, wake: asyncio.Event, stop: asyncio.Event,
                             counted: Callable[[int], None] | None = None) -> None:
    """Set `wake` whenever any process appends to the inbox and pass on how
    many rows (`counted`), reconnecting after errors (meanwhile the processor
    polls)."""
    conninfo = live_pg.conninfo(database_url)
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, connect_timeout=5) as conn:
                channel = await _inbox_channel(conn)
                await conn.execute(f'LISTEN "{channel}"')
                wake.set()  # appends made before LISTEN
                async for notify in conn.notifies():
                    if counted is not None and notify.payload.isdigit():
                        counted(int(notify.payload))
                    wake.set()
                    if stop.is_set():
                        return
        except (psycopg.Error, OSError) as exc:
            logs.event("inbox.listen_error", logging.WARNING, kind=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=RECONNECT_SECONDS)


async def _close(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await conn.close()



def replayable(connection: Connection) -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL is
    on disk (https://www.postgresql.org/docs/current/wal-async-commit.html).

    Safe here and nowhere else: the delivery was made durable when it was
    appended (a synchronous commit, before the platform got its 200), and what
    this transaction does (lease rows; store their messages and delete them
    from the inbox) is lost as a whole in a crash, so the inbox still holds the
    deliveries and they are processed again; the dedup keys keep a replay
    single. WAL is flushed in order, so anything a person commits afterwards
    (a reply to such a message) carries this transaction to disk with it. The
    window is a few hundred milliseconds; the fsync saved is most of a
    batch's cost on PostgreSQL (benchmarks/profile_process.py)."""
    connection.execute(text("SET LOCAL synchronous_commit TO OFF"))


__all__ = ["PgAppender", "listen_for_appends", "replayable"]
