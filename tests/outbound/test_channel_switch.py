"""Switch to Signal (issue 18, part 2) end to end: a WhatsApp texter writes
SIGNAL, gets the helpline's Signal number, a signal.me link and a code through
the (faked) Graph API; the code sent from Signal through the signal-cli-rest-api
webhook moves the conversation, once. Afterwards the WhatsApp number is nowhere:
not in clear, not as a blind index, not as a reply address. Wrong, reused and
expired codes are refused and move nothing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import SQLModel, select

from helpline.config import Settings
from helpline.main import create_app
from helpline.outbound import outbox
from helpline.services import Services
from helpline.store.models import (
    Conversation,
    Message,
    Note,
    Referral,
    SwitchCode,
    Texter,
    TexterIdentifier,
)
from tests.conftest import (
    FAKE_NUMBER,
    GRAPH,
    SIGNAL_API,
    SIGNAL_TOKEN,
    FakeClock,
    leaks,
    post_whatsapp,
    wa_text_payload,
)
from tests.console.conv_helpers import make_agent

SEND_URL = f"{GRAPH}/1000000001/messages"
SIGNAL_UUID = "7c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
OTHER_UUID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


class Platforms:
    """respx fakes of the Graph API and signal-cli-rest-api's send, recording
    what the helpline sent where."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.graph = router.post(SEND_URL).mock(side_effect=self._graph)
        self.signal = router.post(f"{SIGNAL_API}/v2/send").respond(
            201, json={"timestamp": "1764072000500"})
        self._n = 0

    def _graph(self, request: httpx.Request) -> httpx.Response:
        self._n += 1
        return httpx.Response(200, json={"messaging_product": "whatsapp",
                                         "contacts": [{"input": FAKE_NUMBER, "wa_id": FAKE_NUMBER}],
                                         "messages": [{"id": f"wamid.OUT{self._n}"}]})

    def whatsapp_texts(self) -> list[str]:
        return [json.loads(c.request.content).get("text", {}).get("body", "")
                for c in self.graph.calls]

    def signal_sends(self) -> list[dict[str, Any]]:
        return [json.loads(c.request.content) for c in self.signal.calls]


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    with respx.mock(assert_all_called=False) as router:
        yield Platforms(router)


_wa_counter = iter(range(1, 10_000))


def whatsapp(client: TestClient, text: str, wa_id: str = FAKE_NUMBER) -> None:
    payload = wa_text_payload(text, wa_id=wa_id, message_id=f"wamid.SW{next(_wa_counter)}")
    assert post_whatsapp(client, payload).status_code == 200
    client.app.state.services.clock.advance(seconds=1)  # type: ignore[attr-defined]


def signal(client: TestClient, text: str, uuid: str = SIGNAL_UUID) -> None:
    clock = client.app.state.services.clock  # type: ignore[attr-defined]
    ts = int(clock.now.timestamp() * 1000)
    envelope = {"source": uuid, "sourceNumber": None, "sourceUuid": uuid,
                "sourceName": "Jane Doe", "sourceDevice": 1, "timestamp": ts,
                "dataMessage": {"timestamp": ts, "message": text, "expiresInSeconds": 0}}
    body = {"jsonrpc": "2.0", "method": "receive",
            "params": {"envelope": envelope, "account": "+31600000099"}}
    assert client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=body).status_code == 200
    clock.advance(seconds=1)


def send_all(app: FastAPI) -> None:
    while asyncio.run(outbox.run_once(services_of(app))):
        pass


def offered_code(platforms: Platforms) -> str:
    offer = platforms.whatsapp_texts()[-1]
    match = re.search(r"SIGNAL ([2-9A-Z]{4}-[2-9A-Z]{4})", offer)
    assert match, offer
    return match.group(1)


def count(app: FastAPI, model: type[SQLModel]) -> int:
    with services_of(app).db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def every_stored_value(app: FastAPI) -> bytes:
    out: list[bytes] = []
    with services_of(app).db.session() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in s.connection().execute(select(table)):
                out.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"\n".join(out)


# ---------------------------------------------------------------- the move


