"""Engine and sessions: SQLite by default (WAL), PostgreSQL by URL (psycopg 3)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from helpline.errors import ServiceUnavailable


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_private_file(path: str) -> None:
    """Create a database file readable by its owner only (0600), whatever the
    umask: under the common 022 SQLite made it 0644, readable by every local
    account. SQLite gives its -wal and -shm files the database file's mode."""
    if path in ("", ":memory:") or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if not memory and parsed.database:
            ensure_private_file(parsed.database)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=10,
        # A client that vanishes in a network partition must not hold texter
        # row locks for the two hours of default TCP keepalive.
        connect_args={"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                      "keepalives_count": 3},
    )
    _configure_postgres(engine)
    return engine


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Bound what a stuck session can block: a transaction left idle by a
        # dead process is ended by the server after a minute, and no statement
        # waits longer than 30 s for a lock (the caller answers 503 instead).
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET idle_in_transaction_session_timeout = '60s'")
            cursor.execute("SET lock_timeout = '30s'")
        dbapi_conn.commit()


_BUSY_TIMEOUT_MS = 5
# Execution option (and connection info key) marking a SQLite read transaction.
READ_ONLY = "helpline_read_only"
_LOCK_WAIT_SECONDS = 30.0


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, issue BEGIN (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Short: waiting for the write lock is done in _on_begin, which polls
        # more finely than SQLite's own handler (its sleeps grow to 100 ms).
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # Deleted pages are overwritten, so erased ciphertext does not linger
        # in free pages of the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        raw = conn.connection.driver_connection
        info = conn.connection.info
        if conn.get_execution_options().get(READ_ONLY):
            # A read (Database.read_session): a deferred transaction reads a
            # WAL snapshot and never waits for, nor holds up, the writer.
            # query_only makes a write by mistake fail loudly instead of
            # trying to upgrade to the write lock.
            if not info.get(READ_ONLY):
                raw.execute("PRAGMA query_only=ON")
                info[READ_ONLY] = True
            raw.execute("BEGIN")
            return
        if info.get(READ_ONLY):
            raw.execute("PRAGMA query_only=OFF")
            info[READ_ONLY] = False
        # IMMEDIATE takes the write lock up front: two threads that both read
        # then write would otherwise deadlock and one would fail with
        # "database is locked" instead of waiting its turn.
        # Another process (the worker, `helpline purge`) may hold the lock.
        # SQLite's busy handler would sleep 25-100 ms at a time once it has
        # waited a little, so two busy processes kept missing the moments the
        # lock was free: a purge took minutes and webhooks waited seconds.
        # Retrying every few milliseconds takes the lock as soon as it is free.
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
        # Last try through SQLAlchemy, so a timeout surfaces as its
        # OperationalError (503 to a webhook), not as a raw driver error.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except PoolTimeout as exc:
        # Every pooled connection is stuck waiting on the database (a lock
        # held elsewhere, a server that stopped answering): also "down".
        raise ServiceUnavailable("database unavailable") from exc
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise ServiceUnavailable("database unavailable") from exc
        raise


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        # The same pool; its transactions read without the write lock (SQLite).
        self.read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._reader = sessionmaker(self.read_engine, class_=Session, expire_on_commit=False)
        # Re-entrant: a nested session in one thread is SQLite's to refuse.
        self._writer = threading.RLock() if is_sqlite(self.engine) else None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """SQLite has one writer at a time, and every transaction here begins
        IMMEDIATE. Threads of this process queue on a lock that wakes the next
        one at once; without it they would sleep in SQLite's busy handler
        (backing off up to 100 ms) while the database is already free, which
        made webhook latency spike to seconds under load. Other processes
        are waited for in _on_begin."""
        if self._writer is None:
            yield
            return
        if not self._writer.acquire(timeout=30):
            raise ServiceUnavailable("database busy")
        try:
            yield
        finally:
            self._writer.release()

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits on success, rolls back on error.

        A database that is down becomes `ServiceUnavailable` (503), so a
        platform retries instead of believing the message was stored.
        """
        with _unavailable(), self.turn(), self._factory() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction that only reads (the console's lists and views, the
        live stream's checks, /readyz). On SQLite it neither queues on this
        process's writer lock nor takes the database's write lock, so a
        volunteer's page is not kept waiting behind intake's batches; it sees
        the last committed state, and any write in it fails. On PostgreSQL
        it is an ordinary session (MVCC reads never wait for writers)."""
        if self._writer is None:
            with self.session() as session:
                yield session
            return
        with _unavailable(), self._reader() as session, session.begin():
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """One transaction on a plain connection, for hot paths that only
        write rows (the inbox's appends): no ORM session to set up and tear
        down. Same locking and errors as `session`."""
        with _unavailable(), self.turn(), self.engine.begin() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
