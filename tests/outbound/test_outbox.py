"""The outbox worker against a faked Graph API and signal-cli-rest-api (respx)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.outbound import outbox
from helpline.services import Services
from helpline.store.models import Alert, ChannelPause, Message, OutboxItem
from tests.conftest import (
    FAKE_NUMBER,
    GRAPH,
    SIGNAL_API,
    SIGNAL_TOKEN,
    FakeClock,
    post_whatsapp,
    wa_text_payload,
)

SEND_URL = f"{GRAPH}/1000000001/messages"


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def run_once(app: FastAPI) -> int:
    return asyncio.run(outbox.run_once(services_of(app)))


def graph_ok(message_id: str = "wamid.OUT1") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": FAKE_NUMBER, "wa_id": FAKE_NUMBER}],
            "messages": [{"id": message_id}],
        },
    )


def outbound(app: FastAPI) -> list[Message]:
    with services_of(app).db.session() as s:
        return list(
            s.exec(
                select(Message).where(Message.direction == "out").order_by(Message.created_at)
            ).all()
        )


def items(app: FastAPI) -> list[OutboxItem]:
    with services_of(app).db.session() as s:
        return list(s.exec(select(OutboxItem)).all())


def status_payload(message_id: str, status: str, **extra: Any) -> dict[str, Any]:
    st: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": "1764072100",
        "recipient_id": FAKE_NUMBER,
    }
    st.update(extra)
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "1000000001",
                            },
                            "statuses": [st],
                        },
                    }
                ],
            }
        ],
    }


@respx.mock
def test_welcome_is_sent_to_the_texter_and_statuses_move_forward_only(
    app: FastAPI, client: TestClient
) -> None:
    route = respx.post(SEND_URL).mock(return_value=graph_ok())
    post_whatsapp(client, wa_text_payload("hoi"))
    assert run_once(app) == 1
    sent = json.loads(route.calls.last.request.content)
    assert sent["to"] == FAKE_NUMBER
    assert sent["messaging_product"] == "whatsapp"
    assert route.calls.last.request.headers["authorization"] == "Bearer test-access-token"
    assert outbound(app)[0].status == "sent"

    post_whatsapp(client, status_payload("wamid.OUT1", "read"))
    post_whatsapp(client, status_payload("wamid.OUT1", "delivered"))
    assert outbound(app)[0].status == "read"
    assert run_once(app) == 0


@respx.mock
def test_graph_500_then_200_delivers_once(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    route = respx.post(SEND_URL).mock(
        side_effect=[httpx.Response(500, json={"error": {"code": 1, "message": "x"}}), graph_ok()]
    )
    post_whatsapp(client, wa_text_payload("hoi"))
    assert run_once(app) == 1
    (item,) = items(app)
    assert item.state == "pending"
    assert item.attempts == 1
    assert run_once(app) == 0  # backoff: not yet
    clock.advance(minutes=20)
    assert run_once(app) == 1
    assert route.call_count == 2
    assert items(app)[0].state == "sent"
    assert outbound(app)[0].status == "sent"
    clock.advance(hours=1)
    assert run_once(app) == 0
    assert route.call_count == 2


@respx.mock
def test_after_the_last_try_the_message_is_failed_with_a_reason(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(503))
    post_whatsapp(client, wa_text_payload("hoi"))
    for _ in range(services_of(app).settings.send_max_attempts):
        run_once(app)
        clock.advance(hours=1)
    (message,) = outbound(app)
    assert message.status == "failed"
    assert message.error_reason
    assert message.error_reason.startswith("whatsapp")


@respx.mock
def test_failed_status_131047_holds_the_reply_and_sends_the_template(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    route = respx.post(SEND_URL).mock(
        side_effect=[graph_ok("wamid.OUT1"), graph_ok("wamid.T1"), graph_ok("wamid.OUT2")]
    )
    post_whatsapp(client, wa_text_payload("hoi", message_id="wamid.IN1"))
    run_once(app)
    post_whatsapp(
        client,
        status_payload(
            "wamid.OUT1",
            "failed",
            errors=[
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24 hours"},
                }
            ],
        ),
    )
    (message,) = outbound(app)
    assert message.status == "held"
    assert message.error_reason == "whatsapp:131047"
    run_once(app)
    template = json.loads(route.calls[1].request.content)
    assert template["type"] == "template"
    assert template["template"]["name"] == "helpline_reconnect"
    # The texter writes again: the held reply goes out.
    post_whatsapp(client, wa_text_payload("ik ben er", message_id="wamid.IN2"))
    run_once(app)
    assert route.call_count == 3
    assert outbound(app)[0].status == "sent"


@respx.mock
def test_reply_outside_the_24h_window_is_held(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    from helpline.outbound.conversations import queue_outbound
    from helpline.store.models import Conversation, Texter

    respx.post(SEND_URL).mock(return_value=graph_ok())
    post_whatsapp(client, wa_text_payload("hoi"))
    run_once(app)
    clock.advance(hours=25)
    services = services_of(app)
    with services.db.session() as s:
        texter = s.exec(select(Texter)).one()
        conversation = s.exec(select(Conversation)).one()
        key = services.vault.key(s, texter.data_key_id)
        msg = queue_outbound(
            services,
            s,
            texter=texter,
            conversation=conversation,
            text="laat antwoord",
            key=key,
            now=clock(),
            author_kind="user",
        )
        assert msg.status == "held"
    kinds = sorted((i.kind, i.state) for i in items(app))
    assert ("template", "pending") in kinds
    assert ("text", "held") in kinds


@respx.mock
def test_signal_captcha_pauses_sending_and_raises_an_alert(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    route = respx.post(f"{SIGNAL_API}/v2/send").mock(
        return_value=httpx.Response(
            400, json={"error": "Failed to send message: [proof required] ProofRequiredException"}
        )
    )
    line = {
        "jsonrpc": "2.0",
        "method": "receive",
        "params": {
            "account": "+31600000099",
            "envelope": {
                "source": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "sourceUuid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "sourceNumber": None,
                "sourceDevice": 1,
                "timestamp": 1764072000000,
                "dataMessage": {"timestamp": 1764072000000, "message": "hoi"},
            },
        },
    }
    client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", content=json.dumps(line))
    assert run_once(app) == 1
    services = services_of(app)
    with services.db.session() as s:
        pause = s.exec(select(ChannelPause)).one()
        assert (pause.helpline_id, pause.channel) == ("default", "signal")
        alert = s.exec(select(Alert)).one()
        assert (alert.helpline_id, alert.kind) == ("default", "signal:captcha_required")
    (item,) = items(app)
    assert item.state == "pending"
    assert item.attempts == 0
    clock.advance(seconds=30)
    assert run_once(app) == 0  # paused: no hot loop
    assert route.call_count == 1


def test_backoff_is_capped_and_jittered() -> None:
    import random

    rng = random.Random(1)
    delays = [outbox.backoff(a, rng) for a in range(1, 30)]
    assert all(d <= outbox.MAX_DELAY for d in delays)
    assert delays[0] <= outbox.BASE_DELAY
    assert max(delays) > outbox.MAX_DELAY / 2
    assert timedelta(seconds=delays[-1]) <= timedelta(minutes=15)
