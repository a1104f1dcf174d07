"""The web chat follows the policies every channel follows: a consent
referral asked and answered on the page, and retention that empties it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.lifecycle.retention import purge
from helpline.store.models import Referral, Texter
from tests.conftest import FakeClock
from tests.console.conv_helpers import make_agent
from tests.webchat.helpers import say, send_all, services_of, shown


def test_a_referral_is_asked_on_the_page_and_a_yes_there_refers_it(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "Ik wil een soa-test")
    send_all(app)
    roos = make_agent(TestClient(app), alias="Roos")
    cid = roos.get("/api/conversations").json()["items"][0]["id"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    created = roos.post(f"/api/conversations/{cid}/referrals", {"partner": "ggd", "note": ""})
    assert created.status_code == 201
    send_all(app)
    question = shown(client)[-1]
    assert question[0] == "out"
    assert "GGD" in question[1]
    clock.advance(seconds=30)
    say(client, "JA")
    with services_of(app).db.session() as s:
        assert [r.state for r in s.exec(select(Referral)).all()] == ["accepted"]


def test_retention_erases_a_web_chat_and_the_page_shows_nothing(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "Hoi")
    send_all(app)
    clock.advance(days=31)
    result = purge(services_of(app), pause=False)
    assert result.texters == 1
    with services_of(app).db.session() as s:
        assert s.exec(select(Texter)).all() == []
    assert client.get("/chat/api/messages").json() == {"active": False, "language": None,
                                                       "messages": []}
