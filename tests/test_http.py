"""Issue 21.2-21.4: what a console user can write never breaks a page, and
every answer, a 500 and a 413 included, carries the security headers and
leaves the connection usable."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.models import Note
from tests.conftest import FakeClock
from tests.console.conv_helpers import Agent, make_agent, texter_writes
from tests.console.live_server import ThreadServer
from tests.console.test_conversations import only_conversation, services_of

LONE = '"\\ud800 x"'  # raw JSON: the escape decodes to a lone surrogate


def raw(agent: Agent, method: str, path: str, body: str) -> httpx.Response:
    headers = agent._headers(True) | {"Content-Type": "application/json"}
    return agent.client.request(method, path, content=body.encode(), headers=headers)


def held(client: TestClient) -> tuple[Agent, str]:
    roos = make_agent(client, alias="Roos")
    texter_writes(client, "hallo")
    cid = only_conversation(roos)["id"]
    assert roos.post(f"/api/conversations/{cid}/claim").status_code == 200
    return roos, cid


def test_a_lone_surrogate_note_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    roos, cid = held(client)
    response = raw(roos, "POST", f"/api/conversations/{cid}/notes", '{"body": ' + LONE + "}")
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "body.body"
    assert "surrogate" in response.json()["fields"][0]["message"]
    assert "\\ud800" not in response.text
    with services_of(client).db.session() as session:
        assert session.exec(select(Note)).all() == []
    assert roos.get(f"/api/conversations/{cid}").status_code == 200
    assert roos.get(f"/console/conversations/{cid}").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/api/conversations/{cid}/messages", '{"body": %s}'),
        ("POST", "/api/conversations/{cid}/notes", '{"body": "a\\u0000b"}'),
        ("PUT", "/api/conversations/{cid}/labels", '{"labels": [%s]}'),
        ("POST", "/api/conversations/{cid}/referrals", '{"partner": "ggd", "note": %s}'),
        ("POST", "/api/conversations/{cid}/transfer", '{"to": %s}'),
    ],
)
def test_every_conversation_text_is_checked_at_the_edge(
    client: TestClient, method: str, path: str, template: str
) -> None:
    roos, cid = held(client)
    body = template % LONE if "%s" in template else template
    response = raw(roos, method, path.format(cid=cid), body)
    assert response.status_code == 422, response.text
    assert roos.get(f"/api/conversations/{cid}").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/admin/saved-replies",
         '{"language": "nl", "title": @, "body": "b"}'),
        ("/api/admin/saved-replies",
         '{"language": "nl", "title": "t", "body": @}'),
        ("/api/admin/users",
         '{"username": @, "role": "volunteer", "password": "a long enough password"}'),
        ("/api/admin/users",
         '{"username": "okname", "role": "volunteer", "password": "a long enough password",'
         ' "alias": @}'),
        ("/api/admin/users",
         '{"username": "okname", "role": "volunteer", "password": @}'),
    ],
)
def test_admin_texts_are_checked_at_the_edge(client: TestClient, path: str, body: str) -> None:
    ada = make_agent(client, "admin", alias="Ada")
    assert raw(ada, "POST", path, body.replace("@", LONE)).status_code == 422


def test_a_lone_surrogate_at_sign_in_is_a_failed_sign_in(client: TestClient) -> None:
    response = client.post(
        "/api/auth/login",
        content=b'{"username": "someone", "password": "\\ud800xxxxxxxxxxxx", "totp": "123456"}',
        headers={"Content-Type": "application/json", "Origin": "http://testserver"},
    )
    assert response.status_code == 401


def test_stored_text_that_cannot_be_encoded_still_renders(client: TestClient) -> None:
    """Defence in depth: text stored before the edge check (or by a bug)."""
    roos, cid = held(client)
    assert roos.post(f"/api/conversations/{cid}/notes", {"body": "eerst"}).status_code == 201
    services = services_of(client)
    with services.db.session() as session:
        note = session.exec(select(Note)).one()
        from helpline.store.models import Conversation, Texter

        conversation = session.get(Conversation, cid)
        assert conversation is not None
        texter = session.get(Texter, conversation.texter_id)
        assert texter is not None
        key = services.vault.key(session, texter.data_key_id)
        note.body = services.vault.seal(key, "\ud800 kapot", "notes", "body", note.id)
    detail = roos.get(f"/api/conversations/{cid}")
    assert detail.status_code == 200
    assert detail.json()["notes"][0]["body"] == "\ufffd kapot"
    page = roos.get(f"/console/conversations/{cid}")
    assert page.status_code == 200
    assert "\ufffd kapot" in page.text


def test_an_oversized_console_body_is_413_with_the_headers(client: TestClient) -> None:
    roos, cid = held(client)
    response = roos.post(f"/api/conversations/{cid}/notes", {"body": "x" * 200_000})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert roos.get(f"/api/conversations/{cid}").json()["notes"] == []


def _raising_app(settings: Settings, clock: FakeClock) -> FastAPI:
    app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)

    @app.get("/test-raises")
    def raises() -> None:
        raise RuntimeError("a bug with personal data: 31612345678")

    return app


def test_a_500_carries_the_security_headers_and_no_detail(
    migrated: Settings, clock: FakeClock, capfd: pytest.CaptureFixture[str]
) -> None:
    app = _raising_app(migrated, clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/test-raises")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "31612345678" not in capfd.readouterr().err


def test_on_a_real_server_the_connection_survives_a_500_and_a_413(
    migrated: Settings, clock: FakeClock
) -> None:
    app = _raising_app(migrated, clock)
    with ThreadServer(app) as server, httpx.Client(base_url=server.base_url) as http:
        first = http.get("/test-raises")
        assert first.status_code == 500
        assert "default-src 'none'" in first.headers["content-security-policy"]
        again = http.get("/healthz")
        assert again.status_code == 200
        big = http.post("/api/auth/login", content=json.dumps({"note": "x" * 200_000}),
                        headers={"Content-Type": "application/json",
                                 "Origin": server.base_url})
        assert big.status_code == 413
        assert "too large" in big.json()["error"]
        assert "default-src 'none'" in big.headers["content-security-policy"]
        assert http.get("/healthz").status_code == 200
