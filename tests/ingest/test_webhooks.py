"""Webhook deliveries are answered ahead of FastAPI's middleware and router
(helpline.ingest.webhooks.HelplineApp), with the same answers the routes give."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from helpline.http import SECURITY_HEADERS
from helpline.ingest.inbox import Inbox
from helpline.store.models import Message
from tests.conftest import FAKE_NAME, FAKE_NUMBER, post_whatsapp, sign, wa_text_payload
from tests.ingest.test_intake import count, decrypted_bodies


class Seen:
    """A middleware that records the paths that pass through the stack."""

    paths: list[str] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            Seen.paths.append(scope["path"])
        await self.app(scope, receive, send)


def assert_security_headers(headers: object) -> None:
    for name, value in SECURITY_HEADERS:
        assert headers[name.decode()] == value.decode()  # type: ignore[index]
    assert headers["cache-control"] == "no-store"  # type: ignore[index]


def test_a_delivery_skips_the_middleware_stack_and_everything_else_goes_through_it(
    app: FastAPI,
) -> None:
    Seen.paths = []
    app.add_middleware(Seen)
    with TestClient(app) as client:
        assert post_whatsapp(client, wa_text_payload("via de snelle weg")).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/webhooks/whatsapp", params={
            "hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1",
        }).status_code == 403
    assert Seen.paths == ["/healthz", "/webhooks/whatsapp"]  # the GET handshake, not the POST
    assert decrypted_bodies(app, "in") == ["via de snelle weg"]


def test_answers_carry_the_security_headers_of_every_response(client: TestClient) -> None:
    ok = post_whatsapp(client, wa_text_payload("hallo"))
    assert ok.status_code == 200
    assert ok.content == b""
    assert_security_headers(ok.headers)
    refused = client.post("/webhooks/whatsapp", content=b"{}",
                          headers={"X-Hub-Signature-256": sign(b"{}", "wrong-secret")})
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid signature"}
    assert_security_headers(refused.headers)


def test_a_channel_that_is_not_configured_is_not_found(
    app: FastAPI, client: TestClient
) -> None:
    app.state.services.channels.pop("signal")
    response = client.post("/webhooks/signal?token=x", content=b"{}")
    assert response.status_code == 404
    assert_security_headers(response.headers)


def test_under_a_root_path_deliveries_take_the_routes_with_the_same_result(app: FastAPI) -> None:
    body = json.dumps(wa_text_payload("achter een proxy")).encode()
    with TestClient(app, root_path="/hulplijn") as client:
        response = client.post("/hulplijn/webhooks/whatsapp", content=body,
                               headers={"X-Hub-Signature-256": sign(body)})
        wrong = client.post("/hulplijn/webhooks/whatsapp", content=body,
                            headers={"X-Hub-Signature-256": sign(body, "wrong-secret")})
    assert response.status_code == 200
    assert_security_headers(response.headers)
    assert wrong.status_code == 401
    inbox: Inbox = app.state.inbox
    inbox.drain()
    assert decrypted_bodies(app, "in") == ["achter een proxy"]


def test_an_unexpected_error_is_a_500_with_a_log_line_that_quotes_nothing(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox: Inbox = app.state.inbox

    def broken(channel: str, body: bytes) -> None:
        raise RuntimeError(f"cannot seal {body!r}")

    monkeypatch.setattr(inbox, "seal", broken)
    with caplog.at_level("DEBUG"):
        response = post_whatsapp(client, wa_text_payload("Geheim-5521 vanavond"))
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert_security_headers(response.headers)
    [line] = [r for r in caplog.records if r.getMessage() == "http.unhandled"]
    fields = line.fields  # type: ignore[attr-defined]
    assert fields == {"status": 500, "kind": "RuntimeError", "path": "/webhooks/whatsapp"}
    logged = caplog.text + repr([r.__dict__ for r in caplog.records])
    for secret in ("Geheim-5521", FAKE_NUMBER, FAKE_NAME, "cannot seal"):
        assert secret not in logged
    assert count(app, Message) == 0


def test_the_routes_stay_in_the_api_description(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert set(paths["/webhooks/whatsapp"]) == {"get", "post"}
    assert set(paths["/webhooks/signal"]) == {"post"}
