"""The inbox: a webhook is answered once its delivery is durable, and
processed right behind that answer.

Why: the whole receive pipeline (dedup, blind index, key unwrap, encryption,
routing in six languages, statistics, the outbox) costs milliseconds of CPU
per message; done before the 200, it bounded how many webhooks a small server
could answer and put every burst into the platform's latency
(benchmarks/README.md, "Webhook ingest"). Courier and mailroom in RapidPro
split receiving from handling the same way. A delivery here is sealed and
appended in one short transaction; the 200 follows its commit, so nothing
acknowledged can be lost; the processor then takes deliveries in arrival
order and hands them to `intake.receive_many`.

Privacy: the raw body holds the sender's number and profile name. It is
sealed (AES-256-GCM) under a fresh key of its own, wrapped by the master key
like a texter's data key, and the row is deleted once processed.

Exactly once: on PostgreSQL the rows are deleted in the transaction that
processes them, and claimed with `FOR UPDATE SKIP LOCKED` so several
processes share the work (appending and waking them: helpline/ingest/inbox_pg.py).
On SQLite the inbox is a file of its own next to the database
(`helpline.db-inbox`), so appending never waits for the writer that is
processing; its rows are deleted just after the processing commit, and a
crash in between processes them again, which the dedup keys and
never-backwards statuses make harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from helpline import crypto, logs
from helpline.channels.base import InboundEvent, MalformedPayload
from helpline.errors import ServiceUnavailable
from helpline.ingest import inbox_schema, intake
from helpline.ingest.inbox_pg import PgAppender, listen_for_appends, replayable
from helpline.services import Services
from helpline.store.db import Database
from helpline.store.models import naive_utc, new_id

INBOX = SQLModel.metadata.tables["inbox"]

# About 30-60 ms of returning texters' messages per transaction: enough to
# spend a commit's fixed price once for many, short enough that the console's
# reads in between are not kept waiting.
BATCH_LIMIT = 32
# On PostgreSQL a batch's cost is mostly its two commits and eight round
# trips, whatever its size (benchmarks/profile_process.py): in-process on a
# 2-core machine 128 deliveries per batch processed 4,421 msg/s, 32 did 3,156.
BATCH_LIMIT_PG = 128
# A claimed row whose processor died is taken again after this.
LEASE = timedelta(seconds=60)
# A delivery that keeps failing (a bug, not an outage) is retried with growing
# pauses and given up after the platforms' own retry horizon: WhatsApp retries
# for up to 7 days.
RETRY_CAP_SECONDS = 3600
GIVE_UP_AFTER = timedelta(days=8)
POLL_SECONDS = 1.0
# Answering comes first (see _answering_first).
BUSY_APPENDS = 16
BUSY_LOOK_SECONDS = 0.05
BUSY_BATCH_LIMIT = 4
FULL_BATCH = 8
MAX_DEFER_SECONDS = 0.5
MAX_BURST_SECONDS = 10.0

_APPEND = insert(INBOX)


def inbox_url(database_url: str) -> str | None:
    """SQLite: the inbox file beside the database (None for PostgreSQL, where
    the inbox is a table of the database itself)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        return url.render_as_string(hide_password=False)
    return url.set(database=f"{url.database}-inbox").render_as_string(hide_password=False)


_COLUMNS = ("ref", "channel", "master_key_id", "wrapped_key", "body", "received_at",
            "attempts", "next_attempt_at")
