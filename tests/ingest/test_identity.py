"""One person, one texter: whichever identifiers a delivery shows (a WhatsApp phone
number, a business-scoped user id (BSUID), a parent BSUID; a Signal UUID and number),
the person keeps one conversation, one pseudonym and one welcome, and erasure removes
every blind-index value they were ever seen with.

Payload shapes: Meta's business-scoped user id reference (contacts[].user_id,
messages[].from_user_id / from_parent_user_id, profile.username), as in
tests/fixtures/whatsapp/text__bsuid_only.json."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import SQLModel, func

from helpline.lifecycle.retention import erase_texter
from helpline.services import Services
from helpline.store.models import Conversation, Message, Texter, TexterIdentifier
from tests.conftest import FAKE_NUMBER, SIGNAL_TOKEN, post_whatsapp, wa_text_payload
from tests.ingest.test_intake import SIGNAL_UUID, signal_line

BSUID = "NL.10000000000000000077"
PARENT = "NL.ENT.10000000000000000078"
USERNAME = "@tulpje_fake"


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def count(app: FastAPI, model: Any) -> int:
    with services_of(app).db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one()[0])


def delivery(
    text: str,
    message_id: str,
    *,
    phone: str | None = None,
    bsuid: str | None = None,
    parent: str | None = None,
    username: str | None = None,
) -> dict[str, Any]:
    """A text message shaped like Meta's, with exactly the identifiers given."""
    payload = wa_text_payload(text, message_id=message_id)
    value = payload["entry"][0]["changes"][0]["value"]
    contact: dict[str, Any] = {"profile": {"name": "Jane Doe"}}
    message = value["messages"][0]
    del message["from"]
    if phone:
        contact["wa_id"] = phone
        message["from"] = phone
    if bsuid:
        contact["user_id"] = bsuid
        message["from_user_id"] = bsuid
    if parent:
        contact["parent_user_id"] = parent
        message["from_parent_user_id"] = parent
    if username:
        contact["profile"]["username"] = username
    value["contacts"] = [contact]
    return copy.deepcopy(payload)


def reply_address(app: FastAPI) -> str:
    services = services_of(app)
    with services.db.session() as s:
        texter = s.exec(select(Texter)).one()[0]
        key = services.vault.key(s, texter.data_key_id)
        return services.vault.open(key, texter.reply_address, "texters", "reply_address",
                                   texter.id)


def pseudonyms(app: FastAPI) -> set[str]:
    with services_of(app).db.session() as s:
        return {row[0] for row in s.exec(select(Texter.pseudonym)).all()}


def every_stored_text(app: FastAPI) -> str:
    """Every string and blob column of every table, as one text to search."""
    out: list[str] = []
    with services_of(app).db.session() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in s.connection().execute(select(table)):
                out.extend(str(v) for v in row)
    return "\n".join(out)


def test_one_person_through_phone_bsuid_and_username_is_one_texter(
    app: FastAPI, client: TestClient
) -> None:
    steps = [
        delivery("alleen nummer", "wamid.ID1", phone=FAKE_NUMBER),
        delivery("nummer en bsuid", "wamid.ID2", phone=FAKE_NUMBER, bsuid=BSUID),
        delivery("alleen bsuid", "wamid.ID3", bsuid=BSUID),
        delivery("gebruikersnaam", "wamid.ID4", bsuid=BSUID, parent=PARENT, username=USERNAME),
        delivery("ouder-id alleen", "wamid.ID5", parent=PARENT),
    ]
    seen: set[str] = set()
    for step in steps:
        assert post_whatsapp(client, step).status_code == 200
        seen |= pseudonyms(app)
    assert count(app, Texter) == 1
    assert count(app, Conversation) == 1
    assert len(seen) == 1, "the pseudonym changed along the way"
    with services_of(app).db.session() as s:
        inbound = s.exec(select(func.count()).select_from(Message)
                         .where(Message.direction == "in")).one()[0]
        outbound = s.exec(select(func.count()).select_from(Message)
                          .where(Message.direction == "out")).one()[0]
    assert inbound == 5
    assert outbound == 1, "one welcome, not one per identifier"
    # The phone number is primary; the BSUID and parent BSUID were linked.
    assert count(app, TexterIdentifier) == 2
    # The reply address follows the latest delivery: the parent BSUID alone now.
    assert reply_address(app) == PARENT
    stored = every_stored_text(app)
    for identifier in (FAKE_NUMBER, BSUID, PARENT, USERNAME, "tulpje_fake"):
        assert identifier not in stored


