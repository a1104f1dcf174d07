"""The receive pipeline through the real app: webhook → intake → outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from helpline.channels.base import InboundMessage
from helpline.services import Services
from helpline.store.models import Conversation, DedupKey, Message, OutboxItem, Texter
from tests.conftest import (
    FAKE_NUMBER,
    SIGNAL_TOKEN,
    WHATSAPP_VERIFY,
    post_whatsapp,
    sign,
    wa_text_payload,
)


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def count(app: FastAPI, model: Any, *where: Any) -> int:
    with services_of(app).db.session() as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def at_once(n: int, work: Callable[[int], None]) -> None:
    """Run work(0) .. work(n-1) in n threads started together."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def decrypted_bodies(app: FastAPI, direction: str) -> list[str]:
    services = services_of(app)
    with services.db.session() as s:
        out = []
        for m in s.exec(select(Message).where(Message.direction == direction)).all():
            key = services.vault.key(s, s.get(Texter, m.texter_id).data_key_id)  # type: ignore[union-attr]
            out.append(services.vault.open(key, m.body, "messages", "body", m.id) if m.body else "")
        return out


def test_handshake_returns_challenge_as_plain_text(client: TestClient) -> None:
    r = client.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": WHATSAPP_VERIFY,
            "hub.challenge": "1158201444",
        },
    )
    assert r.status_code == 200
    assert r.text == "1158201444"
    assert r.headers["content-type"].startswith("text/plain")


def test_handshake_with_wrong_token_is_403(client: TestClient) -> None:
    r = client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert r.status_code == 403


def test_text_message_is_stored_encrypted_with_a_welcome_in_the_outbox(
    app: FastAPI, client: TestClient
) -> None:
    r = post_whatsapp(client, wa_text_payload("Hallo, ik heb een vraag"))
    assert r.status_code == 200
    assert decrypted_bodies(app, "in") == ["Hallo, ik heb een vraag"]
    assert count(app, Conversation) == 1
    assert count(app, OutboxItem, OutboxItem.state == "pending") == 1
    welcome = decrypted_bodies(app, "out")
    assert len(welcome) == 1
    assert welcome[0]
    with services_of(app).db.session() as s:
        texter = s.exec(select(Texter)).one()
        assert FAKE_NUMBER not in texter.blind_index
        assert "-" in texter.pseudonym


def test_post_with_two_messages_and_a_status_stores_both(app: FastAPI, client: TestClient) -> None:
    payload = wa_text_payload("eerste", message_id="wamid.A")
    value = payload["entry"][0]["changes"][0]["value"]
    second = dict(value["messages"][0], id="wamid.B", text={"body": "tweede"})
    value["messages"].append(second)
    value["statuses"] = [
        {
            "id": "wamid.UNKNOWN",
            "status": "delivered",
            "timestamp": "1764072001",
            "recipient_id": FAKE_NUMBER,
        }
    ]
    assert post_whatsapp(client, payload).status_code == 200
    assert sorted(decrypted_bodies(app, "in")) == ["eerste", "tweede"]
    assert count(app, Conversation) == 1
    assert count(app, OutboxItem) == 1  # one welcome for one new texter


def test_same_message_id_ten_times_five_at_once_is_stored_once(
    app: FastAPI, client: TestClient
) -> None:
    body = json.dumps(wa_text_payload("dubbel", message_id="wamid.DUP")).encode()
    headers = {"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"}
    statuses: list[int] = []

    def deliver() -> None:
        statuses.append(
            client.post("/webhooks/whatsapp", content=body, headers=headers).status_code
        )

    at_once(5, lambda _n: deliver())
    for _ in range(5):
        deliver()
    assert statuses == [200] * 10
    assert count(app, Message, Message.direction == "in") == 1
    assert count(app, OutboxItem) == 1
    assert count(app, DedupKey) == 1


def test_unsigned_or_wrongly_signed_posts_get_401_and_store_nothing(
    app: FastAPI, client: TestClient
) -> None:
    body = json.dumps(wa_text_payload("x")).encode()
    assert client.post("/webhooks/whatsapp", content=body).status_code == 401
    bad = {"X-Hub-Signature-256": sign(body, "wrong-secret")}
    assert client.post("/webhooks/whatsapp", content=body, headers=bad).status_code == 401
    tampered = {"X-Hub-Signature-256": sign(body)}
    assert (
        client.post("/webhooks/whatsapp", content=body + b" ", headers=tampered).status_code == 401
    )
    assert count(app, Message) == 0
    assert count(app, DedupKey) == 0


