"""The visitor's event stream: replies pushed by the adapter, plus a nudge to
read again when something changed that this process did not send itself.

Two paths reach an open page:

- The adapter's `send` (in this process's outbox worker) pushes the reply's
  text straight into the visitor's stream: the fast path, no database read.
- The console's live bus (events carry kinds and ids only; across processes
  by PostgreSQL NOTIFY) names conversations. One hub per process listens to
  it for all open chat streams, finds which texter a conversation belongs to
  (cached: ownership never changes) and tells that visitor's streams
  `update`, so the page reads its conversation again. That covers a worker
  in another process, an erasure and a reply sent while the page was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from typing import Any

from starlette.concurrency import run_in_threadpool

from helpline.services import Services
from helpline.webchat.transcript import owner_of

Queue = asyncio.Queue[dict[str, Any]]


class Hub:
    CACHE = 20_000

    def __init__(self, services: Services) -> None:
        self.services = services
        self._by_texter: dict[str, set[Queue]] = {}
        self._pending: set[Queue] = set()  # streams whose texter is not stored yet
        self._owners: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def watch(self, queue: Queue, texter: str | None) -> None:
        with self._lock:
            if texter is None:
                self._pending.add(queue)
            else:
                self._pending.discard(queue)
                self._by_texter.setdefault(texter, set()).add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def unwatch(self, queue: Queue, texter: str | None) -> None:
        with self._lock:
            self._pending.discard(queue)
            if texter is not None and texter in self._by_texter:
                self._by_texter[texter].discard(queue)
                if not self._by_texter[texter]:
                    del self._by_texter[texter]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _owner(self, conversation: str) -> str | None:
        if conversation in self._owners:
            self._owners.move_to_end(conversation)
            return self._owners[conversation]
        owner = await run_in_threadpool(owner_of, self.services, conversation)
        if owner is not None:  # an unknown one may be stored a moment later
            self._owners[conversation] = owner
            if len(self._owners) > self.CACHE:
                self._owners.popitem(last=False)
        return owner

    async def _run(self) -> None:
        async for event in self.services.bus.subscribe():
            if event.conversation is None:
                continue
            with self._lock:
                idle = not self._by_texter and not self._pending
            if idle:
                continue
            owner = await self._owner(event.conversation)
            with self._lock:
                queues = list(self._by_texter.get(owner or "", ()))
                pending = list(self._pending)
            for queue in queues:
                _nudge(queue, {"update": event.kind})
            for queue in pending:
                _nudge(queue, {"resolve": True})


def _nudge(queue: Queue, item: dict[str, Any]) -> None:
    if not queue.full():
        queue.put_nowait(item)
