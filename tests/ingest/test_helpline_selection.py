"""Issue 17 part 2: the number a delivery was sent to picks the helpline.

WhatsApp: `entry[].changes[].value.metadata.phone_number_id`; Signal: the
envelope's `account`. Replies leave from that helpline's number. A delivery
for a number no helpline has is answered 200, dropped, and logged
`intake.ignored reason=foreign-number` (or `foreign-account` for a Signal
account on the bridge that is not ours), never filed under a guess."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.helplines import RELOAD_INTERVAL
from helpline.outbound import outbox
from helpline.store.models import Conversation, DataKey, Message, Texter
from tests.conftest import FAKE_NUMBER, GRAPH, SIGNAL_API
from tests.two_helplines import (
    TILBURG_SIGNAL,
    ZEELAND_SIGNAL,
    ZEELAND_WA,
    add_zeeland,
    post_signal,
    post_wa,
    services_of,
    signal_to,
    wa_to,
)


def texters(app: FastAPI) -> list[Texter]:
    with services_of(app).db.session() as session:
        return list(session.exec(select(Texter)).all())


def ignored(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [getattr(r, "fields", {}) for r in caplog.records
            if r.getMessage() == "intake.ignored"]


def graph_ok(message_id: str) -> httpx.Response:
    return httpx.Response(200, json={"messaging_product": "whatsapp",
                                     "contacts": [{"input": FAKE_NUMBER, "wa_id": FAKE_NUMBER}],
                                     "messages": [{"id": message_id}]})


@respx.mock
def test_a_whatsapp_message_to_zeelands_number_is_zeelands_and_answered_from_it(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = add_zeeland(app)
    zeeland_send = respx.post(f"{GRAPH}/{ZEELAND_WA}/messages").mock(
        return_value=graph_ok("wamid.Z1"))
    tilburg_send = respx.post(f"{GRAPH}/1000000001/messages").mock(
        return_value=graph_ok("wamid.T1"))
    assert post_wa(client, wa_to(ZEELAND_WA, "hoi zeeland", message_id="wamid.IN1")) == 200
    [texter] = texters(app)
    assert texter.helpline_id == zeeland
    with services_of(app).db.session() as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.helpline_id == zeeland
    asyncio.run(outbox.run_once(services_of(app)))
    assert zeeland_send.called
    assert not tilburg_send.called
    assert json.loads(zeeland_send.calls.last.request.content)["to"] == FAKE_NUMBER


def test_one_number_writing_to_two_helplines_is_two_unrelated_texters(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = add_zeeland(app)
    assert post_wa(client, wa_to("1000000001", "hoi tilburg", message_id="wamid.A")) == 200
    assert post_wa(client, wa_to(ZEELAND_WA, "hoi zeeland", message_id="wamid.B")) == 200
    found = {t.helpline_id: t for t in texters(app)}
    assert set(found) == {"default", zeeland}
    tilburg, zee = found["default"], found[zeeland]
    assert tilburg.blind_index != zee.blind_index
    assert tilburg.pseudonym != zee.pseudonym
    assert tilburg.data_key_id != zee.data_key_id
    with services_of(app).db.session() as session:
        keys = {k.id: k.wrapped for k in session.exec(select(DataKey)).all()}
        convs = {c.texter_id: c.id for c in session.exec(select(Conversation)).all()}
        by_conv = {m.conversation_id for m in session.exec(select(Message)).all()}
    assert keys[tilburg.data_key_id] != keys[zee.data_key_id]
    assert len(convs) == 2
    assert by_conv == set(convs.values())
    # Zeeland's blind index is not the installation's: a copy of Tilburg's
    # rows and index key cannot be used to test a number against Zeeland's.
    services = services_of(app)
    assert services.index.compute("whatsapp", FAKE_NUMBER) == tilburg.blind_index
    assert services.helpline(zeeland).index.compute("whatsapp", FAKE_NUMBER) == zee.blind_index
    # Writing again finds each helpline's own texter, nothing new.
    assert post_wa(client, wa_to(ZEELAND_WA, "nog eens", message_id="wamid.C")) == 200
    assert len(texters(app)) == 2


@pytest.mark.parametrize("number_id", ["3000000003", None])
def test_a_whatsapp_message_for_no_helplines_number_is_dropped_with_a_log_line(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture, number_id: str | None
) -> None:
    add_zeeland(app)
    with caplog.at_level(logging.INFO, logger="helpline"):
        assert post_wa(client, wa_to(number_id, "voor wie?", message_id="wamid.X")) == 200
    assert texters(app) == []
    assert [line.get("reason") for line in ignored(caplog)] == ["foreign-number"]


def test_with_one_helpline_every_authentic_delivery_is_its_own(
    app: FastAPI, client: TestClient
) -> None:
    # As before helplines existed (the doctor reports a mismatching number).
    assert post_wa(client, wa_to("3000000003", "hoi", message_id="wamid.ONE")) == 200
    assert [t.helpline_id for t in texters(app)] == ["default"]


@respx.mock
def test_a_signal_message_to_zeelands_account_is_zeelands_and_answered_from_it(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = add_zeeland(app)
    send = respx.post(f"{SIGNAL_API}/v2/send").mock(
        return_value=httpx.Response(201, json={"timestamp": "1764072000500"}))
    assert post_signal(client, signal_to(ZEELAND_SIGNAL, "hoi")) == 200
    assert post_signal(client, signal_to(TILBURG_SIGNAL, "hoi", timestamp=1764072001000)) == 200
    assert sorted(t.helpline_id for t in texters(app)) == sorted(["default", zeeland])
    asyncio.run(outbox.run_once(services_of(app)))
    senders = sorted(json.loads(c.request.content)["number"] for c in send.calls)
    assert senders == sorted([TILBURG_SIGNAL, ZEELAND_SIGNAL])


def test_a_signal_message_for_another_account_on_the_bridge_is_dropped(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    add_zeeland(app)
    with caplog.at_level(logging.INFO, logger="helpline"):
        assert post_signal(client, signal_to("+31600000055", "hoi")) == 200
    assert texters(app) == []
    assert [line.get("reason") for line in ignored(caplog)] == ["foreign-account"]


def test_a_helpline_added_by_another_process_is_found_without_a_restart(
    app: FastAPI, client: TestClient
) -> None:
    from helpline.ops.helplines import HelplineSpec, add_helpline
    from helpline.services import build_services

    # Another process (`helpline helpline add`) with its own directory.
    other = build_services(services_of(app).settings)
    zeeland = add_helpline(other, HelplineSpec(slug="zeeland", name="Zeeland",
                                               whatsapp_phone_number_id=ZEELAND_WA)).id
    other.db.dispose()
    # An unknown number reloads the directory at most once per interval;
    # pretend that much time has passed since the app loaded it.
    services_of(app).helplines._loaded_at -= RELOAD_INTERVAL  # noqa: SLF001
    assert post_wa(client, wa_to(ZEELAND_WA, "hoi", message_id="wamid.NEW")) == 200
    assert [t.helpline_id for t in texters(app)] == [zeeland]
