"""Rate limits for the web chat: in memory, per process, keyed by visitor id.

The web chat is the one channel where anyone on the internet can write
without a phone number, so a flood must not fill the queue, the database or
the disk, nor slow down the console. Three token buckets answer it:

- per visitor: a short burst, then one message every few seconds;
- global messages: all visitors of this process together;
- global new chats: how many conversations strangers may open per minute.

A refusal says how long to wait (the route answers 429 with Retry-After).
Buckets live in memory: nothing about who wrote when is stored, and a
restart forgets them. With several app processes each has its own buckets
(docs/operating.md says so).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from helpline.errors import HelplineError


class TooFast(HelplineError):
    status_code = 429
    public_message = "You are sending messages too quickly. Wait a moment, then send again."

    def __init__(self, retry_after: float) -> None:
        super().__init__(self.public_message)
        self.retry_after = max(1, round(retry_after + 0.49))


class ChatBusy(TooFast):
    public_message = ("The chat is very busy right now. Please try again in a minute; "
                      "in an emergency call 112.")


@dataclass
class _Bucket:
    tokens: float
    at: float


class Bucket:
    """`capacity` tokens, refilled at `rate` per second."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._state = _Bucket(capacity, 0.0)
        self._lock = threading.Lock()

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is free."""
        with self._lock:
            return _take(self._state, self.capacity, self.rate, now)


def _take(state: _Bucket, capacity: float, rate: float, now: float) -> float:
    if state.at:
        state.tokens = min(capacity, state.tokens + max(0.0, now - state.at) * rate)
    state.at = now
    if state.tokens >= 1:
        state.tokens -= 1
        return 0.0
    return (1 - state.tokens) / rate


class PerKey:
    """One bucket per key, the least recently used dropped past `keys`: a
    flood of fresh sessions cannot grow memory (and is stopped by the global
    new-chat bucket anyway)."""

    def __init__(self, capacity: float, rate: float, keys: int = 20_000) -> None:
        self.capacity = capacity
        self.rate = rate
        self.keys = keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        with self._lock:
            state = self._buckets.get(key)
            if state is None:
                state = self._buckets[key] = _Bucket(self.capacity, 0.0)
                if len(self._buckets) > self.keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return _take(state, self.capacity, self.rate, now)


class ChatLimits:
    def __init__(self, *, burst: int, seconds: float, global_per_minute: int,
                 new_per_minute: int) -> None:
        self.visitor = PerKey(burst, 1 / seconds)
        self.messages = Bucket(max(1, global_per_minute // 6), global_per_minute / 60)
        self.new_chats = Bucket(max(1, new_per_minute // 6), new_per_minute / 60)

    def check(self, visitor: str, *, new: bool, now: float) -> None:
        """Raise TooFast / ChatBusy, or take one token from each bucket that applies."""
        wait = self.visitor.take(visitor, now)
        if wait:
            raise TooFast(wait)
        if new:
            wait = self.new_chats.take(now)
            if wait:
                raise ChatBusy(wait)
        wait = self.messages.take(now)
        if wait:
            raise ChatBusy(wait)
