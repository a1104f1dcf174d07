"""Live events for the console: kinds and ids, never bodies.

In one process, subscribers are asyncio queues. Publishers may be worker
threads (intake runs in the thread pool), so `publish` hands over to the event
loop thread-safely. Across processes on PostgreSQL, `LISTEN/NOTIFY` feeds the
same `deliver` entry point (see `helpline.live.postgres`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol


class _Conversation(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def helpline_id(self) -> str: ...


@dataclass(frozen=True)
class LiveEvent:
    kind: str  # message / status / claim / release / close / queue / alert / referral
    conversation: str | None = None
    message: str | None = None
    queue: str | None = None
    state: str | None = None
    # The helpline of the conversation: a stream of another helpline drops
    # the event without asking the database (issue 17). Never sent to a
    # browser (`to_json` leaves it out; the page knows its own helpline).
    helpline: str | None = None

    @classmethod
    def of(cls, conversation: _Conversation, kind: str, **fields: str | None) -> LiveEvent:
        """An event about a conversation, tagged with its helpline."""
        return cls(kind=kind, conversation=conversation.id, helpline=conversation.helpline_id,
                   **fields)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items()
                           if v is not None and k != "helpline"})

    def to_wire(self) -> str:
        """For NOTIFY between processes: everything, the helpline included."""
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_json(cls, raw: str) -> LiveEvent:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            kind=str(data.get("kind", "")),
            conversation=data.get("conversation"),
            message=data.get("message"),
            queue=data.get("queue"),
            state=data.get("state"),
            helpline=data.get("helpline"),
        )


class LiveBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[LiveEvent]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        # Extra sinks, e.g. PostgreSQL NOTIFY for other processes.
        self.forwarders: list[Callable[[LiveEvent], None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: LiveEvent) -> None:
        """Called after a commit, from any thread."""
        if self.forwarders:
            for forward in self.forwarders:
                forward(event)
            return
        self.deliver(event)

    def deliver(self, event: LiveEvent) -> None:
        """Hand an event to this process's subscribers."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._fan_out(event)
        else:
            loop.call_soon_threadsafe(self._fan_out, event)

    def _fan_out(self, event: LiveEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for queue in subscribers:
            if queue.qsize() < 1000:  # a stuck client must not grow memory
                queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[LiveEvent]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue()
        with self._lock:
            self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
