"""Signed-in agents for the conversation tests: real accounts and real
server-side sessions in the test database (sign-in itself is tested with the
accounts code), and WhatsApp texters arriving through the signed webhook."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from helpline.console import sessions
from helpline.services import Services
from helpline.store.models import User
from tests.conftest import sign, wa_text_payload


@dataclass
class Agent:
    client: TestClient
    token: str
    csrf: str
    cookie: str
    user_id: str
    alias: str

    def _headers(self, unsafe: bool) -> dict[str, str]:
        headers = {"Cookie": f"{self.cookie}={self.token}"}
        if unsafe:
            headers["X-CSRF-Token"] = self.csrf
            headers["Origin"] = "http://testserver"
        return headers

    def get(self, path: str, **kw: Any) -> Response:
        return self.client.get(path, headers=self._headers(False), **kw)

    def post(self, path: str, body: Any = None) -> Response:
        return self.client.post(path, json=body, headers=self._headers(True))

    def put(self, path: str, body: Any = None) -> Response:
        return self.client.put(path, json=body, headers=self._headers(True))


def make_agent(
    client: TestClient,
    role: str = "volunteer",
    *,
    alias: str | None = None,
    partner: str | None = None,
) -> Agent:
    app: FastAPI = client.app  # type: ignore[assignment]
    services: Services = app.state.services
    now = services.now()
    alias = alias or f"{role}-{len(_seen(services))}"
    with services.db.session() as session:
        data_key, key = services.vault.create_key(session, now)
        user = User(
            username=f"u-{alias}",
            alias=alias,
            role=role,
            partner_id=partner,
            password_hash="-",
            data_key_id=data_key.id,
            totp_secret=b"",
            created_at=now,
            password_changed_at=now,
        )
        user.totp_secret = services.vault.seal(key, "JBSWY3DPEHPK3PXP", "users", "totp_secret",
                                               user.id)
        session.add(user)
        session.flush()
        token = sessions.start_session(services, session, user, now)
        user_id = user.id
    _seen(services).append(alias)
    return Agent(
        client=client,
        token=token,
        csrf=sessions.csrf_token_for(services, token),
        cookie=sessions.cookie_name(services.settings),
        user_id=user_id,
        alias=alias,
    )


_aliases: dict[int, list[str]] = {}


def _seen(services: Services) -> list[str]:
    return _aliases.setdefault(id(services), [])


def texter_writes(
    client: TestClient, text: str, *, wa_id: str = "31600000001", message_id: str | None = None
) -> None:
    global _counter
    _counter += 1
    payload = wa_text_payload(text, wa_id=wa_id, message_id=message_id or f"wamid.T{_counter}")
    body = json.dumps(payload).encode()
    response = client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    # Later actions happen later: history order is by time.
    clock = client.app.state.services.clock  # type: ignore[attr-defined]
    if hasattr(clock, "advance"):
        clock.advance(seconds=1)


_counter = 0
