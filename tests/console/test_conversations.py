"""The conversation JSON API: lists, detail, claim, reply, retry, transfer,
close, notes and labels, with the real app, database and encryption; only
the Graph API is faked (respx)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from helpline.config import Settings
from helpline.main import create_app
from helpline.outbound import outbox
from helpline.services import Services
from helpline.store.models import (
    AuditEntry,
    Conversation,
    ConversationLabel,
    Message,
    Note,
    OutboxItem,
)
from routing.policy_file import default_policy
from tests.conftest import GRAPH, FakeClock, sign
from tests.console.conv_helpers import Agent, make_agent, texter_writes

SEND_URL = f"{GRAPH}/1000000001/messages"


def services_of(client: TestClient) -> Services:
    app: FastAPI = client.app  # type: ignore[assignment]
    services: Services = app.state.services
    return services


def only_conversation(agent: Agent, view: str = "queue") -> dict[str, Any]:
    items = agent.get(f"/api/conversations?view={view}").json()["items"]
    assert len(items) == 1
    item: dict[str, Any] = items[0]
    return item


def graph_ok(message_id: str) -> httpx.Response:
    return httpx.Response(200, json={"messaging_product": "whatsapp",
                                     "messages": [{"id": message_id}]})


def status_webhook(client: TestClient, provider_id: str, status: str, **extra: Any) -> None:
    st: dict[str, Any] = {"id": provider_id, "status": status, "timestamp": "1764072100",
                          "recipient_id": "31600000001", **extra}
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
                                       "metadata": {"display_phone_number": "15550783881",
                                                    "phone_number_id": "1000000001"},
                                       "statuses": [st]}}]}]}
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/whatsapp", content=body, headers={
        "X-Hub-Signature-256": sign(body), "Content-Type": "application/json"})
    assert response.status_code == 200


def send_all(client: TestClient) -> None:
    asyncio.run(outbox.run_once(services_of(client)))


# ---------------------------------------------------------------- lists


def test_queue_puts_urgent_first_then_longest_waiting(client: TestClient, clock: FakeClock) -> None:
    volunteer = make_agent(client, alias="Roos")
    texter_writes(client, "eerste", wa_id="31600000001")
    clock.advance(minutes=5)
    texter_writes(client, "tweede", wa_id="31600000002")
    clock.advance(minutes=5)
    texter_writes(client, "ik word bedreigd, help", wa_id="31600000003")
    clock.advance(minutes=1)
    items = volunteer.get("/api/conversations?view=queue").json()["items"]
    assert [i["priority"] for i in items] == ["urgent", "normal", "normal"]
    assert items[1]["waiting_seconds"] > items[2]["waiting_seconds"]
    first = items[1]
    assert set(first) >= {"id", "pseudonym", "channel", "queue", "priority", "status",
                          "last_message_at", "claimed_by", "window_closes_at", "language"}
    assert first["channel"] == "whatsapp"
    assert first["queue"] == "peer"
    assert first["window_closes_at"] is not None
    assert first["claimed_by"] is None


def test_cursor_pages_through_every_conversation_once(client: TestClient, clock: FakeClock) -> None:
    volunteer = make_agent(client)
    for n in range(5):
        texter_writes(client, f"bericht {n}", wa_id=f"3160000001{n}")
        clock.advance(minutes=1)
    for view in ("queue", "all"):
        seen: list[str] = []
        cursor = None
        while True:
            url = f"/api/conversations?view={view}&limit=2"
            if cursor:
                url += f"&cursor={cursor}"
            page = volunteer.get(url).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 5 == len(set(seen))
    all_items = volunteer.get("/api/conversations?view=all").json()["items"]
    stamps = [i["last_message_at"] for i in all_items]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("cursor", ["not-base64!!", "W10", "WyJ4IiwgMV0"])
def test_a_forged_cursor_is_a_400_not_a_500(client: TestClient, cursor: str) -> None:
    volunteer = make_agent(client)
    response = volunteer.get(f"/api/conversations?view=queue&cursor={cursor}")
    assert response.status_code == 400


def test_detail_shows_decrypted_history_with_author_alias_or_bot(client: TestClient) -> None:
    volunteer = make_agent(client, alias="Roos")
    texter_writes(client, "hallo daar")
    conversation = only_conversation(volunteer)
    volunteer.post(f"/api/conversations/{conversation['id']}/claim")
    volunteer.post(f"/api/conversations/{conversation['id']}/messages", {"body": "Hoi!"})
    detail = volunteer.get(f"/api/conversations/{conversation['id']}").json()
    bodies = [(m["direction"], m["body"], m["author"]) for m in detail["messages"]]
    assert bodies[0] == ("in", "hallo daar", None)
    assert any(author == "bot" for _, _, author in bodies)
    assert bodies[-1] == ("out", "Hoi!", "Roos")
    assert detail["claimed_by"] == "Roos"
    assert detail["pseudonym"] == conversation["pseudonym"]


# ---------------------------------------------------------------- claiming


def test_a_claim_shows_the_alias_to_colleagues_and_blocks_their_claim(client: TestClient) -> None:
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    assert only_conversation(iris)["claimed_by"] == "Roos"
    assert iris.post(f"/api/conversations/{cid}/claim").status_code == 409
    # The content and the actions are the holder's: a colleague gets 404.
    assert iris.post(f"/api/conversations/{cid}/messages", {"body": "x"}).status_code == 404
    assert iris.get(f"/api/conversations/{cid}").status_code == 404
    assert [i["id"] for i in roos.get("/api/conversations?view=mine").json()["items"]] == [cid]
    assert iris.get("/api/conversations?view=mine").json()["items"] == []


@pytest.fixture
def strict_app(migrated: Settings, clock: FakeClock) -> FastAPI:
    policy = dataclasses.replace(default_policy(), max_conversations_per_volunteer=1,
                                 sign_replies_with_alias=True)
    return create_app(migrated, clock=clock, policy=policy, run_worker=False)


@pytest.fixture
def strict_client(strict_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(strict_app, base_url="http://testserver") as c:
        yield c


def test_a_volunteer_holds_at_most_the_policy_maximum(strict_client: TestClient) -> None:
    roos, iris = make_agent(strict_client, alias="Roos"), make_agent(strict_client, alias="Iris")
    texter_writes(strict_client, "een", wa_id="31600000001")
    texter_writes(strict_client, "twee", wa_id="31600000002")
    first, second = (i["id"] for i in roos.get("/api/conversations").json()["items"])
    assert roos.post(f"/api/conversations/{first}/claim").status_code == 200
    refused = roos.post(f"/api/conversations/{second}/claim")
    assert refused.status_code == 409
    assert iris.post(f"/api/conversations/{second}/claim").status_code == 200
    # Transfer to a colleague who is full is refused too.
    assert roos.post(f"/api/conversations/{first}/transfer", {"to": "Iris"}).status_code == 409
    # Closing frees the slot.
    assert roos.post(f"/api/conversations/{first}/close").status_code == 200
    assert iris.post(f"/api/conversations/{second}/release").status_code == 200
    assert roos.post(f"/api/conversations/{second}/claim").status_code == 200


@respx.mock
def test_replies_are_signed_with_the_alias_when_the_policy_says_so(
    strict_client: TestClient,
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok("wamid.OUT"))
    roos = make_agent(strict_client, alias="Roos")
    texter_writes(strict_client, "hallo")
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    sent = roos.post(f"/api/conversations/{cid}/messages", {"body": "Hoi"})
    assert sent.json()["body"] == "Hoi\n— Roos"
    send_all(strict_client)
    bodies = [json.loads(call.request.content).get("text", {}).get("body")
              for call in route.calls]
    assert "Hoi\n— Roos" in bodies


def test_release_and_transfer_move_the_claim(client: TestClient) -> None:
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    assert roos.post(f"/api/conversations/{cid}/release").status_code == 409  # not claimed
    roos.post(f"/api/conversations/{cid}/claim")
    assert roos.get("/api/colleagues").json()["items"] == ["Iris"]
    assert roos.post(f"/api/conversations/{cid}/transfer", {"to": "Nobody"}).status_code == 400
    moved = roos.post(f"/api/conversations/{cid}/transfer", {"to": "Iris"})
    assert moved.status_code == 200
    assert moved.json()["claimed_by"] == "Iris"
    assert iris.get(f"/api/conversations/{cid}").json()["claimed_by_me"] is True
    assert iris.post(f"/api/conversations/{cid}/release").status_code == 200
    assert only_conversation(roos)["claimed_by"] is None


def test_close_moves_the_conversation_to_the_closed_view(client: TestClient) -> None:
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    assert roos.post(f"/api/conversations/{cid}/close").json()["status"] == "closed"
    assert roos.get("/api/conversations?view=queue").json()["items"] == []
    assert [i["id"] for i in roos.get("/api/conversations?view=closed").json()["items"]] == [cid]
    assert roos.post(f"/api/conversations/{cid}/messages", {"body": "x"}).status_code == 409


# ---------------------------------------------------------------- replying


@respx.mock
def test_a_reply_is_queued_sent_and_its_status_moves_to_delivered(client: TestClient) -> None:
    respx.post(SEND_URL).mock(side_effect=[graph_ok("wamid.BOT"), graph_ok("wamid.REPLY")])
    roos = make_agent(client, alias="Roos")
    texter_writes(client, "hallo")
    send_all(client)  # the welcome
    cid = only_conversation(roos)["id"]
    assert roos.post(f"/api/conversations/{cid}/messages", {"body": "x"}).status_code == 409
    roos.post(f"/api/conversations/{cid}/claim")
    created = roos.post(f"/api/conversations/{cid}/messages", {"body": "Hoi, ik ben er"})
    assert created.status_code == 201
    assert created.json()["status"] == "queued"
    assert created.json()["author"] == "Roos"
    send_all(client)
    status_webhook(client, "wamid.REPLY", "delivered")
    last = roos.get(f"/api/conversations/{cid}").json()["messages"][-1]
    assert (last["body"], last["status"]) == ("Hoi, ik ben er", "delivered")
    assert only_conversation(roos)["waiting_seconds"] is None  # answered


@pytest.mark.parametrize("body", ["", "   ", "x" * 4001])
def test_an_empty_or_overlong_reply_is_refused(client: TestClient, body: str) -> None:
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    assert roos.post(f"/api/conversations/{cid}/messages", {"body": body}).status_code == 400


def test_a_reply_after_the_whatsapp_window_is_held(client: TestClient, clock: FakeClock) -> None:
    texter_writes(client, "hallo")
    clock.advance(hours=25)
    roos = make_agent(client)  # signed in now (sessions last 12 h at most)
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    created = roos.post(f"/api/conversations/{cid}/messages", {"body": "Ben je er nog?"})
    assert created.status_code == 201
    assert created.json()["status"] == "held"


@respx.mock
def test_a_failed_delivery_shows_its_reason_and_can_be_retried(client: TestClient) -> None:
    route = respx.post(SEND_URL).mock(side_effect=[graph_ok("wamid.BOT"), graph_ok("wamid.R1"),
                                                   graph_ok("wamid.R2")])
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    texter_writes(client, "hallo")
    send_all(client)
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    mid = roos.post(f"/api/conversations/{cid}/messages", {"body": "Hoi"}).json()["id"]
    assert roos.post(f"/api/conversations/{cid}/messages/{mid}/retry").status_code == 409
    send_all(client)
    status_webhook(client, "wamid.R1", "failed",
                   errors=[{"code": 131026, "title": "Message undeliverable"}])
    failed = roos.get(f"/api/conversations/{cid}").json()["messages"][-1]
    assert failed["status"] == "failed"
    assert failed["error_reason"] == "whatsapp:131026"
    assert iris.post(f"/api/conversations/{cid}/messages/{mid}/retry").status_code == 404
    retried = roos.post(f"/api/conversations/{cid}/messages/{mid}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    send_all(client)
    assert route.call_count == 3
    assert roos.get(f"/api/conversations/{cid}").json()["messages"][-1]["status"] == "sent"


# ---------------------------------------------------------------- notes and labels


def test_notes_are_sealed_and_labels_come_from_the_fixed_list(client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    created = roos.post(f"/api/conversations/{cid}/notes", {"body": "belt morgen terug"})
    assert created.status_code == 201
    assert roos.put(f"/api/conversations/{cid}/labels",
                    {"labels": ["health", "housing"]}).json()["labels"] == ["health", "housing"]
    assert roos.put(f"/api/conversations/{cid}/labels",
                    {"labels": ["health", "weather"]}).status_code == 400
    assert roos.put(f"/api/conversations/{cid}/labels",
                    {"labels": ["money"]}).json()["labels"] == ["money"]
    detail = roos.get(f"/api/conversations/{cid}").json()
    assert [(n["body"], n["author"]) for n in detail["notes"]] == [("belt morgen terug", "Roos")]
    assert detail["labels"] == ["money"]
    with services_of(client).db.engine.connect() as conn:
        raw = conn.execute(text("SELECT body FROM notes")).scalar_one()
    assert b"belt morgen" not in bytes(raw)


def test_erasure_deletes_notes_and_labels(client: TestClient) -> None:
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/notes", {"body": "notitie"})
    roos.put(f"/api/conversations/{cid}/labels", {"labels": ["safety"]})
    texter_writes(client, "WIS")
    texter_writes(client, "JA")
    with services_of(client).db.session() as session:
        assert session.exec(select(Note)).all() == []
        assert session.exec(select(ConversationLabel)).all() == []
        assert session.exec(select(Conversation).where(Conversation.id == cid)).first() is None


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_read_no_conversations(client: TestClient, role: str) -> None:
    volunteer = make_agent(client)
    other = make_agent(client, role)
    texter_writes(client, "hallo")
    cid = only_conversation(volunteer)["id"]
    for path in ("/api/conversations", f"/api/conversations/{cid}"):
        assert other.get(path).status_code == 403
    for path in ("claim", "release", "close", "notes", "messages", "referrals"):
        assert other.post(f"/api/conversations/{cid}/{path}", {"body": "x"}).status_code in (
            403, 422)
    assert other.get(f"/console/conversations/{cid}").status_code == 403


def test_anonymous_requests_get_401(client: TestClient) -> None:
    assert client.get("/api/conversations").status_code == 401
    assert client.get("/api/conversations/whatever").status_code == 401
    assert client.get("/api/events").status_code == 401


def test_an_unknown_conversation_is_404(client: TestClient) -> None:
    roos = make_agent(client)
    assert roos.get("/api/conversations/doesnotexist").status_code == 404
    assert roos.post("/api/conversations/doesnotexist/claim").status_code == 404


def test_opening_replying_and_referring_are_audited_without_content(client: TestClient) -> None:
    roos = make_agent(client)
    texter_writes(client, "geheim verhaal")
    cid = only_conversation(roos)["id"]
    roos.get(f"/api/conversations/{cid}")
    roos.post(f"/api/conversations/{cid}/claim")
    roos.post(f"/api/conversations/{cid}/messages", {"body": "geheim antwoord"})
    roos.post(f"/api/conversations/{cid}/referrals", {"partner": "ggd", "note": "geheime notitie"})
    with services_of(client).db.session() as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.actor_id == roos.user_id)).all()
    actions = [e.action for e in entries]
    assert {"conversation.open", "message.reply", "referral.propose"} <= set(actions)
    assert all(e.object_ref == cid for e in entries)
    with services_of(client).db.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")).all())
    assert "geheim" not in dump


def test_outbox_rows_of_replies_exist_once(client: TestClient) -> None:
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    mid = roos.post(f"/api/conversations/{cid}/messages", {"body": "Hoi"}).json()["id"]
    with services_of(client).db.session() as session:
        rows = session.exec(select(OutboxItem).where(OutboxItem.message_id == mid)).all()
        message = session.get(Message, mid)
    assert len(rows) == 1
    assert message is not None
    assert message.author_kind == "user"


def test_live_refreshes_of_an_open_conversation_are_audited_once(
    client: TestClient, clock: FakeClock
) -> None:
    roos = make_agent(client)
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    for _ in range(3):
        roos.get(f"/api/conversations/{cid}")
    clock.advance(minutes=11)
    roos.get(f"/api/conversations/{cid}")
    with services_of(client).db.session() as session:
        opened = session.exec(select(AuditEntry).where(
            AuditEntry.actor_id == roos.user_id, AuditEntry.action == "conversation.open")).all()
    assert len(opened) == 2