# SQLite's appends go through the DB-API directly (see Inbox._append_sqlite).
_APPEND_SQLITE = ("INSERT INTO inbox (ref, channel, master_key_id, wrapped_key, body, "
                  "received_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class Sealed:
    """One delivery, sealed, ready to append: values in `_COLUMNS` order."""

    row: tuple[Any, ...]

    @property
    def values(self) -> dict[str, Any]:
        return dict(zip(_COLUMNS, self.row, strict=True))


@dataclass(frozen=True)
class _Claimed:
    id: int
    ref: str
    channel: str
    wrapped_key: bytes
    body: bytes
    attempts: int
    received_at: datetime


class Inbox:
    def __init__(self, services: Services) -> None:
        self.services = services
        url = inbox_url(services.settings.database_url)
        # SQLite: a database of its own, migrated in versioned steps of its
        # own (helpline/ingest/inbox_schema.py).
        self.own_db = Database(url) if url is not None else None
        self._sqlite_file: str | None = None
        self._raw: sqlite3.Connection | None = None
        if self.own_db is not None:
            inbox_schema.migrate(self.own_db.engine)
            database = make_url(url or "").database
            if database not in (None, "", ":memory:"):
                self._sqlite_file = database
        # Set by the webhook route after an append, in the processor's loop.
        self.wake: asyncio.Event | None = None
        # Deliveries appended since the processor last looked: by this process
        # on SQLite, by any process on PostgreSQL (counted from NOTIFY).
        self.appended = 0

    def count_appended(self, rows: int) -> None:
        self.appended += rows

    @property
    def db(self) -> Database:
        return self.own_db or self.services.db

    def dispose(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self.own_db is not None:
            self.own_db.dispose()

    # -- receiving ---------------------------------------------------------

    def seal(self, channel: str, body: bytes) -> Sealed:
        now = self.services.now()
        ref = new_id()
        key = crypto.new_data_key()
        ring = self.services.vault.ring
        return Sealed((
            ref,
            channel,
            ring.current_id,
            ring.wrap(key, f"inbox:{ref}"),
            crypto.seal(key, body, table="inbox", column="body", row_id=ref),
            now,
            0,
            now,
        ))

    async def append(self, deliveries: Sequence[Sealed], pool: PgAppender | None) -> None:
        """One transaction for all (group commit); raises ServiceUnavailable
        when the database cannot store (the route answers 503). PostgreSQL
        appends go through `pool`, the calling event loop's connections."""
        if pool is None:
            self.append_many(deliveries)
        else:
            await pool.append([(*d.row[:5], naive_utc(d.row[5]), d.row[6],
                                naive_utc(d.row[7])) for d in deliveries])

    def append_many(self, deliveries: Sequence[Sealed]) -> None:
        """One transaction for all, from any thread."""
        if self.own_db is not None and self._sqlite_file is not None:
            self._append_sqlite(self.own_db, self._sqlite_file, deliveries)
            return
        with self.db.connection() as connection:
            connection.execute(_APPEND, [d.values for d in deliveries])

    def _append_sqlite(self, db: Database, path: str, deliveries: Sequence[Sealed]) -> None:
        """The same INSERT through the DB-API: SQLAlchemy's per-statement
        machinery was about a fifth of the CPU of answering a webhook, and
        this runs for every webhook, on the event loop. Datetimes in the
        format SQLAlchemy's SQLite dialect stores and reads back."""
        at = inbox_schema.sqlite_time
        rows = [(*d.row[:5], at(d.row[5]), d.row[6], at(d.row[7])) for d in deliveries]
        with db.turn():
            raw = self._raw
            try:
                if raw is None:
                    raw = self._raw = inbox_schema.connect_sqlite(path)
                raw.execute("BEGIN IMMEDIATE")
                raw.executemany(_APPEND_SQLITE, rows)
                raw.execute("COMMIT")
            except sqlite3.Error as exc:
                if raw is not None and raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise ServiceUnavailable("inbox unavailable") from exc

    def pending(self) -> int:
        return self.backlog().count

    def backlog(self) -> inbox_schema.Backlog:
        with self.db.read_session() as session:
            return inbox_schema.backlog(session.connection(), self.services.now())

    # -- processing --------------------------------------------------------

    @property
    def batch_limit(self) -> int:
        """Deliveries per batch when nobody is waiting for an answer."""
        return BATCH_LIMIT if self.own_db is not None else BATCH_LIMIT_PG

    def process_batch(self, limit: int | None = None) -> int:
        """Claim up to `limit` (default: batch_limit) deliveries in arrival
        order and process them. Returns how many were claimed (0: nothing due)."""
        claimed = self._claim(self.batch_limit if limit is None else limit)
        if not claimed:
            return 0
        parsed: list[tuple[_Claimed, list[InboundEvent]]] = []
        finished: list[int] = []
        for item in claimed:
            try:
                events = self._open(item)
            except Exception as exc:  # noqa: BLE001 - _NotYet, or a parser bug: retried later
                self._failed(item, exc)
                continue
            if events is None:
                finished.append(item.id)
            else:
                parsed.append((item, events))
        try:
            self._store(parsed, finished)
        except ServiceUnavailable:
            self._release([item.id for item in claimed])
            raise
        except Exception:  # noqa: BLE001 - isolate the delivery that fails
            self._one_by_one(parsed, finished)
        return len(claimed)

    def drain(self, timeout: float = 30.0) -> None:
        """Process until nothing is due (tests); waits for rows another
        processor holds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                processed = self.process_batch()
            except ServiceUnavailable:
                # On PostgreSQL another processor's batch can still conflict
                # with this one (texters are locked in order, shared rows
                # such as statistics counters are not); PostgreSQL aborts one,
                # its claims are released, so again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if processed == 0:
                if not self._due():
                    return
                time.sleep(0.005)
            if time.monotonic() > deadline:
                raise TimeoutError("inbox not drained")

    def _due(self) -> bool:
        now = self.services.now()
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(INBOX.c.id).where(INBOX.c.next_attempt_at <= now).limit(1)).first()
        return row is not None

    def _claim(self, limit: int) -> list[_Claimed]:
        """One statement: the due rows, oldest first, leased to this
        processor (on PostgreSQL skipping rows another one holds)."""
        now = self.services.now()
        due = (
            select(INBOX.c.id)
            .where(INBOX.c.next_attempt_at <= now)
            .where((INBOX.c.locked_until.is_(None)) | (INBOX.c.locked_until < now))
            .order_by(INBOX.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.db.session() as session:
            if self.own_db is None:
                replayable(session.connection())
            rows = session.execute(
                update(INBOX).where(INBOX.c.id.in_(due.scalar_subquery()))
                .values(locked_until=now + LEASE)
                .returning(INBOX.c.id, INBOX.c.ref, INBOX.c.channel, INBOX.c.wrapped_key,
                           INBOX.c.body, INBOX.c.attempts, INBOX.c.received_at)
            ).all()
        # RETURNING comes in no promised order: arrival order is the id's.
        return sorted((_Claimed(*row) for row in rows), key=lambda item: item.id)

    def _open(self, item: _Claimed) -> list[InboundEvent] | None:
        """The delivery's events, or None when there is nothing to process
        (logged without content; the row is then deleted)."""
        channel = self.services.channels.get(item.channel)
        if channel is None:
            # The channel was switched off after the delivery came in: keep
            # it until it is switched on again or given up.
            raise _NotYet("channel not configured")
        try:
            key = self.services.vault.ring.unwrap(item.wrapped_key, f"inbox:{item.ref}")
            body = crypto.open_sealed(key, item.body, table="inbox", column="body",
                                      row_id=item.ref)
        except crypto.CryptoError as exc:
            # Sealed under a master key no longer configured, or damaged:
            # it can never be opened.
            logs.event("inbox.unreadable", logging.ERROR, inbox=item.id, kind=type(exc).__name__)
            return None
        try:
            return channel.parse(body)
        except MalformedPayload:
            logs.event("webhook.malformed", logging.INFO, channel=item.channel,
                       reason="malformed")
            return None

    def _store(self, parsed: list[tuple[_Claimed, list[InboundEvent]]],
               finished: list[int]) -> None:
        done = finished + [item.id for item, _ in parsed]
        own = self.own_db is not None

        def delete_rows(session: Session) -> None:
            if not own:
                replayable(session.connection())
            session.connection().execute(delete(INBOX).where(INBOX.c.id.in_(done)))

        if parsed:
            intake.receive_many(
                self.services, [(item.channel, events) for item, events in parsed],
                before_commit=None if own else delete_rows,
            )
        if own or not parsed:
            with self.db.session() as session:
                delete_rows(session)

    def _one_by_one(self, parsed: list[tuple[_Claimed, list[InboundEvent]]],
                    finished: list[int]) -> None:
        if finished:
            self._store([], finished)
        for index, (item, events) in enumerate(parsed):
            try:
                self._store([(item, events)], [])
            except ServiceUnavailable:
                self._release([left.id for left, _ in parsed[index:]])
                raise
            except Exception as exc:  # noqa: BLE001 - one bad delivery, not all
                self._failed(item, exc)

    def _failed(self, item: _Claimed, exc: Exception) -> None:
        now = self.services.now()
        with self.db.session() as session:
            if now - item.received_at > GIVE_UP_AFTER:
                session.execute(delete(INBOX).where(INBOX.c.id == item.id))
                logs.event("inbox.given_up", logging.ERROR, inbox=item.id,
                           attempt=item.attempts, kind=type(exc).__name__)
                return
            attempts = item.attempts + 1
            session.execute(
                update(INBOX).where(INBOX.c.id == item.id).values(
                    attempts=attempts, locked_until=None,
                    next_attempt_at=now + timedelta(
                        seconds=min(2 ** attempts, RETRY_CAP_SECONDS))))
        logs.event("inbox.failed", logging.WARNING, inbox=item.id, attempt=attempts,
                   kind=type(exc).__name__)

    def _release(self, ids: list[int]) -> None:
        with contextlib.suppress(ServiceUnavailable), self.db.session() as session:
            session.execute(update(INBOX).where(INBOX.c.id.in_(ids)).values(locked_until=None))


class _NotYet(Exception):
    """Keep the delivery and try again later."""


async def run_processor(inbox: Inbox, stop: asyncio.Event) -> None:
    """Process deliveries until `stop` is set: at once after each append in
    this process, and every POLL_SECONDS for what other processes left."""
    inbox.wake = wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    pace = Pace(loop.time())
    listener = None
    if inbox.own_db is None:
        listener = asyncio.create_task(
            listen_for_appends(inbox.db.url, wake, stop, inbox.count_appended))
    logs.event("inbox.started")
    while not stop.is_set():
        wake.clear()
        busy = await _answering_first(inbox, pace, stop)
        began = loop.time()
        try:
            limit = BUSY_BATCH_LIMIT if busy else inbox.batch_limit
            processed = await asyncio.to_thread(inbox.process_batch, limit)
        except Exception as exc:  # noqa: BLE001 - database down: retry, never die
            logs.event("inbox.error", logging.WARNING, kind=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
            continue
        pace.observe(processed, loop.time() - began)
        if processed < limit:
            pace.drained()
        if processed:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
    if listener is not None:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    logs.event("inbox.stopped")


@dataclass
class Pace:
    """How fast deliveries arrive here and how fast this process can
    process them (a moving average over full batches)."""

    last_look: float
    capacity: float | None = None
    busy: bool = False  # the last verdict
    burst_since: float | None = None  # overloaded since, with deliveries left waiting

    def observe(self, processed: int, seconds: float) -> None:
        if processed < FULL_BATCH or seconds <= 0:
            return
        rate = processed / seconds
        self.capacity = rate if self.capacity is None else 0.8 * self.capacity + 0.2 * rate

    def overloaded(self, inbox: Inbox, now: float) -> bool:
        """Deliveries arrived faster than they can be processed since the
        last look (and not just a handful)."""
        appended, inbox.appended = inbox.appended, 0
        elapsed, self.last_look = now - self.last_look, now
        outrun = (appended >= BUSY_APPENDS and self.capacity is not None and elapsed > 0
                  and appended / elapsed > self.capacity)
        if not outrun:
            self.busy = False
            return False
        if self.burst_since is None:
            self.burst_since = now
        # A load that outlasts a burst is not one: see _answering_first.
        self.busy = now - self.burst_since < MAX_BURST_SECONDS
        return self.busy

    def drained(self) -> None:
        """A batch came back less than full: nothing is left waiting, so the
        next overload is a new burst."""
        self.burst_since = None


async def _answering_first(inbox: Inbox, pace: Pace, stop: asyncio.Event) -> bool:
    """Wait while this process is overloaded with webhooks, up to
    MAX_DEFER_SECONDS. Returns whether it still is (then: a small batch).

    Processing and answering share this process's CPU (and Python's GIL).
    What waits in the inbox is durable; a webhook left unanswered is not: a
    platform that sees slow or failing answers retries, backs off and may in
    the end switch the webhook off. When deliveries arrive faster than this
    process can process them, the backlog grows whatever the processor does,
    so it takes one small batch per MAX_DEFER_SECONDS and leaves the CPU to
    answering; once the burst is over it catches up at full speed. Under any
    load it can keep up with, it never waits. A load that lasts longer than
    MAX_BURST_SECONDS is not a burst: waiting would only let the backlog
    grow faster (on a slow machine a 300 msg/s soak on PostgreSQL processed
    about 130 msg/s this way), so it processes at full speed until a batch comes
    back less than full, and answering keeps its lead by CPU priority (the
    worker's Nice=10) where it runs in another process."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_DEFER_SECONDS
    if pace.busy:
        # Overloaded at the last look: judge again on a whole window, not on
        # the few webhooks answered while a batch held the CPU.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                stop.wait(), max(0.0, BUSY_LOOK_SECONDS - (loop.time() - pace.last_look)))
    while pace.overloaded(inbox, loop.time()):
        if loop.time() >= deadline:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=BUSY_LOOK_SECONDS)
    return False


__all__ = ["BATCH_LIMIT", "BATCH_LIMIT_PG", "INBOX", "Inbox", "Pace", "Sealed", "inbox_url",
           "run_processor"]
