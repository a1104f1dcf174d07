"""`GET /api/events` over real HTTP (uvicorn in a thread): ids and kinds for
what the user may see, nothing else; heartbeats; the stream ends with the
session. On PostgreSQL the same tests go through LISTEN/NOTIFY."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from helpline.config import Settings
from helpline.console import events
from helpline.main import create_app
from helpline.services import Services
from helpline.store.models import ConsoleSession
from tests.conftest import sign, wa_text_payload
from tests.console.live_server import EventReader, ThreadServer, signed_in


@pytest.fixture
def live_app(migrated: Settings) -> FastAPI:
    return create_app(migrated, run_worker=False)


@pytest.fixture
def server(live_app: FastAPI) -> Iterator[ThreadServer]:
    with ThreadServer(live_app) as running:
        yield running


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def webhook(server: ThreadServer, base_client: object, text: str, message_id: str,
            wa_id: str = "31600000001") -> str:
    import httpx

    assert isinstance(base_client, httpx.Client)
    body = json.dumps(wa_text_payload(text, message_id=message_id, wa_id=wa_id)).encode()
    response = base_client.post("/webhooks/whatsapp", content=body, headers={
        "X-Hub-Signature-256": sign(body), "Content-Type": "application/json"})
    assert response.status_code == 200
    server.settle()
    return body.decode()


def open_stream(account_client: object) -> EventReader:
    import httpx

    assert isinstance(account_client, httpx.Client)
    reader = EventReader(account_client).start()
    reader.wait_for(lambda kind, _: kind == "ready")
    return reader


def test_a_new_message_reaches_volunteers_as_ids_without_the_body(
    live_app: FastAPI, server: ThreadServer
) -> None:
    services = services_of(live_app)
    roos = signed_in(services, "volunteer", "Roos").client(server.base_url)
    ggd = signed_in(services, "partner", "GGD-Anna", "ggd").client(server.base_url)
    boss = signed_in(services, "coordinator", "Baas").client(server.base_url)
    readers = [open_stream(c) for c in (roos, ggd, boss)]
    webhook(server, roos, "geheim-bericht-123", "wamid.E1")
    kind, data = readers[0].wait_for(lambda k, d: k == "message")
    assert set(data) <= {"kind", "conversation", "message", "queue", "state"}
    assert "geheim" not in json.dumps(data)
    cid = data["conversation"]
    assert roos.get(f"/api/conversations/{cid}").status_code == 200
    # Colleagues on other roles hear nothing about it (checked after the
    # volunteer's stream got it, and after one more event to be sure).
    webhook(server, roos, "nog een", "wamid.E2")
    readers[0].wait_for(lambda k, d: k == "message" and d.get("message") != data["message"])
    for other in readers[1:]:
        assert [k for k, _ in other.drain()] == []
    for c in (roos, ggd, boss):
        c.close()


def test_a_claim_reaches_a_colleague_live(live_app: FastAPI, server: ThreadServer) -> None:
    services = services_of(live_app)
    roos = signed_in(services, "volunteer", "Roos").client(server.base_url)
    iris = signed_in(services, "volunteer", "Iris").client(server.base_url)
    webhook(server, roos, "hallo", "wamid.C1")
    cid = roos.get("/api/conversations").json()["items"][0]["id"]
    reader = open_stream(iris)
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    _, data = reader.wait_for(lambda k, d: k == "claim")
    assert data["conversation"] == cid
    assert iris.get("/api/conversations").json()["items"][0]["claimed_by"] == "Roos"
    roos.close()
    iris.close()


def test_heartbeats_flow_and_the_stream_ends_with_the_session(
    live_app: FastAPI, server: ThreadServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "HEARTBEAT_SECONDS", 0.2)
    services = services_of(live_app)
    account = signed_in(services, "volunteer", "Roos")
    client = account.client(server.base_url)
    reader = open_stream(client)
    assert reader.comments.get(timeout=5) == ": heartbeat"
    with services.db.session() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == account.user_id))  # type: ignore[arg-type]
    reader.wait_for(lambda k, _: k == "signed_out")
    assert reader.ended.wait(5)
    client.close()


def test_an_anonymous_stream_is_refused(server: ThreadServer) -> None:
    import httpx

    assert httpx.get(f"{server.base_url}/api/events").status_code == 401
