"""Group commit: on SQLite, webhook deliveries that arrive while one is being
stored go into the next transaction together.

Why: SQLite has one writer, and each transaction pays a fixed price (the write
lock, a session, a commit that appends to the WAL) that was about a quarter of
intake's CPU per message (`python benchmarks/profile_intake.py --batch 8`).
Under load, requests queue behind the one being stored anyway; taking them in
one transaction spends that price once per batch, so the busier the line, the
cheaper each message. Alone, a delivery is stored at the next turn of the event
loop, as before.

Nothing is answered early: every delivery's 200 waits for the commit of the
transaction that holds it. If a batch fails for a reason other than the
database being down, each delivery is retried on its own, so one bad delivery
cannot take the others with it.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from helpline import intake
from helpline.channels.base import InboundEvent
from helpline.errors import ServiceUnavailable
from helpline.intake import IntakeResult
from helpline.services import Services

# A full batch holds the event loop for about 60 ms of returning texters'
# messages (about 300 ms of new texters' first messages, on the development
# machine); batches of 4 already save most of the fixed price, so larger ones
# would add to every waiting request and save little more.
BATCH_LIMIT = 32

_Delivery = tuple[str, list[InboundEvent], "asyncio.Future[IntakeResult]"]


@dataclass
class _Queue:
    pending: list[_Delivery] = field(default_factory=list)
    scheduled: bool = False


class GroupCommit:
    """One per Services; one queue per event loop (a test client may run
    several loops, each in its own thread)."""

    def __init__(self, services: Services, limit: int = BATCH_LIMIT) -> None:
        self.services = services
        self.limit = limit
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary())

    async def store(self, channel: str, events: list[InboundEvent]) -> IntakeResult:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[IntakeResult] = loop.create_future()
        queue.pending.append((channel, events, future))
        if not queue.scheduled:
            queue.scheduled = True
            # Run after every request that is ready in this turn of the loop
            # has had the chance to join.
            loop.call_soon(self._flush, loop, queue)
        # A sender that hangs up cancels only its wait: the delivery is
        # still stored (the platform retries, dedup answers the retry).
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop, queue: _Queue) -> None:
        batch = queue.pending[: self.limit]
        del queue.pending[: self.limit]
        if queue.pending:
            loop.call_soon(self._flush, loop, queue)
        else:
            queue.scheduled = False
        deliveries = [(channel, events) for channel, events, _ in batch]
        try:
            results = intake.receive_many(self.services, deliveries)
        except ServiceUnavailable as exc:
            for *_, future in batch:
                _fail(future, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][2], exc)
                return
            for channel, events, future in batch:
                try:
                    _resolve(future, intake.receive(self.services, channel, events))
                except Exception as single:
                    _fail(future, single)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            _resolve(future, result)


def _resolve(future: asyncio.Future[IntakeResult], result: IntakeResult) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[IntakeResult], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


__all__ = ["BATCH_LIMIT", "GroupCommit"]
