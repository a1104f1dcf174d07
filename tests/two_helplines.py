"""Two helplines in one installation, for the multi-helpline tests: the
default one (Tilburg here, the settings' numbers 1000000001 and
+31600000099) and Zeeland, added through the same service the CLI and the
admin console use, with deliveries shaped exactly like the platforms'."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.ops.helplines import HelplineSpec, add_helpline
from helpline.services import Services
from tests.conftest import FAKE_NUMBER, SIGNAL_TOKEN, sign, wa_text_payload

TILBURG_WA = "1000000001"
TILBURG_SIGNAL = "+31600000099"
ZEELAND_WA = "2000000002"
ZEELAND_SIGNAL = "+31600000077"
SIGNAL_UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def add_zeeland(app: FastAPI, policy: str | None = None) -> str:
    row = add_helpline(services_of(app), HelplineSpec(
        slug="zeeland", name="Zeeland", whatsapp_phone_number_id=ZEELAND_WA,
        signal_number=ZEELAND_SIGNAL, policy=policy))
    return row.id


def wa_to(number_id: str | None, text: str, *, message_id: str,
          wa_id: str = FAKE_NUMBER) -> dict[str, Any]:
    """Meta's `messages` webhook, sent to our business number `number_id`
    (`metadata.phone_number_id`); None leaves the metadata out."""
    payload = wa_text_payload(text, message_id=message_id, wa_id=wa_id)
    value = payload["entry"][0]["changes"][0]["value"]
    if number_id is None:
        del value["metadata"]
    else:
        value["metadata"]["phone_number_id"] = number_id
    return payload


def post_wa(client: TestClient, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/whatsapp", content=body, headers={
        "X-Hub-Signature-256": sign(body), "Content-Type": "application/json"})
    return response.status_code


def signal_to(account: str, text: str, *, timestamp: int = 1764072000000,
              uuid: str = SIGNAL_UUID) -> dict[str, Any]:
    """signal-cli-rest-api's json-rpc `receive` notification for `account`."""
    return {
        "jsonrpc": "2.0",
        "method": "receive",
        "params": {
            "account": account,
            "envelope": {
                "source": uuid, "sourceUuid": uuid, "sourceNumber": None,
                "sourceDevice": 1, "timestamp": timestamp,
                "dataMessage": {"timestamp": timestamp, "message": text},
            },
        },
    }


def post_signal(client: TestClient, payload: dict[str, Any]) -> int:
    return client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}",
                       content=json.dumps(payload).encode()).status_code


def agent_in(client: TestClient, role: str, helpline_id: str, alias: str,
             partner: str | None = None) -> Any:
    """A real account of `helpline_id` (through the accounts service) with a
    real server-side session, as tests/console/conv_helpers.make_agent."""
    from helpline.console import accounts, sessions
    from helpline.store.models import User
    from tests.console.conv_helpers import Agent

    app: Any = client.app
    services = services_of(app)
    user, _secret = accounts.create_user(
        services, f"u-{alias.lower()}", role, "correct horse battery staple", alias=alias,
        partner_id=partner, helpline_id=helpline_id)
    with services.db.session() as session:
        row = session.get(User, user.id)
        assert row is not None
        token = sessions.start_session(services, session, row, services.now())
    return Agent(client=client, token=token, csrf=sessions.csrf_token_for(services, token),
                 cookie=sessions.cookie_name(services.settings), user_id=user.id, alias=alias)
