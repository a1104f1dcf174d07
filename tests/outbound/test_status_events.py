"""Delivery status events name their conversation's queue, so a partner's
view (and a volunteer's, without a query per stream) updates live."""

from __future__ import annotations

import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.live.bus import LiveEvent
from helpline.store.models import Conversation
from tests.conftest import post_whatsapp, wa_text_payload
from tests.outbound.test_outbox import SEND_URL, graph_ok, run_once, services_of, status_payload


def published(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[LiveEvent]:
    bus = services_of(app).bus
    seen: list[LiveEvent] = []
    real = bus.publish

    def spy(event: LiveEvent) -> None:
        seen.append(event)
        real(event)

    monkeypatch.setattr(bus, "publish", spy)
    return seen


@respx.mock
@pytest.mark.parametrize("queue", ["peer", "ggd"])
def test_status_events_carry_the_conversations_queue(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch, queue: str
) -> None:
    respx.post(SEND_URL).mock(return_value=graph_ok("wamid.OUTQ"))
    post_whatsapp(client, wa_text_payload("hoi"))
    services = services_of(app)
    with services.db.session() as session:
        conversation = session.exec(select(Conversation)).one()
        # As after an accepted referral to the GGD (the referral flow itself
        # is tested in tests/console/test_conversations_referrals.py).
        conversation.queue = queue
        session.add(conversation)
    events = published(app, monkeypatch)
    assert run_once(app) == 1
    post_whatsapp(client, status_payload("wamid.OUTQ", "delivered"))
    post_whatsapp(client, status_payload("wamid.OUTQ", "failed",
                                         errors=[{"code": 131026, "title": "undeliverable"}]))
    statuses = [e for e in events if e.kind == "status"]
    assert [e.state for e in statuses] == ["sent", "delivered", "failed"]
    assert {e.queue for e in statuses} == {queue}
    assert all(e.conversation == conversation.id for e in statuses)
