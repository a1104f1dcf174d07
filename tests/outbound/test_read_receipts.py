"""WhatsApp read receipts: a policy switch, off by default (a blue tick tells
whoever holds the texter's phone that someone read it). Driven through the
real app: signed webhooks in, a volunteer opening the conversation through the
console API, the outbox worker sending to a faked Graph API (respx), with the
documented request body:
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/mark-message-as-read
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
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
from helpline.outbound import read_receipts
from helpline.services import Services
from helpline.store.models import Conversation, Message, OutboxItem
from routing.policy_file import default_policy_text
from tests.conftest import (
    FAKE_NUMBER,
    SIGNAL_TOKEN,
    FakeClock,
    post_whatsapp,
    wa_text_payload,
)
from tests.console.conv_helpers import Agent, make_agent
from tests.ingest.test_intake import SIGNAL_UUID, signal_line
from tests.outbound.test_outbox import SEND_URL, graph_ok, run_once

# What a wamid is: base64 of a small structure whose first field is the
# sender's phone number (decode a real one: "HBgL" + the number + ...).
NUMBER_BYTES = FAKE_NUMBER.encode()


def wamid(tail: str) -> str:
    raw = b"\x1c\x18\x0b" + NUMBER_BYTES + b"\x15\x02\x00\x12\x18\x14" + tail.encode() + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


FIRST = wamid("3EB0C767D71D4F1C2A4F")
SECOND = wamid("3EB0A1B2C3D4E5F60718")
# The number as it sits inside the wamid's base64 (it starts on a 3-byte
# boundary there, so its encoding appears verbatim).
NUMBER_IN_WAMID = base64.b64encode(NUMBER_BYTES[:9]).decode()
assert NUMBER_IN_WAMID in FIRST

READ_BODY = {"messaging_product": "whatsapp", "status": "read"}


@pytest.fixture
def receipts_app(
    migrated: Settings, clock: FakeClock, tmp_path: Path
) -> FastAPI:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        default_policy_text().replace("read_receipts = false", "read_receipts = true"),
        encoding="utf-8",
    )
    settings = migrated.model_copy(update={"policy_file": str(policy)})
    return create_app(settings, clock=clock, run_worker=False, run_inbox=False)


@pytest.fixture
def receipts_client(receipts_app: FastAPI) -> Any:
    with TestClient(receipts_app, base_url="http://testserver") as c:
        yield c


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def texter_writes(client: TestClient, body: str, message_id: str) -> None:
    assert post_whatsapp(client, wa_text_payload(body, message_id=message_id)).status_code == 200
    client.app.state.services.clock.advance(seconds=1)  # type: ignore[attr-defined]


def conversation_id(app: FastAPI) -> str:
    with services_of(app).db.read_session() as session:
        return session.exec(select(Conversation.id)).one()


def read_calls(route: respx.Route) -> list[dict[str, Any]]:
    bodies = [json.loads(call.request.content) for call in route.calls]
    return [b for b in bodies if b.get("status") == "read"]


def open_conversation(agent: Agent, app: FastAPI) -> None:
    assert agent.get(f"/api/conversations/{conversation_id(app)}").status_code == 200


def sealed_ids(app: FastAPI) -> list[bytes | None]:
    with services_of(app).db.read_session() as session:
        return list(session.exec(
            select(Message.provider_message_id).where(Message.direction == "in")
        ).all())


def database_bytes(app: FastAPI) -> bytes:
    """Everything the database holds, as the disk (SQLite file and WAL) or a
    dump of every row of the test's PostgreSQL schema would show it."""
    services = services_of(app)
    url = services.settings.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(f.read_bytes() for f in path.parent.glob(path.name + "*"))
    out = b""
    with services.db.read_session() as session:
        tables = session.execute(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )).scalars().all()
        for table in tables:
            for row in session.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                out += b"".join(
                    bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                    for v in row
                )
    return out


