"""A channel pause is one helpline's number's (issue 17, migration 0010): a
Signal captcha on Zeeland's number pauses Zeeland's Signal sends and raises
Zeeland's alert; Tilburg's Signal number keeps sending and its coordinators
hear nothing. Real app, real database (SQLite and PostgreSQL); only
signal-cli-rest-api is faked, answering like the real one."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.console import sessions
from helpline.console.events import Filter
from helpline.live.bus import LiveEvent
from helpline.outbound import outbox
from helpline.store.models import Alert, ChannelPause, OutboxItem
from tests.conftest import SIGNAL_API, FakeClock
from tests.two_helplines import (
    TILBURG_SIGNAL,
    ZEELAND_SIGNAL,
    add_zeeland,
    agent_in,
    post_signal,
    services_of,
    signal_to,
)

CAPTCHA = {"error": "Failed to send message: [proof required] ProofRequiredException"}
TILBURG_UUID = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
ZEELAND_UUID = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"


class Bridge:
    """signal-cli-rest-api's /v2/send: a captcha for Zeeland's number while
    `refuse_zeeland` holds, 201 otherwise; records who sent."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.refuse_zeeland = True
        self.sent_from: list[str] = []
        self.route = router.post(f"{SIGNAL_API}/v2/send").mock(side_effect=self._send)

    def _send(self, request: httpx.Request) -> httpx.Response:
        number = json.loads(request.content)["number"]
        if number == ZEELAND_SIGNAL and self.refuse_zeeland:
            return httpx.Response(400, json=CAPTCHA)
        self.sent_from.append(number)
        return httpx.Response(201, json={"timestamp": "1764072000500"})


def run_once(app: FastAPI) -> int:
    return asyncio.run(outbox.run_once(services_of(app)))


def pending(app: FastAPI) -> list[OutboxItem]:
    with services_of(app).db.session() as s:
        return list(s.exec(select(OutboxItem).where(OutboxItem.state == "pending")).all())


def both_write(client: TestClient, text: str, timestamp: int) -> None:
    assert post_signal(client, signal_to(TILBURG_SIGNAL, text, timestamp=timestamp,
                                         uuid=TILBURG_UUID)) == 200
    assert post_signal(client, signal_to(ZEELAND_SIGNAL, text, timestamp=timestamp,
                                         uuid=ZEELAND_UUID)) == 200


def answer(volunteer: Any) -> None:
    """A volunteer of the helpline claims its one conversation and replies."""
    (conversation,) = volunteer.get("/api/conversations").json()["items"]
    path = f"/api/conversations/{conversation['id']}"
    assert volunteer.post(f"{path}/claim").status_code == 200
    assert volunteer.post(f"{path}/messages", {"body": "Hoi, ik ben er"}).status_code == 201


def test_a_captcha_on_one_helplines_number_pauses_only_that_number(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    zeeland = add_zeeland(app)
    services = services_of(app)
    published: list[LiveEvent] = []
    services.bus.forwarders.append(published.append)
    with respx.mock(assert_all_called=False) as router:
        bridge = Bridge(router)
        both_write(client, "hoi", 1764072000000)
        run_once(app)
        # Tilburg's greeting left; Zeeland's met the captcha and waits.
        assert bridge.sent_from == [TILBURG_SIGNAL]
        with services.db.session() as s:
            pauses = [(p.helpline_id, p.channel) for p in s.exec(select(ChannelPause))]
            alerts = [(a.helpline_id, a.kind) for a in s.exec(select(Alert))]
        assert pauses == [(zeeland, "signal")]
        assert alerts == [(zeeland, "signal:captcha_required")]

        # While Zeeland's number is paused, Tilburg's texter is answered at
        # once and Zeeland's sends are not even tried (no hot loop).
        clock.advance(seconds=30)
        tries = len(bridge.route.calls)
        for helpline_id, alias in (("default", "Vera"), (zeeland, "Zara")):
            answer(agent_in(client, "volunteer", helpline_id, alias))
        run_once(app)
        run_once(app)
        assert bridge.sent_from == [TILBURG_SIGNAL, TILBURG_SIGNAL]
        assert len(bridge.route.calls) == tries + 1
        waiting = pending(app)
        assert len(waiting) == 2  # Zeeland's greeting and its answer
        assert all(i.attempts == 0 for i in waiting)  # the pause is not their fault

        # Once the pause is over (15 minutes without Retry-After), Zeeland sends again.
        bridge.refuse_zeeland = False
        clock.advance(minutes=16)
        run_once(app)
        assert bridge.sent_from.count(ZEELAND_SIGNAL) == 2
        assert pending(app) == []

    # The alert reaches Zeeland's people on duty, and nobody in Tilburg.
    alert_events = [e for e in published if e.kind == "alert"]
    assert alert_events
    assert {e.helpline for e in alert_events} == {zeeland}
    seen = {}
    for helpline_id, alias in (("default", "Tilly"), (zeeland, "Zee")):
        agent = agent_in(client, "coordinator", helpline_id, alias)
        user = sessions.load(services, agent.token)
        assert user is not None
        seen[alias] = Filter(services, user).fast(alert_events[0])
    assert seen == {"Tilly": False, "Zee": True}


def test_a_pause_without_a_helpline_stops_nobody_elses_number(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    """A pause row of the default helpline (what 0010 makes of every pause
    stored before it) keeps the default number quiet, and only it."""
    add_zeeland(app)
    services = services_of(app)
    with services.db.session() as s:
        s.add(ChannelPause(channel="signal", until=clock.now + timedelta(days=1),
                           reason="signal:rate_limited"))
    with respx.mock(assert_all_called=False) as router:
        bridge = Bridge(router)
        bridge.refuse_zeeland = False
        both_write(client, "hoi", 1764072000000)
        run_once(app)
    assert bridge.sent_from == [ZEELAND_SIGNAL]
    (waiting,) = pending(app)
    assert waiting.attempts == 0