def test_a_whatsapp_conversation_moves_to_signal_once_and_the_number_is_gone(
    app: FastAPI, client: TestClient, platforms: Platforms
) -> None:
    services = services_of(app)
    whatsapp(client, "Hallo, ik heb een vraag over een klant")
    whatsapp(client, "TAAL english")
    whatsapp(client, "GGD")
    whatsapp(client, "JA")
    gera = make_agent(client, "partner", alias="Gera", partner="ggd")
    with services.db.session() as s:
        before = s.exec(select(Texter)).one()
        pseudonym, texter_id = before.pseudonym, before.id
        conversation_id = s.exec(select(Conversation.id)).one()
    whatsapp(client, "SIGNAL")
    send_all(app)
    offer = platforms.whatsapp_texts()[-1]
    assert "+31600000099" in offer
    assert "https://signal.me/#p/+31600000099" in offer
    assert "24 hours" in offer  # in the texter's language, English
    code = offered_code(platforms)
    with services.db.session() as s:
        stored = s.exec(select(SwitchCode)).one()
    # Only a keyed hash of the code is kept, never the code.
    assert code.replace("-", "") not in stored.code_hash.upper()
    # Nor in clear anywhere: the offer message that carries it is sealed.
    assert code.encode() not in every_stored_value(app)
    assert code.replace("-", "").encode() not in every_stored_value(app)

    signal(client, f"SIGNAL {code}")
    send_all(app)
    # One texter, one conversation: the same pseudonym, language and referral.
    assert count(app, Texter) == 1
    assert count(app, Conversation) == 1
    assert count(app, SwitchCode) == 0
    with services.db.session() as s:
        texter = s.exec(select(Texter)).one()
        assert (texter.id, texter.pseudonym, texter.language, texter.channel) == (
            texter_id, pseudonym, "en", "signal")
        assert texter.blind_index == services.index.compute("signal", SIGNAL_UUID)
        key = services.vault.key(s, texter.data_key_id)
        assert services.vault.open(key, texter.reply_address, "texters", "reply_address",
                                   texter.id) == SIGNAL_UUID
        conversation = s.exec(select(Conversation)).one()
        assert (conversation.id, conversation.channel) == (conversation_id, "signal")
        referral = s.exec(select(Referral)).one()
        assert (referral.partner_id, referral.state) == ("ggd", "accepted")
        notes = [services.vault.open(key, n.body, "notes", "body", n.id)
                 for n in s.exec(select(Note)).all()]
        assert notes == ["Verhuisd van WhatsApp naar Signal / Moved from WhatsApp to Signal"]
        bodies = [services.vault.open(key, m.body, "messages", "body", m.id)
                  for m in s.exec(select(Message).order_by(Message.created_at)).all()  # type: ignore[arg-type]
                  if m.body is not None]
    assert "Hallo, ik heb een vraag over een klant" in bodies  # the history moved along
    assert f"SIGNAL {code}" in bodies
    # The confirmation went out on Signal, to the UUID, in English.
    sends = platforms.signal_sends()
    assert sends[-1]["recipients"] == [SIGNAL_UUID]
    assert sends[-1]["message"].startswith("Done: your conversation now continues on Signal")

    # The partner still sees one conversation, now on Signal, with the note.
    detail = gera.get(f"/api/conversations/{conversation_id}").json()
    assert detail["channel"] == "signal"
    assert [i["id"] for i in gera.get("/api/conversations?view=all").json()["items"]] == [
        conversation_id]

    # Privacy scan: the WhatsApp number is nowhere, in clear or as a blind index.
    stored_values = every_stored_value(app)
    assert leaks(stored_values) == []
    assert services.index.compute("whatsapp", FAKE_NUMBER).encode() not in stored_values
    assert count(app, TexterIdentifier) == 0

    # The code works once: from another Signal account it is refused.
    signal(client, f"SIGNAL {code}", uuid=OTHER_UUID)
    send_all(app)
    assert platforms.signal_sends()[-1]["message"].startswith("Deze code werkt niet")
    assert platforms.signal_sends()[-1]["recipients"] == [OTHER_UUID]
    with services.db.session() as s:
        moved = s.get(Texter, texter_id)
        assert moved is not None
        assert moved.blind_index == services.index.compute(
            "signal", SIGNAL_UUID)
    # A later WhatsApp message from the old number is a stranger: a new texter.
    whatsapp(client, "hallo?")
    assert count(app, Texter) == 3


def test_a_wrong_or_expired_code_moves_nothing(
    app: FastAPI, client: TestClient, clock: FakeClock, platforms: Platforms
) -> None:
    services = services_of(app)
    whatsapp(client, "SIGNAL")
    send_all(app)
    code = offered_code(platforms)
    with services.db.session() as s:
        wa_blind = s.exec(select(Texter.blind_index)).one()

    signal(client, "SIGNAL ZZZZ-2222")  # well formed, never issued
    send_all(app)
    refusal = platforms.signal_sends()[-1]["message"]
    assert "wrong, expired or already used" in refusal or "fout, verlopen of al gebruikt" in refusal
    assert count(app, SwitchCode) == 1  # the real code still works

    clock.advance(hours=24, seconds=1)
    signal(client, code, uuid=OTHER_UUID)  # the bare code counts too
    send_all(app)
    assert "fout, verlopen of al gebruikt" in platforms.signal_sends()[-1]["message"]
    assert count(app, SwitchCode) == 0  # an expired code is gone once tried
    with services.db.session() as s:
        wa_texter = s.exec(select(Texter).where(Texter.blind_index == wa_blind)).one()
        assert wa_texter.channel == "whatsapp"
        assert s.exec(select(func.count()).select_from(Conversation).where(
            Conversation.texter_id == wa_texter.id)).one() == 1