@respx.mock
def test_switch_off_sends_no_read_receipt_and_keeps_no_provider_id(
    app: FastAPI, client: TestClient
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok())
    texter_writes(client, "hoi", FIRST)
    open_conversation(make_agent(client), app)
    run_once(app)
    run_once(app)
    assert route.calls, "the welcome went out"
    assert read_calls(route) == []
    assert sealed_ids(app) == [None]


@respx.mock
def test_switch_on_sends_exactly_one_read_call_naming_the_wamid(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok())
    texter_writes(receipts_client, "hoi", FIRST)
    volunteer = make_agent(receipts_client)
    open_conversation(volunteer, receipts_app)
    run_once(receipts_app)
    # Opening again (the page re-reads on every live event) sends nothing more.
    open_conversation(volunteer, receipts_app)
    open_conversation(make_agent(receipts_client), receipts_app)
    run_once(receipts_app)
    assert read_calls(route) == [{**READ_BODY, "message_id": FIRST}]
    assert route.calls.last.request.headers["authorization"] == "Bearer test-access-token"


@respx.mock
def test_receipt_names_only_the_newest_message_and_forgets_every_id_once_sent(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok())
    texter_writes(receipts_client, "hoi", FIRST)
    texter_writes(receipts_client, "ben je er?", SECOND)
    open_conversation(make_agent(receipts_client), receipts_app)
    run_once(receipts_app)
    assert read_calls(route) == [{**READ_BODY, "message_id": SECOND}]
    assert sealed_ids(receipts_app) == [None, None]


@respx.mock
def test_a_new_message_gets_its_own_receipt_at_the_next_opening(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok())
    volunteer = make_agent(receipts_client)
    texter_writes(receipts_client, "hoi", FIRST)
    open_conversation(volunteer, receipts_app)
    run_once(receipts_app)
    texter_writes(receipts_client, "ben je er?", SECOND)
    run_once(receipts_app)
    assert len(read_calls(route)) == 1, "not read before a volunteer opens it"
    open_conversation(volunteer, receipts_app)
    run_once(receipts_app)
    assert [c["message_id"] for c in read_calls(route)] == [FIRST, SECOND]


