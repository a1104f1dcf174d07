"""Volunteer notifications (issue 18, part 3): a volunteer registers a Signal
number (sealed, shown back masked) and quiet hours; when someone has waited
longer than the policy says, a content-free "someone is waiting in the queue
(N)" goes out through the outbox to signal-cli-rest-api (faked by respx), at
most once per repeat interval and never in quiet hours; coordinators see how
many went out, never to whom."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.outbound import volunteer_notifications
from helpline.store.models import OutboxItem, Texter
from tests.conftest import FakeClock, leaks
from tests.console.conv_helpers import make_agent
from tests.outbound.test_channel_switch import (
    Platforms,
    every_stored_value,
    send_all,
    services_of,
    whatsapp,
)

ROOS_SIGNAL = "+31687654321"


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    with respx.mock(assert_all_called=False) as router:
        yield Platforms(router)


def notifications_to_roos(platforms: Platforms) -> list[str]:
    return [m["message"] for m in platforms.signal_sends() if m["recipients"] == [ROOS_SIGNAL]]


def test_registration_is_sealed_masked_and_checked(app: FastAPI, client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    assert roos.get("/api/me/notifications").json() == {
        "signal": None, "quiet_from": None, "quiet_until": None}
    done = roos.put("/api/me/notifications",
                    {"signal": "+31 6 87654321", "quiet_from": "22:00", "quiet_until": "08:00"})
    assert done.status_code == 200
    assert done.json() == {"signal": "+3168765****", "quiet_from": "22:00",
                           "quiet_until": "08:00"}
    assert roos.get("/api/me/notifications").json()["signal"] == "+3168765****"
    assert b"31687654321" not in every_stored_value(app)
    for bad in ({"signal": "0687654321"}, {"signal": "+31 6 abc"},
                {"signal": ROOS_SIGNAL, "quiet_from": "22:00"},
                {"signal": ROOS_SIGNAL, "quiet_from": "25:00", "quiet_until": "08:00"},
                {"signal": 31687654321}):
        assert roos.put("/api/me/notifications", bad).status_code in (400, 422), bad
    coco = make_agent(client, "coordinator", alias="Coco")
    assert coco.put("/api/me/notifications", {"signal": ROOS_SIGNAL}).status_code == 403
    assert roos.put("/api/me/notifications", {"signal": None}).json()["signal"] is None


def test_a_waiting_texter_is_announced_without_content_and_paced(
    app: FastAPI, client: TestClient, clock: FakeClock, platforms: Platforms
) -> None:
    services = services_of(app)
    roos = make_agent(client, alias="Roos")
    assert roos.put("/api/me/notifications", {"signal": ROOS_SIGNAL}).status_code == 200
    whatsapp(client, "Help, ik ben bang")
    send_all(app)
    with services.db.session() as s:
        pseudonym = s.exec(select(Texter.pseudonym)).one()

    assert volunteer_notifications.tick(services, force=True) == 0  # not waited long yet
    clock.advance(minutes=11)
    assert volunteer_notifications.tick(services, force=True) == 1
    send_all(app)
    sent = notifications_to_roos(platforms)
    assert sent == ["Er wacht iemand in de wachtrij (1)"]
    raw = b"".join(c.request.content for c in platforms.signal.calls)
    assert leaks(raw) == []
    assert pseudonym.encode() not in raw
    assert b"bang" not in raw
    assert b"whatsapp" not in raw.lower()
    # The detached item is gone with its key once sent; nothing ties it to the texter.
    with services.db.session() as s:
        assert all(i.texter_id is not None for i in s.exec(select(OutboxItem)).all()
                   if i.state != "sent")

    clock.advance(minutes=5)
    assert volunteer_notifications.tick(services, force=True) == 0  # repeat interval
    clock.advance(minutes=26)
    make_agent(client, alias="Lin")  # a colleague without a number gets nothing
    assert volunteer_notifications.tick(services, force=True) == 1
    send_all(app)
    assert len(notifications_to_roos(platforms)) == 2

    # Claimed: nobody waits, nobody is told.
    iris = make_agent(client, alias="Iris2")  # the earlier session went idle
    cid = iris.get("/api/conversations").json()["items"][0]["id"]
    assert iris.post(f"/api/conversations/{cid}/claim").status_code == 200
    clock.advance(minutes=31)
    assert volunteer_notifications.tick(services, force=True) == 0

    coco = make_agent(client, "coordinator", alias="Coco")
    rows = coco.get("/api/stats?period=week").json()["rows"]
    assert ("volunteer_notifications", "<5") in {(r["metric"], r["value"]) for r in rows}


def test_quiet_hours_are_respected(migrated: object, platforms: Platforms) -> None:
    from helpline.config import Settings
    from helpline.main import create_app

    assert isinstance(migrated, Settings)
    # 23:30 in Amsterdam (UTC+1 in December).
    clock = FakeClock(datetime(2026, 12, 2, 22, 30, tzinfo=UTC))
    app = create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as client:
        services = services_of(app)
        roos = make_agent(client, alias="Roos")
        roos.put("/api/me/notifications",
                 {"signal": ROOS_SIGNAL, "quiet_from": "22:00", "quiet_until": "08:00"})
        whatsapp(client, "hallo")
        clock.advance(minutes=15)
        assert volunteer_notifications.tick(services, force=True) == 0
        clock.advance(hours=9)  # 08:45
        assert volunteer_notifications.tick(services, force=True) == 1
        send_all(app)
        assert notifications_to_roos(platforms) == ["Er wacht iemand in de wachtrij (1)"]
        sends = [json.loads(c.request.content) for c in platforms.signal.calls]
        assert sends[-1]["number"] == "+31600000099"
