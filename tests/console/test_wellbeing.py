"""Volunteer wellbeing (issue 18, part 4) through the real app: the cap on
conversations one person holds answers with a clear, translated refusal; the
content-warning flag is set, audited, listed and shown on opening; the
end-of-shift prompt shows the policy's support text after the shift length
and on signing out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.config import Settings
from helpline.main import create_app
from helpline.services import Services
from helpline.store.models import AuditEntry, Conversation
from routing.policy_file import default_policy
from tests.conftest import FakeClock
from tests.console.conv_helpers import Agent, make_agent, texter_writes


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


@pytest.fixture
def capped(migrated: Settings, clock: FakeClock) -> Iterator[TestClient]:
    policy = dataclasses.replace(default_policy(), max_conversations_per_volunteer=1,
                                 shift_length=timedelta(hours=1))
    app = create_app(migrated, clock=clock, policy=policy, run_worker=False)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def two_conversations(client: TestClient, agent: Agent) -> tuple[str, str]:
    texter_writes(client, "een", wa_id="31600000001")
    texter_writes(client, "twee", wa_id="31600000002")
    first, second = (i["id"] for i in agent.get("/api/conversations").json()["items"])
    return first, second


# ---------------------------------------------------------------- the cap


def test_the_claim_past_the_cap_is_refused_with_the_limit_and_what_to_do(
    capped: TestClient,
) -> None:
    roos = make_agent(capped, alias="Roos")
    first, second = two_conversations(capped, roos)
    assert roos.post(f"/api/conversations/{first}/claim").status_code == 200
    refused = roos.post(f"/api/conversations/{second}/claim")
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "too_many_conversations"
    assert body["limit"] == 1
    assert "you already hold 1 conversations" in body["error"]
    assert "close or release one" in body["error"]
    with services_of(capped).db.session() as session:
        assert session.get(Conversation, second).claimed_by_id is None  # type: ignore[union-attr]


def test_a_transfer_to_a_full_colleague_names_the_colleague(capped: TestClient) -> None:
    roos, iris = make_agent(capped, alias="Roos"), make_agent(capped, alias="Iris")
    first, second = two_conversations(capped, roos)
    assert roos.post(f"/api/conversations/{first}/claim").status_code == 200
    assert iris.post(f"/api/conversations/{second}/claim").status_code == 200
    refused = roos.post(f"/api/conversations/{first}/transfer", {"to": "Iris"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "too_many_conversations_colleague"
    assert "the colleague already holds 1" in refused.json()["error"]


def test_the_console_page_carries_the_translated_refusal(capped: TestClient) -> None:
    roos = make_agent(capped, alias="Roos")
    first, _ = two_conversations(capped, roos)
    page = roos.get(f"/console/conversations/{first}")
    assert page.status_code == 200
    # The page script fills {limit} from the refusal's JSON (browser test).
    assert "Je hebt al {limit} gesprekken" in page.text


# ---------------------------------------------------------------- content warning


def test_a_content_warning_is_audited_and_shown_to_colleagues_in_the_queue(
    client: TestClient,
) -> None:
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    texter_writes(client, "hij sloeg me")
    cid = roos.get("/api/conversations").json()["items"][0]["id"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    answer = roos.put(f"/api/conversations/{cid}/content-warning", {"on": True})
    assert answer.status_code == 200
    assert answer.json() == {"id": cid, "content_warning": True}
    assert roos.get(f"/api/conversations/{cid}").json()["content_warning"] is True
    # While Roos holds it, Iris's row shows nothing of it (a colleague's held row).
    held_row = iris.get("/api/conversations").json()["items"][0]
    assert held_row["held_by_colleague"] is True
    assert held_row["content_warning"] is False
    assert roos.post(f"/api/conversations/{cid}/release").status_code == 200
    row = iris.get("/api/conversations").json()["items"][0]
    assert row["content_warning"] is True
    queue_page = iris.get("/console")
    assert "Zware inhoud" in queue_page.text
    opened = iris.get(f"/console/conversations/{cid}")
    assert 'id="cw-notice"' in opened.text
    assert 'id="messages" aria-live="polite" aria-label=' in opened.text
    assert "hidden>" in opened.text.split('id="messages"')[1].split("\n")[0]
    # Clearing it is audited too; setting the same value again records nothing.
    assert iris.put(f"/api/conversations/{cid}/content-warning", {"on": False}).status_code == 200
    assert iris.put(f"/api/conversations/{cid}/content-warning", {"on": False}).status_code == 200
    with services_of(client).db.session() as session:
        actions = session.exec(
            select(AuditEntry.actor_id, AuditEntry.action)
            .where(AuditEntry.object_ref == cid, AuditEntry.action.startswith(  # type: ignore[attr-defined]
                "conversation.content_warning"))
            .order_by(AuditEntry.id)  # type: ignore[arg-type]
        ).all()
    assert actions == [(roos.user_id, "conversation.content_warning_on"),
                       (iris.user_id, "conversation.content_warning_off")]
    assert iris.get(f"/api/conversations/{cid}").json()["content_warning"] is False


def test_the_content_warning_is_closed_to_those_who_may_not_act(client: TestClient) -> None:
    roos, iris = make_agent(client, alias="Roos"), make_agent(client, alias="Iris")
    coordinator = make_agent(client, "coordinator", alias="Coco")
    texter_writes(client, "hallo")
    cid = roos.get("/api/conversations").json()["items"][0]["id"]
    roos.post(f"/api/conversations/{cid}/claim")
    # A colleague's held conversation and an unknown id answer alike: 404.
    assert iris.put(f"/api/conversations/{cid}/content-warning", {"on": True}).status_code == 404
    assert roos.put("/api/conversations/nope/content-warning", {"on": True}).status_code == 404
    assert coordinator.put(f"/api/conversations/{cid}/content-warning",
                           {"on": True}).status_code == 403
    # Only a real boolean: "yes", 1 or a missing field is a clear 422, not a 500.
    for bad in ({"on": "yes"}, {"on": 1}, {}, ["on"]):
        assert roos.put(f"/api/conversations/{cid}/content-warning", bad).status_code == 422
    with services_of(client).db.session() as session:
        assert session.get(Conversation, cid).content_warning is False  # type: ignore[union-attr]


# ---------------------------------------------------------------- end of shift


def test_the_shift_prompt_appears_after_the_shift_length(capped: TestClient) -> None:
    roos = make_agent(capped, alias="Roos")
    clock = services_of(capped).clock
    assert 'id="shift-prompt"' not in roos.get("/console").text
    # Stay active (the idle limit is 30 minutes) past the policy's one hour.
    for _ in range(3):
        clock.advance(minutes=25)  # type: ignore[attr-defined]
        assert roos.get("/api/conversations").status_code == 200
    page = roos.get("/console")
    assert 'id="shift-prompt"' in page.text
    assert "De Luisterlijn" in page.text
    # Coordinators read no conversations: no prompt for them.
    coordinator = make_agent(capped, "coordinator", alias="Coco")
    clock.advance(minutes=70)  # type: ignore[attr-defined]
    assert 'id="shift-prompt"' not in coordinator.get("/console/stats").text


def test_signing_out_leads_a_volunteer_to_where_to_get_support(client: TestClient) -> None:
    roos = make_agent(client, alias="Roos")
    done = roos.post("/api/auth/logout")
    assert done.status_code == 200
    assert done.json()["next"] == "/console/shift-end?lang=nl"
    page = client.get("/console/shift-end?lang=en")
    assert page.status_code == 200
    assert "Thank you for your shift" in page.text
    assert "De Luisterlijn" in page.text
    assert "Bedankt voor je dienst" in client.get("/console/shift-end").text
    admin = make_agent(client, "admin", alias="Adam")
    assert admin.post("/api/auth/logout").json()["next"] == "/console/login?lang=nl"
