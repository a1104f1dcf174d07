"""The inbox: a webhook's delivery is sealed and durable before the 200, then
processed in arrival order; nothing acknowledged is lost, nothing is stored
twice, whatever fails in between."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from helpline.channels.base import InboundMessage
from helpline.config import Settings
from helpline.errors import ServiceUnavailable
from helpline.ingest import inbox as inbox_module
from helpline.ingest import intake
from helpline.ingest.group_commit import GroupCommit
from helpline.ingest.inbox import INBOX, Inbox
from helpline.ingest.inbox_pg import listen_for_appends
from helpline.main import create_app
from helpline.store.models import DedupKey, Message
from tests.conftest import (
    FAKE_NAME,
    FAKE_NUMBER,
    FakeClock,
    leaks,
    post_whatsapp,
    sign,
    wa_text_payload,
)
from tests.ingest.test_intake import count, decrypted_bodies, services_of


def body(n: int, text: str | None = None, wa_id: str | None = None) -> bytes:
    return json.dumps(wa_text_payload(text or f"bericht {n}", message_id=f"wamid.IN{n}",
                                      wa_id=wa_id or f"3160000{n:04d}")).encode()


def inbox_of(app: FastAPI) -> Inbox:
    inbox: Inbox = app.state.inbox
    return inbox


def raw_rows(app: FastAPI) -> list[Any]:
    with inbox_of(app).db.engine.connect() as conn:
        return list(conn.execute(select(INBOX).order_by(INBOX.c.id)).all())


def post_unprocessed(client: TestClient, payload: bytes) -> int:
    client.unprocessed = True  # type: ignore[attr-defined]
    try:
        status: int = post_whatsapp(client, payload).status_code
    finally:
        client.unprocessed = False  # type: ignore[attr-defined]
    return status


def appends(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each append transaction."""
    sizes: list[int] = []
    real = inbox.append

    async def spy(deliveries: Any, pool: Any) -> None:
        sizes.append(len(deliveries))
        await real(deliveries, pool)

    monkeypatch.setattr(inbox, "append", spy)
    return sizes


def test_the_200_follows_a_sealed_durable_append_and_processing_follows(
    app: FastAPI, client: TestClient
) -> None:
    secret_text = "Inbox-geheim 7431: ik werk vanavond"
    payload = body(1, secret_text, wa_id=FAKE_NUMBER)
    assert FAKE_NAME.encode() in payload
    assert post_unprocessed(client, payload) == 200
    rows = raw_rows(app)
    assert len(rows) == 1
    assert count(app, Message) == 0
    # Sealed: neither the number, the profile name nor the text is in the row.
    raw = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in rows[0])
    assert not leaks(raw)
    assert secret_text.encode() not in raw
    inbox_of(app).drain()
    assert decrypted_bodies(app, "in") == [secret_text]
    assert raw_rows(app) == []


def arrive_together(app: FastAPI, monkeypatch: pytest.MonkeyPatch, count: int,
                    **limit: int) -> tuple[list[int], list[str]]:
    """`count` deliveries appended at once: the size of each transaction, and
    the deliveries' refs in arrival order."""
    inbox = inbox_of(app)
    group = GroupCommit(inbox, **limit)
    seen = appends(inbox, monkeypatch)
    sealed = [inbox.seal("whatsapp", body(n)) for n in range(count)]

    async def arrive() -> None:
        await asyncio.gather(*(group.append(delivery) for delivery in sealed))
        await group.aclose()

    asyncio.run(arrive())
    assert len(raw_rows(app)) == count
    return seen, [delivery.row[0] for delivery in sealed]


