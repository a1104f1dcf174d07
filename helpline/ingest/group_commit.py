"""Group commit: webhook deliveries that arrive while one is being appended to
the inbox go into the next transaction together.

Why: each transaction pays a fixed price (on SQLite the write lock and a WAL
append, on PostgreSQL a round trip and a commit flush) that is most of what
an append costs. Under load, requests queue behind the one being appended
anyway; taking them in one transaction spends that price once per batch, so
the busier the line, the cheaper each delivery. Alone, a delivery is appended
at the next turn of the event loop.

Nothing is answered early: every delivery's 200 waits for the commit of the
transaction that holds it.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from helpline.errors import ServiceUnavailable
from helpline.ingest.inbox import Inbox, Sealed
from helpline.ingest.inbox_pg import PgAppender

# Appends are small (a sealed body and a wrapped key); a batch of 64 commits
# in about a millisecond on SQLite.
BATCH_LIMIT = 64
# PostgreSQL: transactions in flight at once. Its commits wait for the WAL to
# reach the disk; one at a time, answering was bounded by that wait.
PARALLEL_FLUSHES = 4

_Delivery = tuple[Sealed, "asyncio.Future[None]"]


@dataclass
class _Queue:
    pending: list[_Delivery] = field(default_factory=list)
    running: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    pool: PgAppender | None = None


class GroupCommit:
    """One per app; one queue per event loop (a test client may run several
    loops, each in its own thread).

    SQLite appends run on the event loop: a short write to the inbox file,
    cheaper than handing it to a thread and back (under load those hand-offs
    queued behind the GIL). PostgreSQL appends wait on the network, on
    asyncio connections of this loop (helpline.ingest.inbox_pg.PgAppender)."""

    def __init__(self, inbox: Inbox, limit: int = BATCH_LIMIT) -> None:
        self.inbox = inbox
        self.limit = limit
        self.postgres = not inbox.db.is_sqlite
        self.parallel = PARALLEL_FLUSHES if self.postgres else 1
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary())

    async def append(self, sealed: Sealed) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
            if self.postgres:
                queue.pool = PgAppender(self.inbox.db.url)
        future: asyncio.Future[None] = loop.create_future()
        queue.pending.append((sealed, future))
        if queue.running < self.parallel:
            queue.running += 1
            # Start after every request that is ready in this turn of the loop
            # has had the chance to join.
            loop.call_soon(self._start, loop, queue)
        # A sender that hangs up cancels only its wait: the delivery is
        # still appended (the platform retries, dedup answers the retry).
        await future
        wake = self.inbox.wake
        if wake is not None:
            wake.set()

    def _start(self, loop: asyncio.AbstractEventLoop, queue: _Queue) -> None:
        task = loop.create_task(self._run(queue))
        queue.tasks.add(task)
        task.add_done_callback(queue.tasks.discard)

    async def _run(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                batch = queue.pending[: self.limit]
                del queue.pending[: self.limit]
                await self._flush(batch, queue.pool)
        finally:
            queue.running -= 1

    async def aclose(self) -> None:
        """Close this event loop's PostgreSQL connections (app shutdown)."""
        queue = self._queues.get(asyncio.get_running_loop())
        if queue is not None and queue.pool is not None:
            await queue.pool.aclose()

    async def _flush(self, batch: list[_Delivery], pool: PgAppender | None) -> None:
        sealed = [item for item, _ in batch]
        try:
            await self.inbox.append(sealed, pool)
        except ServiceUnavailable as exc:
            for _, future in batch:
                _fail(future, exc)
            return
        except Exception as exc:  # noqa: BLE001 - each sender gets its own answer
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            for item, future in batch:
                await self._flush([(item, future)], pool)
            return
        if not self.postgres:  # PostgreSQL: counted from NOTIFY (Inbox.appended)
            self.inbox.appended += len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)


def _fail(future: asyncio.Future[None], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


__all__ = ["BATCH_LIMIT", "GroupCommit"]