def test_four_megabyte_body_gets_413(app: FastAPI, client: TestClient) -> None:
    body = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    r = client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert r.status_code == 413
    assert count(app, Message) == 0


def test_authentic_but_malformed_body_gets_200_and_is_ignored(
    app: FastAPI, client: TestClient
) -> None:
    for body in (b"not json", b"[]", b'{"object": "page"}', b'{"entry": "x"}'):
        assert post_whatsapp(client, body).status_code == 200
    assert count(app, Message) == 0


def test_text_with_emoji_rtl_and_nul_round_trips(app: FastAPI, client: TestClient) -> None:
    text = "Hoi 👩🏽‍🦱 \u202eؤمن\u202c zero\u200bwidth \x00 end"
    assert post_whatsapp(client, wa_text_payload(text)).status_code == 200
    assert decrypted_bodies(app, "in") == [text]


def test_known_texter_gets_no_second_welcome(app: FastAPI, client: TestClient) -> None:
    post_whatsapp(client, wa_text_payload("een", message_id="wamid.1"))
    post_whatsapp(client, wa_text_payload("twee", message_id="wamid.2"))
    assert count(app, Texter) == 1
    assert count(app, Conversation) == 1
    assert count(app, Message, Message.direction == "out") == 1


def test_same_number_in_another_form_is_the_same_texter(app: FastAPI, client: TestClient) -> None:
    post_whatsapp(client, wa_text_payload("een", message_id="wamid.1", wa_id="31612345678"))
    post_whatsapp(client, wa_text_payload("twee", message_id="wamid.2", wa_id="+31612345678"))
    assert count(app, Texter) == 1


def test_database_down_answers_503(app: FastAPI, client: TestClient, tmp_path: Path) -> None:
    services = services_of(app)
    inbox = app.state.inbox
    original = services.db
    from helpline.store.db import Database

    services.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    inbox_file = inbox.own_db.url.removeprefix("sqlite:///") if inbox.own_db else None
    if inbox_file is not None:
        # SQLite: the inbox file cannot be opened (here: a directory took its place).
        inbox.dispose()
        for leftover in Path(inbox_file).parent.glob(Path(inbox_file).name + "*"):
            leftover.unlink()
        Path(inbox_file).mkdir()
    try:
        r = post_whatsapp(client, wa_text_payload("later"))
        assert r.status_code == 503
        assert r.headers.get("retry-after")
    finally:
        services.db = original
        if inbox_file is not None:
            Path(inbox_file).rmdir()
    assert count(app, Message) == 0


def test_signal_webhook_requires_the_token(app: FastAPI, client: TestClient) -> None:
    assert client.post("/webhooks/signal", content=b"{}").status_code == 401
    assert client.post("/webhooks/signal?token=wrong", content=b"{}").status_code == 401
    assert client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", content=b"{}").status_code == 200


def signal_line(envelope: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "receive",
        "params": {"envelope": envelope, "account": "+31600000099"},
    }


SIGNAL_UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def test_signal_message_is_stored_and_sync_message_is_not(app: FastAPI, client: TestClient) -> None:
    data = signal_line(
        {
            "source": SIGNAL_UUID,
            "sourceNumber": None,
            "sourceUuid": SIGNAL_UUID,
            "sourceName": "Jane Doe",
            "sourceDevice": 1,
            "timestamp": 1764072000000,
            "dataMessage": {
                "timestamp": 1764072000000,
                "message": "hoi via signal",
                "expiresInSeconds": 0,
                "viewOnce": False,
            },
        }
    )
    sync = signal_line(
        {
            "source": "+31600000099",
            "sourceNumber": "+31600000099",
            "sourceUuid": "11111111-2222-4333-8444-555555555555",
            "sourceName": "Helpline",
            "sourceDevice": 2,
            "timestamp": 1764072000001,
            "syncMessage": {
                "sentMessage": {
                    "destination": "+31600000001",
                    "timestamp": 1764072000001,
                    "message": "loop",
                }
            },
        }
    )
    url = f"/webhooks/signal?token={SIGNAL_TOKEN}"
    assert client.post(url, content=json.dumps(sync)).status_code == 200
    assert count(app, Message) == 0
    assert count(app, OutboxItem) == 0
    assert client.post(url, content=json.dumps(data)).status_code == 200
    assert decrypted_bodies(app, "in") == ["hoi via signal"]


