"""The conversation policy end to end: webhook → routing → database → console API."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlmodel import func, select

from helpline.services import Services
from helpline.store.models import Conversation, Message, Texter
from tests.conftest import FakeClock, post_whatsapp, wa_text_payload
from tests.console.helpers import sign_in_as

_ids = iter(range(10_000))


def texter_says(client: TestClient, text: str, wa_id: str = "31612345678") -> None:
    clock = client.app.state.services.clock  # type: ignore[attr-defined]
    clock.advance(seconds=20)  # texters take a moment to type
    payload = wa_text_payload(text, message_id=f"wamid.E2E{next(_ids)}", wa_id=wa_id)
    assert post_whatsapp(client, payload).status_code == 200


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def bot_texts(app: FastAPI) -> list[str]:
    services = services_of(app)
    out = []
    with services.db.session() as s:
        for m in s.exec(select(Message).where(Message.direction == "out")
                        .order_by(Message.created_at)).all():
            texter = s.get(Texter, m.texter_id)
            if texter is None or m.body is None:
                continue
            key = services.vault.key(s, texter.data_key_id)
            out.append(services.vault.open(key, m.body, "messages", "body", m.id))
    return out


def visible_ids(client: TestClient, view: str = "queue") -> set[str]:
    r = client.get(f"/api/conversations?view={view}")
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


def the_conversation(app: FastAPI) -> str:
    with services_of(app).db.session() as s:
        return s.exec(select(Conversation)).one().id


def test_ggd_referral_needs_a_yes_and_ends_with_withdraw(app: FastAPI, client: TestClient) -> None:
    partner = TestClient(app, base_url="http://testserver")
    sign_in_as(partner, app, "partner", partner_id="ggd")
    texter_says(client, "Hoi, ik wil me laten testen")
    conversation = the_conversation(app)
    texter_says(client, "3")  # menu: sexual health and testing (GGD)
    question = bot_texts(app)[-1]
    assert "GGD" in question
    assert conversation not in visible_ids(partner)
    assert partner.get(f"/api/conversations/{conversation}").status_code in (403, 404)

    texter_says(client, "JA")
    assert conversation in visible_ids(partner)
    detail = partner.get(f"/api/conversations/{conversation}")
    assert detail.status_code == 200
    bodies = [m["body"] for m in detail.json()["messages"]]
    # The partner sees the conversation from the moment of consent, not before.
    assert "Hoi, ik wil me laten testen" not in bodies

    texter_says(client, "INTREKKEN")
    assert conversation not in visible_ids(partner)
    assert partner.get(f"/api/conversations/{conversation}").status_code in (403, 404)


def test_no_keeps_the_conversation_with_the_peers(app: FastAPI, client: TestClient) -> None:
    partner = TestClient(app, base_url="http://testserver")
    sign_in_as(partner, app, "partner", partner_id="ggd")
    texter_says(client, "hallo")
    texter_says(client, "3")
    texter_says(client, "NEE")
    assert visible_ids(partner) == set()
    with services_of(app).db.session() as s:
        assert s.exec(select(Conversation)).one().queue == "peer"


def test_volunteer_proposal_asks_the_texter_first(app: FastAPI, client: TestClient) -> None:
    volunteer = TestClient(app, base_url="http://testserver")
    sign_in_as(volunteer, app, "volunteer")
    partner = TestClient(app, base_url="http://testserver")
    sign_in_as(partner, app, "partner", partner_id="pmw")
    texter_says(client, "ik heb een brief van de belasting")
    conversation = the_conversation(app)
    r = volunteer.post(f"/api/conversations/{conversation}/referrals",
                       json={"partner": "pmw", "note": "belastingbrief"})
    assert r.status_code in (200, 201), r.text
    assert "PMW" in bot_texts(app)[-1]
    assert visible_ids(partner) == set()
    texter_says(client, "ja")
    assert conversation in visible_ids(partner)


def test_erase_with_confirmation_leaves_no_row_and_a_new_pseudonym_next_time(
    app: FastAPI, client: TestClient
) -> None:
    texter_says(client, "hallo")
    with services_of(app).db.session() as s:
        old = s.exec(select(Texter)).one()
        old_id, old_pseudonym = old.id, old.pseudonym
    texter_says(client, "WIS")
    texter_says(client, "JA")
    services = services_of(app)
    with services.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            columns = {c["name"] for c in inspect(conn).get_columns(table)}
            if "texter_id" in columns:
                n = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {table} WHERE texter_id = '{old_id}'"  # noqa: S608
                ).scalar()
                assert n == 0, table
    with services.db.session() as s:
        assert s.exec(select(func.count()).select_from(Texter)).one() == 0
    texter_says(client, "ik ben er weer")
    with services.db.session() as s:
        again = s.exec(select(Texter)).one()
        assert again.id != old_id
        assert again.pseudonym != old_pseudonym or again.id != old_id


def test_urgent_word_outside_opening_hours_gets_emergency_reply_and_mark(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)  # Sunday night, closed
    texter_says(client, "hij heeft me verkracht")
    with services_of(app).db.session() as s:
        conversation = s.exec(select(Conversation)).one()
        assert conversation.priority == "urgent"
    replies = bot_texts(app)
    assert any("112" in text for text in replies)
    volunteer = TestClient(app, base_url="http://testserver")
    sign_in_as(volunteer, app, "volunteer")
    texter_says(client, "gewone vraag", wa_id="31600000077")
    items = volunteer.get("/api/conversations?view=queue").json()["items"]
    assert items[0]["priority"] == "urgent"
    assert items[0]["id"] == conversation.id