def test_erasure_removes_every_identifier_the_person_was_seen_with(
    app: FastAPI, client: TestClient
) -> None:
    post_whatsapp(client, delivery("een", "wamid.E1", phone=FAKE_NUMBER, bsuid=BSUID,
                                   parent=PARENT))
    before = pseudonyms(app)
    services = services_of(app)
    with services.db.session() as s:
        texter = s.exec(select(Texter)).one()[0]
        erase_texter(services, s, texter, services.now())
    assert count(app, Texter) == 0
    assert count(app, TexterIdentifier) == 0
    # Whichever identifier comes back next is a stranger again: a new texter,
    # a new pseudonym and a new welcome.
    post_whatsapp(client, delivery("weer terug", "wamid.E2", bsuid=BSUID))
    assert count(app, Texter) == 1
    assert pseudonyms(app).isdisjoint(before)
    assert count(app, TexterIdentifier) == 0


def test_bsuid_first_then_phone_is_still_one_texter(app: FastAPI, client: TestClient) -> None:
    post_whatsapp(client, delivery("bsuid eerst", "wamid.B1", bsuid=BSUID))
    post_whatsapp(client, delivery("nu met nummer", "wamid.B2", phone=FAKE_NUMBER, bsuid=BSUID))
    post_whatsapp(client, delivery("alleen nummer", "wamid.B3", phone=FAKE_NUMBER))
    assert count(app, Texter) == 1
    assert count(app, Conversation) == 1
    # A phone number shown again is the address again (sent as `to`).
    assert reply_address(app) == FAKE_NUMBER


def test_two_texters_made_apart_are_not_merged_on_a_later_joint_delivery(
    app: FastAPI, client: TestClient
) -> None:
    # Seen separately before they were ever seen together: merging on a guess
    # could show one person's words to another, so both stay as they are.
    post_whatsapp(client, delivery("nummer", "wamid.S1", phone=FAKE_NUMBER))
    post_whatsapp(client, delivery("bsuid", "wamid.S2", bsuid=BSUID))
    post_whatsapp(client, delivery("samen", "wamid.S3", phone=FAKE_NUMBER, bsuid=BSUID))
    assert count(app, Texter) == 2
    assert count(app, TexterIdentifier) == 0


def test_signal_uuid_and_visible_number_are_one_texter(app: FastAPI, client: TestClient) -> None:
    number = "+" + FAKE_NUMBER

    def envelope(ts: int, *, uuid: bool, phone: bool) -> dict[str, Any]:
        env: dict[str, Any] = {"timestamp": ts, "sourceDevice": 1,
                               "dataMessage": {"timestamp": ts, "message": f"bericht {ts}"}}
        if uuid:
            env["sourceUuid"] = SIGNAL_UUID
        if phone:
            env["sourceNumber"] = number
        env["source"] = SIGNAL_UUID if uuid else number
        return env

    for ts, uuid, phone in ((1700000001000, False, True), (1700000002000, True, True),
                            (1700000003000, True, False)):
        response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}",
                               json=signal_line(envelope(ts, uuid=uuid, phone=phone)))
        assert response.status_code == 200
    assert count(app, Texter) == 1
    assert count(app, Conversation) == 1
    assert count(app, TexterIdentifier) == 1

