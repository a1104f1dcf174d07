"""Live events across app processes through PostgreSQL `LISTEN/NOTIFY`.

Several stateless app processes behind a proxy: a texter's message is stored
by whichever process received the webhook, but the volunteer's event stream is
held open by another. Every process NOTIFYs each event on one channel and
LISTENs on it; each listener hands what it hears to its own `LiveBus.deliver`,
its own events included. No extra broker is needed (DESIGN: "Many machines").

Payloads are the `LiveEvent` JSON: kinds and ids only, never a body, so the
notification stream (visible to anyone with database access) leaks nothing
that the tables themselves do not.

https://www.postgresql.org/docs/current/sql-notify.html
https://www.psycopg.org/psycopg3/docs/advanced/async.html#asynchronous-notifications
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from helpline import logs
from helpline.live.bus import LiveBus, LiveEvent
from helpline.services import Services

RECONNECT_SECONDS = 1.0


def conninfo(database_url: str) -> str:
    """SQLAlchemy URL -> libpq URI (drops the `+psycopg` driver suffix)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def channel_name(schema: str, purpose: str = "live") -> str:
    """One channel per schema: instances sharing a database but not a schema
    (tests, staging next to production) must not hear each other."""
    digest = hashlib.sha256(schema.encode()).hexdigest()[:16]
    return f"helpline_{purpose}_{digest}"


class PgFanOut:
    """NOTIFY on publish (any thread), LISTEN in the event loop."""

    def __init__(self, database_url: str, bus: LiveBus) -> None:
        self.conninfo = conninfo(database_url)
        self.bus = bus
        self.channel: str | None = None
        self.listening = asyncio.Event()
        self._lock = threading.Lock()
        self._notify_conn: psycopg.Connection[Any] | None = None

    def _schema(self, conn: psycopg.Connection[Any]) -> str:
        row = conn.execute("SELECT current_schema()").fetchone()
        return str(row[0]) if row and row[0] else "public"

    def forward(self, event: LiveEvent) -> None:
        """`LiveBus` forwarder: called after a commit, from any thread."""
        payload = event.to_wire()
        with self._lock:
            for attempt in range(2):
                try:
                    if self._notify_conn is None or self._notify_conn.closed:
                        self._notify_conn = psycopg.connect(self.conninfo, autocommit=True)
                    channel = self.channel or channel_name(self._schema(self._notify_conn))
                    self._notify_conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
                    return
                except psycopg.Error as exc:
                    logs.event("live.notify_error", error=type(exc).__name__, attempt=attempt)
                    self._close_notify()
        # PostgreSQL unreachable: at least this process's consoles hear it.
        self.bus.deliver(event)

    def _close_notify(self) -> None:
        if self._notify_conn is not None:
            with contextlib.suppress(Exception):
                self._notify_conn.close()
        self._notify_conn = None

    async def listen(self, stop: asyncio.Event) -> None:
        """Hand every notification to this process's subscribers, reconnecting
        after a dropped connection (events during the gap are lost; consoles
        reload their list when their stream reconnects)."""
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            except psycopg.Error as exc:
                logs.event("live.listen_error", error=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
                continue
            try:
                async with conn:
                    cur = await conn.execute("SELECT current_schema()")
                    row = await cur.fetchone()
                    self.channel = channel_name(str(row[0]) if row and row[0] else "public")
                    await conn.execute(f'LISTEN "{self.channel}"')
                    self.listening.set()
                    logs.event("live.listening")
                    await self._pump(conn, stop)
            except psycopg.Error as exc:
                logs.event("live.listen_error", error=type(exc).__name__)
            finally:
                self.listening.clear()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)

    async def _pump(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        gen = conn.notifies()
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                nxt = asyncio.ensure_future(anext(gen))
                done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await nxt
                    return
                notify = nxt.result()
                try:
                    event = LiveEvent.from_json(notify.payload)
                except (ValueError, TypeError):
                    continue
                self.bus.deliver(event)
        finally:
            stopper.cancel()
            with contextlib.suppress(Exception):
                await gen.aclose()

    def close(self) -> None:
        with self._lock:
            self._close_notify()


async def start(services: Services, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Startup hook (`app.state.startup_hooks`): on PostgreSQL, route the bus
    through NOTIFY and start the listener. On SQLite, nothing to do."""
    if services.db.is_sqlite:
        return
    fanout = PgFanOut(services.settings.database_url, services.bus)
    task = asyncio.create_task(_run(fanout, stop))
    tasks.append(task)
    # Wait briefly for LISTEN, so no event published right after start is lost.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(fanout.listening.wait(), 5.0)
    services.bus.forwarders.append(fanout.forward)


async def _run(fanout: PgFanOut, stop: asyncio.Event) -> None:
    try:
        await fanout.listen(stop)
    finally:
        with contextlib.suppress(ValueError):
            fanout.bus.forwarders.remove(fanout.forward)
        await asyncio.to_thread(fanout.close)