def test_two_new_texters_drawing_the_same_pseudonym_at_once_both_get_stored(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helpline.ingest.texters
    from helpline.ingest.pseudonyms import new_pseudonym

    draws = iter(["Tulp-11", "Tulp-11"])
    monkeypatch.setattr(helpline.ingest.texters, "new_pseudonym",
                        lambda digits=2: next(draws, None) or new_pseudonym(digits))
    statuses: list[int] = []

    def deliver(n: int) -> None:
        payload = wa_text_payload("hoi", message_id=f"wamid.P{n}", wa_id=f"3160000000{n}")
        statuses.append(post_whatsapp(client, payload).status_code)

    at_once(2, deliver)
    assert statuses == [200, 200]
    with services_of(app).db.session() as s:
        pseudonyms = [t.pseudonym for t in s.exec(select(Texter)).all()]
    assert len(pseudonyms) == 2
    assert len(set(pseudonyms)) == 2


def test_concurrent_deliveries_of_one_texter_store_each_message_once(
    app: FastAPI, client: TestClient
) -> None:
    """On SQLite intake runs on the event loop, on PostgreSQL in threads that
    lock the texter's row; either way, concurrent messages and redeliveries of
    one texter give one texter, one conversation, each message once and one
    welcome."""
    statuses: list[int] = []

    def deliver(n: int) -> None:
        payload = wa_text_payload(f"bericht {n % 6}", message_id=f"wamid.C{n % 6}")
        statuses.append(post_whatsapp(client, payload).status_code)

    at_once(12, deliver)
    assert statuses == [200] * 12
    assert count(app, Texter) == 1
    assert count(app, Conversation) == 1
    assert sorted(decrypted_bodies(app, "in")) == [f"bericht {n}" for n in range(6)]
    assert count(app, OutboxItem) == 1


def test_two_batches_holding_the_same_texters_in_opposite_orders_both_commit(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processors' batches: one has texters A then B, the other B then A.
    Each waits, once it has read its texters, until the other has read its
    own (or 3 s). Locking texters as messages come, that is a deadlock and
    PostgreSQL aborts one batch; locked up front in one order, the second
    batch waits for the first and both commit."""
    services = services_of(app)
    if services.db.is_sqlite:
        pytest.skip("SQLite: one writer at a time")
    import helpline.ingest.batch_store
    from helpline.channels.base import ChannelName, MessageKind

    senders = ["31600000071", "31600000072"]
    for n, sender in enumerate(senders):  # known texters, rows to lock
        post_whatsapp(client, wa_text_payload("eerst", message_id=f"wamid.D{n}", wa_id=sender))
    both_started = threading.Barrier(2, timeout=3)
    real = helpline.ingest.batch_store.load

    def load(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_started.wait()
        return found

    monkeypatch.setattr(helpline.ingest.batch_store, "load", load)

    def message(sender: str, mid: str) -> InboundMessage:
        return InboundMessage(channel=ChannelName.WHATSAPP, provider_message_id=mid,
                              sender=sender, reply_to=sender, kind=MessageKind.TEXT,
                              text="tweede", sent_at=services.now())

    errors: list[BaseException] = []

    def batch(n: int) -> None:
        order = senders if n == 0 else senders[::-1]
        try:
            helpline.ingest.intake.receive_many(services, [
                ("whatsapp", [message(sender, f"wamid.E{n}{sender}")]) for sender in order])
        except Exception as exc:  # noqa: BLE001 - the assertion reports it
            errors.append(exc)

    at_once(2, batch)
    assert errors == []
    assert count(app, Message, Message.direction == "in") == 6


def test_sender_hanging_up_mid_body_gets_a_client_error_and_nothing_is_stored(
    app: FastAPI,
) -> None:
    body = json.dumps(wa_text_payload("half")).encode()
    sent: list[dict[str, Any]] = []
    messages = iter([
        {"type": "http.request", "body": body[:40], "more_body": True},
        {"type": "http.disconnect"},
    ])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/webhooks/whatsapp", "raw_path": b"/webhooks/whatsapp",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80), "state": {},
        "headers": [(b"x-hub-signature-256", sign(body).encode()),
                    (b"content-type", b"application/json")],
    }
    with TestClient(app):
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert count(app, Message) == 0
