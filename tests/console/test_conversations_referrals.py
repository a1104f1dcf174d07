"""Referrals from the console: the texter is asked first; a partner worker
sees the conversation only after the yes, only from that moment on, and loses
it on withdrawal."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.store.models import Referral
from tests.console.conv_helpers import Agent, make_agent, texter_writes
from tests.console.test_conversations import only_conversation, services_of


def referred(client: TestClient) -> tuple[Agent, Agent, str]:
    roos = make_agent(client, alias="Roos")
    ggd = make_agent(client, "partner", alias="GGD-Anna", partner="ggd")
    texter_writes(client, "voor de GGD niet bedoeld")
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    created = roos.post(f"/api/conversations/{cid}/referrals",
                        {"partner": "ggd", "note": "wil een soa-test"})
    assert created.status_code == 201
    return roos, ggd, cid


def bodies(detail: dict[str, Any]) -> list[str]:
    return [m["body"] for m in detail["messages"]]


def test_proposing_asks_the_texter_and_shares_nothing_yet(client: TestClient) -> None:
    roos, ggd, cid = referred(client)
    detail = roos.get(f"/api/conversations/{cid}").json()
    assert "GGD" in detail["messages"][-1]["body"]  # the consent question names the partner
    assert detail["messages"][-1]["author"] == "bot"
    assert [(r["partner"], r["state"]) for r in detail["referrals"]] == [("ggd", "asked")]
    assert ggd.get("/api/conversations?view=queue").json()["items"] == []
    assert ggd.get("/api/conversations?view=all").json()["items"] == []
    assert ggd.get(f"/api/conversations/{cid}").status_code == 404
    assert ggd.get(f"/console/conversations/{cid}").status_code == 404


def test_after_yes_the_partner_sees_only_what_came_after_and_the_note(client: TestClient) -> None:
    roos, ggd, cid = referred(client)
    texter_writes(client, "JA")
    texter_writes(client, "wanneer kan ik komen?")
    items = ggd.get("/api/conversations?view=queue").json()["items"]
    assert [i["id"] for i in items] == [cid]
    assert items[0]["queue"] == "ggd"
    detail = ggd.get(f"/api/conversations/{cid}").json()
    seen = bodies(detail)
    assert "JA" in seen
    assert "wanneer kan ik komen?" in seen
    assert "voor de GGD niet bedoeld" not in seen
    assert [r["note"] for r in detail["referrals"]] == ["wil een soa-test"]
    page = ggd.get(f"/console/conversations/{cid}")
    assert page.status_code == 200
    assert "wil een soa-test" in page.text
    assert "voor de GGD niet bedoeld" not in page.text
    # The peer loses the conversation to the partner's queue.
    assert roos.get(f"/api/conversations/{cid}").status_code == 404
    # The partner answers through the same relay.
    assert ggd.post(f"/api/conversations/{cid}/claim").status_code == 200
    answer = ggd.post(f"/api/conversations/{cid}/messages", {"body": "Dinsdag 13:00"})
    assert answer.status_code == 201


def test_withdrawal_takes_everything_away_from_the_partner(client: TestClient) -> None:
    _, ggd, cid = referred(client)
    texter_writes(client, "JA")
    assert ggd.get(f"/api/conversations/{cid}").status_code == 200
    texter_writes(client, "INTREKKEN")
    assert ggd.get(f"/api/conversations/{cid}").status_code == 404
    assert ggd.get("/api/conversations?view=all").json()["items"] == []


def test_no_keeps_it_with_the_peers(client: TestClient) -> None:
    roos, ggd, cid = referred(client)
    texter_writes(client, "NEE")
    assert ggd.get(f"/api/conversations/{cid}").status_code == 404
    assert roos.get(f"/api/conversations/{cid}").status_code == 200
    with services_of(client).db.session() as session:
        states = [r.state for r in session.exec(select(Referral)).all()]
    assert states == ["declined"]


def test_another_partner_never_sees_it(client: TestClient) -> None:
    _, _, cid = referred(client)
    pmw = make_agent(client, "partner", alias="PMW-Bo", partner="pmw")
    texter_writes(client, "JA")
    assert pmw.get(f"/api/conversations/{cid}").status_code == 404
    assert pmw.get("/api/conversations?view=all").json()["items"] == []


def test_partner_notes_and_peer_notes_stay_apart(client: TestClient) -> None:
    roos, ggd, cid = referred(client)
    roos.post(f"/api/conversations/{cid}/notes", {"body": "peer-notitie"})
    texter_writes(client, "JA")
    ggd.post(f"/api/conversations/{cid}/notes", {"body": "ggd-notitie"})
    assert [n["body"] for n in ggd.get(f"/api/conversations/{cid}").json()["notes"]] == [
        "ggd-notitie"]


def test_unknown_partner_and_partner_proposals_are_refused(client: TestClient) -> None:
    roos, ggd, cid = referred(client)
    assert roos.post(f"/api/conversations/{cid}/referrals",
                     {"partner": "politie", "note": None}).status_code == 400
    texter_writes(client, "JA")
    assert ggd.post(f"/api/conversations/{cid}/referrals",
                    {"partner": "pmw", "note": None}).status_code == 409
