"""The simulator channel: same intake, routing, outbox and console as WhatsApp
and Signal, with a phone-like page and a practice mode that stays separate."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.channels.base import (
    ChannelName,
    ChannelSendError,
    MalformedPayload,
    OutboundMessage,
    SignatureInvalid,
)
from helpline.channels.simulator import SimulatorChannel
from helpline.config import Settings
from helpline.main import create_app
from helpline.ops.simulator_routes import SCRIPTS_FILE, practice_scripts
from helpline.outbound import outbox
from helpline.outbound.conversations import queue_outbound
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from helpline.store.models import Conversation, Message, Texter
from tests.conftest import FakeClock

SESSION = "sImUlAtOr-session-0001"
OTHER = "another-browser-000002"
HEADERS = {"X-Simulator": "1"}


@pytest.fixture
def sim_app(settings_factory: Callable[..., Settings], clock: FakeClock) -> FastAPI:
    settings = settings_factory(simulator=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return create_app(settings, clock=clock, run_worker=False)


@pytest.fixture
def sim(sim_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sim_app, base_url="http://testserver") as c:
        yield c


def say(client: TestClient, text: str, *, session: str = SESSION, practice: bool = False,
        message_id: str | None = None, choice: str | None = None) -> Any:
    body: dict[str, Any] = {"session": session, "text": text, "practice": practice}
    if message_id:
        body["id"] = message_id
    if choice:
        body["choice"] = choice
    return client.post("/simulator/api/messages", json=body, headers=HEADERS)


def phone(client: TestClient, *, session: str = SESSION, practice: bool = False) -> Any:
    response = client.get(
        f"/simulator/api/messages?practice={'1' if practice else '0'}",
        headers={"X-Simulator-Session": session},
    )
    assert response.status_code == 200
    return response.json()


def send_all(app: FastAPI) -> None:
    while asyncio.run(outbox.run_once(app.state.services)):
        pass


def test_simulator_routes_are_404_when_the_simulator_is_off(client: TestClient) -> None:
    assert client.get("/simulator").status_code == 404
    assert say(client, "hoi").status_code == 404
    assert client.get("/simulator/api/scripts").status_code == 404
    assert client.get("/simulator/api/events?session=" + SESSION).status_code == 404


def test_simulator_page_has_no_inline_script_or_style_and_strict_csp(sim: TestClient) -> None:
    response = sim.get("/simulator")
    assert response.status_code == 200
    html = response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers
    for asset in ("/static/simulator.js", "/static/simulator.css"):
        assert asset in html
        assert sim.get(asset).status_code == 200


def test_post_without_the_simulator_header_is_refused(sim: TestClient) -> None:
    response = sim.post("/simulator/api/messages", json={"session": SESSION, "text": "hoi"})
    assert response.status_code == 401
    cross = sim.post("/simulator/api/messages", json={"session": SESSION, "text": "hoi"},
                     headers={**HEADERS, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 401


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"session": "short", "text": "x"}',
     b'{"session": "has spaces in it 123456", "text": "x"}'],
)
def test_malformed_simulator_posts_are_400_not_500(sim: TestClient, body: bytes) -> None:
    response = sim.post("/simulator/api/messages", content=body, headers=HEADERS)
    assert response.status_code == 400


def test_reading_without_a_session_is_400(sim: TestClient) -> None:
    assert sim.get("/simulator/api/messages").status_code == 400
    assert sim.get("/simulator/api/messages",
                   headers={"X-Simulator-Session": "x"}).status_code == 400


def test_texter_message_goes_through_intake_to_the_peer_queue_encrypted(
    sim: TestClient, sim_app: FastAPI
) -> None:
    assert say(sim, "Hoi, ik heb een vraag over een soa-test", message_id="m-1").status_code == 202
    services = sim_app.state.services
    with services.db.session() as session:
        texter = session.exec(select(Texter)).one()
        conversation = session.exec(select(Conversation)).one()
        inbound = session.exec(select(Message).where(Message.direction == "in")).one()
        assert texter.channel == "simulator"
        assert not texter.practice
        assert conversation.queue == "peer"
        assert not conversation.practice
        assert inbound.body is not None
        assert b"soa" not in inbound.body
        assert SESSION not in texter.blind_index
        assert SESSION.encode() not in texter.reply_address


def test_replies_appear_on_the_phone_only_after_the_worker_sent_them(
    sim: TestClient, sim_app: FastAPI
) -> None:
    say(sim, "hallo", message_id="m-1")
    before = phone(sim)
    assert [m["direction"] for m in before["messages"]] == ["in"]
    assert before["pseudonym"]
    send_all(sim_app)
    after = phone(sim)
    authors = [m["author"] for m in after["messages"]]
    assert authors[0] == "you"
    assert "bot" in authors
    assert after["messages"][0]["body"] == "hallo"


def test_volunteer_answer_reaches_the_phone_and_is_reported_read(
    sim: TestClient, sim_app: FastAPI, clock: FakeClock
) -> None:
    say(sim, "Ik wil praten", message_id="m-1")
    send_all(sim_app)
    services = sim_app.state.services
    clock.advance(minutes=2)
    with services.db.session() as session:
        texter = session.exec(select(Texter)).one()
        conversation = session.exec(select(Conversation)).one()
        key = services.vault.key(session, texter.data_key_id)
        reply = queue_outbound(services, session, texter=texter, conversation=conversation,
                               text="Hoi, ik ben er. Vertel maar.", key=key, now=clock(),
                               author_kind="user")
        reply_id = reply.id
    assert "Vertel maar" not in json.dumps(phone(sim))
    send_all(sim_app)
    messages = phone(sim)["messages"]
    assert messages[-1]["author"] == "volunteer"
    assert messages[-1]["body"] == "Hoi, ik ben er. Vertel maar."
    with services.db.session() as session:
        assert session.get(Message, reply_id).status == "read"  # type: ignore[union-attr]


def test_a_second_browser_does_not_see_the_first_ones_conversation(
    sim: TestClient, sim_app: FastAPI
) -> None:
    say(sim, "geheim", message_id="m-1")
    send_all(sim_app)
    assert phone(sim, session=OTHER)["messages"] == []
    say(sim, "ook hoi", session=OTHER, message_id="m-1")  # same client id, other session
    with sim_app.state.services.db.session() as session:
        assert len(session.exec(select(Texter)).all()) == 2
        assert len(session.exec(select(Message).where(Message.direction == "in")).all()) == 2


def test_resent_message_is_stored_once(sim: TestClient, sim_app: FastAPI) -> None:
    assert say(sim, "hoi", message_id="m-7").json()["stored"] == 1
    assert say(sim, "hoi", message_id="m-7").json() == {"stored": 0, "duplicates": 1}


def test_practice_texters_go_to_the_practice_queue_never_the_real_one(
    sim: TestClient, sim_app: FastAPI
) -> None:
    script = practice_scripts()["scripts"][0]
    say(sim, script["lines"]["nl"][0], practice=True, message_id="m-1")
    say(sim, "echte vraag", message_id="m-1")  # same browser session, real chat
    with sim_app.state.services.db.session() as session:
        texters = session.exec(select(Texter)).all()
        assert sorted(t.practice for t in texters) == [False, True]
        by_practice = {c.practice: c for c in session.exec(select(Conversation)).all()}
        assert by_practice[True].queue == "practice"
        assert by_practice[False].queue == "peer"
    assert phone(sim, practice=True)["practice"] is True
    assert [m["body"] for m in phone(sim, practice=True)["messages"]] == [
        script["lines"]["nl"][0]
    ]
    assert [m["body"] for m in phone(sim)["messages"]] == ["echte vraag"]


def test_quick_reply_buttons_are_offered_and_tapping_one_sends_the_choice(
    sim: TestClient, sim_app: FastAPI, clock: FakeClock
) -> None:
    say(sim, "hoi", message_id="m-1")  # the first message gets the welcome
    # The phone lists messages by time: with the clock standing still the
    # welcome and the menu would tie, in no particular order on PostgreSQL.
    clock.advance(seconds=1)
    say(sim, "MENU", message_id="m-2")
    send_all(sim_app)
    last = phone(sim)["messages"][-1]
    assert last["author"] == "bot"
    assert last["buttons"]
    choice = last["buttons"][0]
    response = say(sim, choice["title"], choice=choice["id"], message_id="m-3")
    assert response.status_code == 202
    assert response.json()["stored"] == 1


def test_practice_scripts_cover_the_peer_groups_daily_work_in_dutch_and_english() -> None:
    data = tomllib.loads(SCRIPTS_FILE.read_text(encoding="utf-8"))
    assert {"nl", "en"} <= set(data["languages"])
    ids = {s["id"] for s in data["script"]}
    assert {"sti_test", "violent_client", "tax_letter", "wanting_to_stop",
            "police_contact"} <= ids
    for script in data["script"]:
        lengths = {len(script["lines"][lang]) for lang in data["languages"]}
        assert len(lengths) == 1, script["id"]
        assert lengths.pop() >= 2, script["id"]
        assert all(script["title"][lang] for lang in data["languages"])


def test_channel_parse_scopes_message_ids_by_session_and_marks_choices() -> None:
    from datetime import UTC, datetime

    channel = SimulatorChannel(clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    [a] = channel.parse(json.dumps({"session": SESSION, "id": "m-1", "text": "geheim"}).encode())
    [b] = channel.parse(json.dumps({"session": OTHER, "id": "m-1", "choice": "menu:peer",
                                    "text": "Praten"}).encode())
    assert a.provider_message_id != b.provider_message_id  # type: ignore[union-attr]
    assert b.kind.value == "choice"
    assert b.choice == "menu:peer"
    assert "geheim" not in repr(a)
    assert SESSION not in repr(a)
    with pytest.raises(MalformedPayload):
        channel.parse(b"{")
    with pytest.raises(SignatureInvalid):
        channel.verify({}, {}, b"{}")


def test_channel_send_refuses_an_address_that_is_not_a_session() -> None:
    from datetime import UTC, datetime

    channel = SimulatorChannel(clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ChannelSendError) as err:
        asyncio.run(channel.send(OutboundMessage(to="+31612345678", text="hoi")))
    assert err.value.outcome == "fail"
    result = asyncio.run(channel.send(OutboundMessage(to=SESSION, text="hoi")))
    assert result.provider_message_id.startswith("sim.")
    assert channel.mailbox.take(SESSION) == [result.provider_message_id]
    assert channel.name == ChannelName.SIMULATOR