@respx.mock
def test_wamid_is_never_in_the_database_in_clear(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    respx.post(SEND_URL).mock(return_value=graph_ok())
    texter_writes(receipts_client, "hoi", FIRST)
    open_conversation(make_agent(receipts_client), receipts_app)
    # Stored and queued, not yet sent: the id is in the database, sealed.
    assert all(sealed is not None for sealed in sealed_ids(receipts_app))
    stored = database_bytes(receipts_app)
    for needle in (FIRST, FIRST.removeprefix("wamid."), NUMBER_IN_WAMID, FAKE_NUMBER):
        assert needle.encode() not in stored


@respx.mock
def test_erasure_removes_the_sealed_wamid_and_its_pending_receipt(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok())
    texter_writes(receipts_client, "hoi", FIRST)
    open_conversation(make_agent(receipts_client), receipts_app)
    admin = make_agent(receipts_client, "admin")
    erased = admin.post(f"/api/admin/conversations/{conversation_id(receipts_app)}/erase")
    assert erased.status_code == 200
    run_once(receipts_app)
    run_once(receipts_app)
    assert read_calls(route) == []
    with services_of(receipts_app).db.read_session() as session:
        assert session.exec(select(Message)).all() == []
        assert session.exec(
            select(OutboxItem).where(OutboxItem.kind == "read_receipt")
        ).all() == []
    assert FIRST.removeprefix("wamid.").encode() not in database_bytes(receipts_app)


@respx.mock
def test_refused_receipt_is_given_up_without_touching_the_message(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    # Meta's answer to an id it does not accept (code 131009).
    refusal = httpx.Response(400, json={"error": {
        "message": "(#131009) Parameter value is not valid", "type": "OAuthException",
        "code": 131009, "fbtrace_id": "AbCdEf"}})

    def answer(request: httpx.Request) -> httpx.Response:
        return refusal if json.loads(request.content).get("status") == "read" else graph_ok()

    route = respx.post(SEND_URL).mock(side_effect=answer)
    texter_writes(receipts_client, "hoi", FIRST)
    open_conversation(make_agent(receipts_client), receipts_app)
    run_once(receipts_app)
    run_once(receipts_app)
    assert len(read_calls(route)) == 1
    with services_of(receipts_app).db.read_session() as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).one()
        item = session.exec(select(OutboxItem).where(OutboxItem.kind == "read_receipt")).one()
    assert (inbound.status, inbound.provider_message_id) == ("received", None)
    assert (item.state, item.last_error) == ("failed", "whatsapp:131009")


@respx.mock
def test_graph_error_is_retried_and_then_sent_once(
    receipts_app: FastAPI, receipts_client: TestClient, clock: FakeClock
) -> None:
    answers = iter([httpx.Response(503, json={"error": {"code": 131016}})])

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("status") == "read":
            return next(answers, httpx.Response(200, json={"success": True}))
        return graph_ok()

    route = respx.post(SEND_URL).mock(side_effect=answer)
    texter_writes(receipts_client, "hoi", FIRST)
    open_conversation(make_agent(receipts_client), receipts_app)
    run_once(receipts_app)
    assert sealed_ids(receipts_app) != [None], "kept for the retry"
    clock.advance(minutes=5)
    run_once(receipts_app)
    run_once(receipts_app)
    assert [c["message_id"] for c in read_calls(route)] == [FIRST, FIRST]
    assert sealed_ids(receipts_app) == [None]


@respx.mock
def test_signal_never_gets_a_read_receipt(
    receipts_app: FastAPI, receipts_client: TestClient, settings_factory: Callable[..., Settings]
) -> None:
    signal = respx.post(url__regex=r"http://signal-api\.test/.*").mock(
        return_value=httpx.Response(201, json={"timestamp": "1700000009000"})
    )
    envelope = {"source": SIGNAL_UUID, "sourceUuid": SIGNAL_UUID, "sourceDevice": 1,
                "timestamp": 1700000001000,
                "dataMessage": {"timestamp": 1700000001000, "message": "hoi"}}
    response = receipts_client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}",
                                    json=signal_line(envelope))
    assert response.status_code == 200
    open_conversation(make_agent(receipts_client), receipts_app)
    run_once(receipts_app)
    assert sealed_ids(receipts_app) == [None]
    assert not [c for c in signal.calls if "/receipts/" in str(c.request.url)]
    with services_of(receipts_app).db.read_session() as session:
        assert session.exec(
            select(OutboxItem).where(OutboxItem.kind == "read_receipt")
        ).all() == []


def test_two_openings_at_once_queue_one_receipt(
    receipts_app: FastAPI, receipts_client: TestClient
) -> None:
    """The first opening's transaction holds the message (PostgreSQL: FOR
    UPDATE; SQLite: the write lock) until it commits; the second then sees
    its outbox row and queues nothing."""
    texter_writes(receipts_client, "hoi", FIRST)
    services = services_of(receipts_app)
    conversation = conversation_id(receipts_app)
    second: list[bool] = []
    started = threading.Event()

    def other_volunteer() -> None:
        started.set()
        with services.db.session() as session:
            second.append(
                read_receipts.queue_on_open(services, session, conversation, services.now())
            )

    with services.db.session() as session:
        assert read_receipts.queue_on_open(services, session, conversation, services.now())
        thread = threading.Thread(target=other_volunteer)
        thread.start()
        started.wait()
        time.sleep(0.3)  # the other one is now waiting for our commit
        assert second == []
    thread.join(timeout=10)
    assert second == [False]
    with services.db.read_session() as session:
        rows = session.exec(select(OutboxItem).where(OutboxItem.kind == "read_receipt")).all()
    assert len(rows) == 1
