"""`GET /api/events`: server-sent events for the signed-in user.

Each event is a kind and ids (conversation, message, queue, state), never a
body: the page fetches what it may read through the JSON API, where the
visibility rules live. Events are filtered per user with the same rule, so a
volunteer's stream does not even reveal that a partner's conversation moved.

The session is re-checked at every heartbeat (15 s): a stream must not outlive
a sign-out, an expired session or a disabled account.

https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from helpline.console import sessions
from helpline.console.conversation_access import (
    PEER_QUEUES,
    require_reader,
    visible_conversation,
)
from helpline.console.deps import ChooseHelpline, CurrentUser
from helpline.http import ServicesDep
from helpline.live.bus import LiveEvent
from helpline.services import Services
from helpline.store.models import ConsoleSession, User

HEARTBEAT_SECONDS = 15.0
router = APIRouter()


def _own_alert(user: sessions.SessionUser, event: LiveEvent) -> bool:
    return event.kind == "alert" and event.helpline == user.helpline_id


def _allowed(services: Services, user: sessions.SessionUser, event: LiveEvent) -> bool:
    if event.conversation is None:
        # Operational alerts (a paused number) concern everyone on duty in
        # the helpline whose number it is, and nobody elsewhere.
        return _own_alert(user, event)
    if event.helpline is not None and event.helpline != user.helpline_id:
        return False
    # The query scopes to the user's helpline too (an event without one).
    return visible_conversation(services, user, event.conversation)


class Filter:
    """Per-stream visibility, cheap enough for a busy line.

    An event that names a peer queue is visible to every volunteer by the
    rule itself (no query: on SQLite a read would queue behind intake's
    writes). Anything else asks the database, and the answer is kept for a
    couple of seconds per conversation. Partners always ask the database:
    their access hangs on an accepted referral, not on a queue name.
    """

    TTL = 2.0

    def __init__(self, services: Services, user: sessions.SessionUser) -> None:
        self.services = services
        self.user = user
        self._cache: dict[str, tuple[float, bool]] = {}

    def fast(self, event: LiveEvent) -> bool | None:
        if event.conversation is None:
            return _own_alert(self.user, event)
        if event.helpline is not None and event.helpline != self.user.helpline_id:
            # Another helpline's conversation: never, whatever its queue.
            return False
        if (self.user.role == "volunteer" and event.queue in PEER_QUEUES
                and event.helpline == self.user.helpline_id):
            return True
        hit = self._cache.get(event.conversation)
        if hit is not None and time.monotonic() - hit[0] < self.TTL:
            return hit[1]
        return None

    def remember(self, event: LiveEvent, allowed: bool) -> None:
        if event.conversation is not None:
            if len(self._cache) > 5000:
                self._cache.clear()
            self._cache[event.conversation] = (time.monotonic(), allowed)


def _still_signed_in(services: Services, user: sessions.SessionUser) -> bool:
    """Like `sessions.load`, but without touching `last_seen_at`: an open tab
    streaming events is not activity, so the idle limit still applies."""
    now = services.now()
    with services.db.session() as session:
        row = session.get(ConsoleSession, user.session_id)
        account = session.get(User, user.user_id)
        return not (
            row is None
            or row.user_id != user.user_id
            or account is None
            or account.disabled
            or now - row.last_seen_at > sessions.IDLE_TIMEOUT
            or now - row.created_at > sessions.ABSOLUTE_TIMEOUT
        )


def _frame(event: LiveEvent) -> str:
    return f"event: {event.kind}\ndata: {event.to_json()}\n\n"


async def stream(
    services: Services,
    user: sessions.SessionUser,
    request: Request,
    heartbeat: float | None = None,
) -> AsyncIterator[str]:
    heartbeat = heartbeat or HEARTBEAT_SECONDS
    inbox: asyncio.Queue[LiveEvent] = asyncio.Queue()
    visibility = Filter(services, user)

    async def pump() -> None:
        async for event in services.bus.subscribe():
            await inbox.put(event)

    pumper = asyncio.create_task(pump())
    try:
        # Tells the page the stream is live (it reloads what it shows, so
        # nothing from before the connection is missed) and how soon to retry.
        yield "retry: 3000\nevent: ready\ndata: {}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(inbox.get(), timeout=heartbeat)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                if not await run_in_threadpool(_still_signed_in, services, user):
                    yield "event: signed_out\ndata: {}\n\n"
                    return
                yield ": heartbeat\n\n"
                continue
            # Take whatever else is already waiting too: each wait above
            # costs a turn of the event loop, and under load a turn can be a
            # whole group commit long, so one event per turn left the console
            # minutes behind (benchmarks/soak.py at 300 msg/s).
            batch = [event]
            while not inbox.empty():
                batch.append(inbox.get_nowait())
            frames = []
            for event in batch:
                allowed = visibility.fast(event)
                if allowed is None:
                    allowed = await run_in_threadpool(_allowed, services, user, event)
                    visibility.remember(event, allowed)
                if allowed:
                    frames.append(_frame(event))
            if frames:
                yield "".join(frames)
    finally:
        pumper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumper


@router.get("/api/events")
async def events(
    request: Request, user: CurrentUser, services: ServicesDep
) -> StreamingResponse:
    if user.choosing:
        raise ChooseHelpline()
    if user.role in ("volunteer", "partner"):
        require_reader(user)
    return StreamingResponse(
        stream(services, user, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