def test_deliveries_that_arrive_together_share_one_append_in_arrival_order(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes, refs = arrive_together(app, monkeypatch, 6)
    assert sizes == [6]
    assert [row.ref for row in raw_rows(app)] == refs


def test_appends_are_capped_per_transaction_and_the_rest_follows(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert arrive_together(app, monkeypatch, 10, limit=4)[0] == [4, 4, 2]


def test_an_inbox_that_cannot_store_fails_every_sender_of_the_batch(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = inbox_of(app)
    calls: list[int] = []

    async def down(deliveries: Any, pool: Any) -> None:
        calls.append(len(deliveries))
        raise ServiceUnavailable("database unavailable")

    monkeypatch.setattr(inbox, "append", down)
    group = GroupCommit(inbox)

    async def arrive() -> list[Any]:
        return await asyncio.gather(
            *(group.append(inbox.seal("whatsapp", body(n))) for n in range(3)),
            return_exceptions=True)

    # Every sender gets the 503 (the platform retries); no one-by-one retry
    # against a database that is down.
    assert all(isinstance(r, ServiceUnavailable) for r in asyncio.run(arrive()))
    assert calls == [3]


def test_a_sender_that_hangs_up_still_has_its_delivery_appended(app: FastAPI) -> None:
    inbox = inbox_of(app)
    group = GroupCommit(inbox)

    async def hang_up() -> None:
        waiting = asyncio.ensure_future(group.append(inbox.seal("whatsapp", body(5))))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.sleep(0.2)
        await group.aclose()

    asyncio.run(hang_up())
    inbox.drain()
    assert decrypted_bodies(app, "in") == ["bericht 5"]


def test_deliveries_waiting_together_are_processed_in_one_transaction(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    real = intake.receive_many

    def spy(services: Any, deliveries: Any, **kwargs: Any) -> Any:
        batches.append(len(deliveries))
        return real(services, deliveries, **kwargs)

    monkeypatch.setattr(intake, "receive_many", spy)
    for n in range(5):
        assert post_unprocessed(client, body(n, f"deel {n}", wa_id=FAKE_NUMBER)) == 200
    inbox_of(app).drain()
    assert batches == [5]
    assert sorted(decrypted_bodies(app, "in")) == [f"deel {n}" for n in range(5)]


def test_the_same_delivery_processed_again_is_stored_once(
    app: FastAPI, client: TestClient
) -> None:
    """SQLite deletes processed rows just after the processing commit; a crash
    in between processes them again. Replayed here on either database."""
    inbox = inbox_of(app)
    sealed = inbox.seal("whatsapp", body(9))
    inbox.append_many([sealed])
    inbox.drain()
    inbox.append_many([inbox.seal("whatsapp", body(9))])
    inbox.drain()
    assert count(app, Message, Message.direction == "in") == 1
    assert count(app, DedupKey) == 1
    assert inbox.pending() == 0


def test_an_authentic_but_malformed_body_is_answered_and_dropped(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert post_unprocessed(client, b'{"object": "whatsapp_business_account", "entry": 7}') == 200
    assert post_unprocessed(client, b"not json at all \xff") == 200
    with caplog.at_level("INFO", logger="helpline"):
        inbox_of(app).drain()
    assert inbox_of(app).pending() == 0
    assert count(app, Message) == 0
    assert "webhook.malformed" in caplog.text


def test_one_failing_delivery_waits_with_backoff_and_the_others_go_through(
    app: FastAPI, client: TestClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = intake._message

    def failing(services: Any, session: Any, event: InboundMessage, *args: Any) -> None:
        if event.provider_message_id == "wamid.IN3":
            raise RuntimeError("a bug in handling this one delivery")
        real(services, session, event, *args)

    monkeypatch.setattr(intake, "_message", failing)
    for n in range(6):
        post_unprocessed(client, body(n))
    inbox = inbox_of(app)
    inbox.drain()
    assert sorted(decrypted_bodies(app, "in")) == sorted(
        f"bericht {n}" for n in range(6) if n != 3)
    (row,) = raw_rows(app)
    assert row.attempts == 1
    assert row.next_attempt_at > clock()
    assert inbox.process_batch() == 0  # not due yet
    monkeypatch.setattr(intake, "_message", real)
    clock.advance(seconds=3)
    inbox.drain()
    assert "bericht 3" in decrypted_bodies(app, "in")
    assert inbox.pending() == 0


def test_a_delivery_that_keeps_failing_is_given_up_after_eight_days(
    app: FastAPI, client: TestClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(*_args: Any) -> None:
        raise RuntimeError("always")

    monkeypatch.setattr(intake, "_message", failing)
    post_unprocessed(client, body(1))
    inbox = inbox_of(app)
    with caplog.at_level("WARNING", logger="helpline"):
        for _ in range(12):
            inbox.drain()
            if inbox.pending() == 0:
                break
            clock.advance(days=1)
    assert inbox.pending() == 0
    assert "inbox.given_up" in caplog.text
    assert count(app, Message) == 0


def test_the_main_database_down_keeps_deliveries_until_it_returns(
    app: FastAPI, client: TestClient
) -> None:
    from helpline.store.db import Database

    inbox = inbox_of(app)
    post_unprocessed(client, body(1))
    services = services_of(app)
    original = services.db
    dead = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    services.db = dead
    try:
        if inbox.own_db is None:
            # PostgreSQL: the inbox is in the same database, so it is down too.
            with pytest.raises(ServiceUnavailable):
                inbox.process_batch()
        else:
            with pytest.raises(ServiceUnavailable):
                inbox.process_batch()
            # Released at once, not after the lease: taken again as soon as the
            # database is back.
            (row,) = raw_rows(app)
            assert row.locked_until is None
    finally:
        services.db = original
    inbox.drain()
    assert decrypted_bodies(app, "in") == ["bericht 1"]


def test_a_processor_that_died_leaves_its_claim_to_another_after_the_lease(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    inbox = inbox_of(app)
    post_unprocessed(client, body(1))
    assert len(inbox._claim(10)) == 1  # claimed, then the process is killed
    assert inbox.process_batch() == 0
    clock.advance(seconds=inbox_module.LEASE.total_seconds() + 1)
    assert inbox.process_batch() == 1
    assert decrypted_bodies(app, "in") == ["bericht 1"]


def test_an_unreadable_delivery_is_dropped_with_an_error_and_no_content(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = inbox_of(app)
    post_unprocessed(client, body(1))
    post_unprocessed(client, body(2))
    with inbox.db.session() as session:
        first = session.execute(select(INBOX.c.id).order_by(INBOX.c.id)).scalars().first()
        session.execute(update(INBOX).where(INBOX.c.id == first).values(body=b"\x01" * 40))
    with caplog.at_level("ERROR", logger="helpline"):
        inbox.drain()
    assert "inbox.unreadable" in caplog.text
    assert decrypted_bodies(app, "in") == ["bericht 2"]
    assert inbox.pending() == 0


def test_a_channel_switched_off_keeps_its_deliveries(app: FastAPI, client: TestClient) -> None:
    inbox = inbox_of(app)
    post_unprocessed(client, body(1))
    channel = services_of(app).channels.pop("whatsapp")
    try:
        inbox.drain()
        assert inbox.pending() == 1
    finally:
        services_of(app).channels["whatsapp"] = channel


def test_two_processors_share_the_inbox_and_store_each_delivery_once(
    app: FastAPI, client: TestClient
) -> None:
    inbox = inbox_of(app)
    for n in range(40):
        post_unprocessed(client, body(n))
    other = Inbox(services_of(app))
    errors: list[BaseException] = []

    def run(which: Inbox) -> None:
        try:
            while which.process_batch(limit=3):
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(x,)) for x in (inbox, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert errors == []
    assert inbox.pending() == 0
    assert sorted(decrypted_bodies(app, "in")) == sorted(f"bericht {n}" for n in range(40))


def test_the_running_app_processes_right_after_the_answer(
    migrated: Settings, clock: FakeClock
) -> None:
    # The embedded worker on: with it the app processes the inbox on either
    # database (on PostgreSQL a separate `helpline worker` can take it over).
    graph = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda _request: httpx.Response(200, json={"messages": [{"id": "wamid.OUT1"}]})))
    app = create_app(migrated, clock=clock, run_worker=True, http_client=graph)
    payload = body(1, "meteen verwerkt")
    with TestClient(app) as client:
        client.unprocessed = True  # type: ignore[attr-defined]
        r = client.post("/webhooks/whatsapp", content=payload,
                        headers={"X-Hub-Signature-256": sign(payload)})
        assert r.status_code == 200
        deadline = time.monotonic() + 10
        while inbox_of(app).pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert decrypted_bodies(app, "in") == ["meteen verwerkt"]


def test_on_postgresql_an_append_wakes_the_processors_of_other_processes(
    app: FastAPI,
) -> None:
    inbox = inbox_of(app)
    if inbox.own_db is not None:
        pytest.skip("SQLite: one process answers and processes")
    group = GroupCommit(inbox)

    async def scenario() -> bool:
        wake, stop = asyncio.Event(), asyncio.Event()
        listener = asyncio.create_task(
            listen_for_appends(inbox.db.url, wake, stop, inbox.count_appended))
        await asyncio.wait_for(wake.wait(), 10)  # listening (set once at LISTEN)
        wake.clear()
        inbox.appended = 0
        await asyncio.gather(*(group.append(inbox.seal("whatsapp", body(n))) for n in range(3)))
        try:
            while inbox.appended < 3:  # the rows are counted for the processor's pacing
                await asyncio.wait_for(wake.wait(), 10)
                wake.clear()
            return inbox.appended == 3
        finally:
            stop.set()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await group.aclose()

    assert asyncio.run(scenario())


def test_the_processor_defers_only_when_deliveries_outrun_its_measured_capacity(
    app: FastAPI,
) -> None:
    inbox = inbox_of(app)
    pace = inbox_module.Pace(last_look=0.0)
    inbox.appended = 500
    assert not pace.overloaded(inbox, 1.0)  # capacity not measured yet: never defer
    pace.observe(32, 0.032)  # a full batch: 1,000 deliveries/s
    pace.observe(2, 0.5)  # small batches say nothing about capacity
    assert pace.capacity == pytest.approx(1000)
    inbox.appended = 200  # 200/s: keeps up
    assert not pace.overloaded(inbox, 2.0)
    inbox.appended = 3000  # 3,000/s: cannot keep up, answering goes first
    assert pace.overloaded(inbox, 3.0)
    inbox.appended = 10  # a handful is never overload, however short the look
    assert not pace.overloaded(inbox, 3.001)


def test_an_overload_that_outlasts_a_burst_is_processed_at_full_speed(app: FastAPI) -> None:
    inbox = inbox_of(app)
    pace = inbox_module.Pace(last_look=0.0, capacity=1000.0)
    burst = inbox_module.MAX_BURST_SECONDS
    inbox.appended = 3000
    assert pace.overloaded(inbox, 1.0)  # a burst begins: answering first
    inbox.appended = 3000 * 4
    assert pace.overloaded(inbox, 5.0)
    inbox.appended = int(3000 * burst)
    assert not pace.overloaded(inbox, 1.0 + burst)  # still 3,000/s: a load, not a burst
    assert not pace.busy
    inbox.appended = 3000
    assert not pace.overloaded(inbox, 2.0 + burst)  # until the inbox is drained
    pace.drained()
    inbox.appended = 3000
    assert pace.overloaded(inbox, 3.0 + burst)  # the next overload is a new burst


def test_a_parser_that_fails_on_one_delivery_counts_as_a_failure_of_that_delivery(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = services_of(app).channels["whatsapp"]
    real = channel.parse

    def parse(raw: bytes) -> Any:
        if b"wamid.IN2" in raw:
            raise KeyError("a parser bug")
        return real(raw)

    monkeypatch.setattr(channel, "parse", parse)
    for n in range(3):
        post_unprocessed(client, body(n))
    inbox_of(app).drain()
    assert sorted(decrypted_bodies(app, "in")) == ["bericht 0", "bericht 1"]
    (row,) = raw_rows(app)
    assert row.attempts == 1
    assert row.locked_until is None