def test_a_new_code_replaces_the_old_one(
    app: FastAPI, client: TestClient, platforms: Platforms
) -> None:
    whatsapp(client, "SIGNAL")
    send_all(app)
    first = offered_code(platforms)
    whatsapp(client, "signal")
    send_all(app)
    second = offered_code(platforms)
    assert first != second
    assert count(app, SwitchCode) == 1
    signal(client, f"SIGNAL {first}")
    send_all(app)
    assert "fout, verlopen of al gebruikt" in platforms.signal_sends()[-1]["message"]


def test_a_known_signal_texter_cannot_take_a_whatsapp_conversation(
    app: FastAPI, client: TestClient, platforms: Platforms
) -> None:
    signal(client, "Hoi, ik schrijf al via Signal")
    whatsapp(client, "SIGNAL")
    send_all(app)
    code = offered_code(platforms)
    signal(client, f"SIGNAL {code}")
    send_all(app)
    assert "Je schrijft ons al via Signal" in platforms.signal_sends()[-1]["message"]
    assert count(app, SwitchCode) == 1
    assert count(app, Texter) == 2


def test_signal_on_signal_says_so(client: TestClient, platforms: Platforms) -> None:
    signal(client, "hoi")
    signal(client, "SIGNAL")
    send_all(client.app)  # type: ignore[arg-type]
    assert platforms.signal_sends()[-1]["message"] == (
        "Je schrijft ons al via Signal. Meer is niet nodig.")


def test_without_a_signal_number_the_offer_says_the_line_is_not_on_signal(
    settings_factory: Any, clock: FakeClock, platforms: Platforms, sqlite_template: Any
) -> None:
    from tests.conftest import PG_URL

    settings: Settings = settings_factory(signal_api_url=None, signal_number=None,
                                          signal_webhook_token=None)
    if not PG_URL:
        import shutil

        shutil.copyfile(sqlite_template, settings.database_url.removeprefix("sqlite:///"))
    else:
        from helpline.store.db import make_engine
        from helpline.store.migrate import upgrade

        engine = make_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
    app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as client:
        whatsapp(client, "SIGNAL")
        send_all(app)
        assert platforms.whatsapp_texts()[-1].startswith("Deze hulplijn is (nog) niet bereikbaar")
        assert count(app, SwitchCode) == 0


def test_an_erased_texter_leaves_no_code_behind(
    app: FastAPI, client: TestClient, platforms: Platforms
) -> None:
    whatsapp(client, "SIGNAL")
    send_all(app)
    code = offered_code(platforms)
    assert count(app, SwitchCode) == 1
    whatsapp(client, "WIS")
    whatsapp(client, "JA")
    assert count(app, SwitchCode) == 0
    assert count(app, Texter) == 0
    signal(client, f"SIGNAL {code}")
    send_all(app)
    assert "fout, verlopen of al gebruikt" in platforms.signal_sends()[-1]["message"]


def test_a_code_works_only_at_the_helpline_that_gave_it(
    app: FastAPI, client: TestClient, platforms: Platforms
) -> None:
    from tests.two_helplines import ZEELAND_SIGNAL, add_zeeland, post_signal, signal_to

    add_zeeland(app)
    whatsapp(client, "SIGNAL")  # to Tilburg (the default helpline's number)
    send_all(app)
    code = offered_code(platforms)
    assert "+31600000099" in platforms.whatsapp_texts()[-1]  # Tilburg's own Signal number

    clock = app.state.services.clock
    assert post_signal(client, signal_to(ZEELAND_SIGNAL, code, uuid=OTHER_UUID,
                                         timestamp=int(clock.now.timestamp() * 1000))) == 200
    send_all(app)
    services = services_of(app)
    with services.db.session() as s:
        tilburg = s.exec(select(Texter).where(Texter.channel == "whatsapp")).one()
        assert tilburg.helpline_id == "default"
        zeeland = s.exec(select(Texter).where(Texter.channel == "signal")).one()
        assert zeeland.helpline_id != "default"  # a Zeeland stranger, nothing moved
        assert s.exec(select(func.count()).select_from(Conversation).where(
            Conversation.texter_id == tilburg.id)).one() == 1
