"""Group commit: deliveries that arrive together share one transaction, and
none is lost or answered before its commit, whatever happens to the others."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from helpline import intake
from helpline.channels.base import InboundEvent, InboundMessage
from helpline.errors import ServiceUnavailable
from helpline.group_commit import GroupCommit
from helpline.models import DedupKey, Message
from tests.conftest import post_whatsapp, wa_text_payload
from tests.test_intake import count, decrypted_bodies, services_of


def delivery(app: FastAPI, n: int, text: str | None = None) -> list[InboundEvent]:
    body = json.dumps(wa_text_payload(text or f"bericht {n}", message_id=f"wamid.GC{n}",
                                      wa_id=f"3160000{n:04d}")).encode()
    return services_of(app).channels["whatsapp"].parse(body)


def commits(app: FastAPI) -> list[int]:
    seen: list[int] = []
    event.listen(services_of(app).db.engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_deliveries_that_arrive_together_share_one_commit(app: FastAPI) -> None:
    group = GroupCommit(services_of(app))
    seen = commits(app)

    async def arrive() -> list[Any]:
        return await asyncio.gather(*(group.store("whatsapp", delivery(app, n))
                                      for n in range(6)))

    results = asyncio.run(arrive())
    assert [r.stored for r in results] == [1] * 6
    assert len(seen) == 1
    assert sorted(decrypted_bodies(app, "in")) == sorted(f"bericht {n}" for n in range(6))


def test_a_delivery_alone_is_stored_at_once(app: FastAPI) -> None:
    group = GroupCommit(services_of(app))

    async def one() -> int:
        return (await group.store("whatsapp", delivery(app, 1))).stored

    assert asyncio.run(one()) == 1
    assert count(app, Message, Message.direction == "in") == 1


def test_batches_are_capped_and_the_rest_follows(app: FastAPI) -> None:
    group = GroupCommit(services_of(app), limit=4)
    seen = commits(app)

    async def arrive() -> list[Any]:
        return await asyncio.gather(*(group.store("whatsapp", delivery(app, n))
                                      for n in range(10)))

    assert [r.stored for r in asyncio.run(arrive())] == [1] * 10
    assert len(seen) == 3  # 4 + 4 + 2
    assert count(app, Message, Message.direction == "in") == 10


def test_the_same_message_twice_in_one_batch_is_stored_once(app: FastAPI) -> None:
    group = GroupCommit(services_of(app))

    async def arrive() -> list[Any]:
        return await asyncio.gather(*(group.store("whatsapp", delivery(app, 7))
                                      for _ in range(3)))

    results = asyncio.run(arrive())
    assert sorted((r.stored, r.duplicates) for r in results) == [(0, 1), (0, 1), (1, 0)]
    assert count(app, Message, Message.direction == "in") == 1
    assert count(app, DedupKey) == 1


def test_one_failing_delivery_does_not_take_the_others_with_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = intake._message

    def failing(services: Any, session: Any, event: InboundMessage, *args: Any) -> None:
        if event.provider_message_id == "wamid.GC3":
            raise RuntimeError("a bug in handling this one delivery")
        real(services, session, event, *args)

    monkeypatch.setattr(intake, "_message", failing)
    group = GroupCommit(services_of(app))

    async def arrive() -> list[Any]:
        return await asyncio.gather(
            *(group.store("whatsapp", delivery(app, n)) for n in range(6)),
            return_exceptions=True)

    results = asyncio.run(arrive())
    assert isinstance(results[3], RuntimeError)
    assert [r.stored for i, r in enumerate(results) if i != 3] == [1] * 5
    assert sorted(decrypted_bodies(app, "in")) == sorted(
        f"bericht {n}" for n in range(6) if n != 3)
    # The failed one left nothing behind, not even its dedup key: a retry stores it.
    monkeypatch.setattr(intake, "_message", real)
    assert intake.receive(services_of(app), "whatsapp", delivery(app, 3)).stored == 1


def test_database_down_fails_every_delivery_of_the_batch(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def down(*_args: Any, **_kwargs: Any) -> Any:
        calls.append("down")
        raise ServiceUnavailable("database unavailable")

    monkeypatch.setattr(intake, "receive_many", down)
    monkeypatch.setattr(intake, "receive", down)
    group = GroupCommit(services_of(app))

    async def arrive() -> list[Any]:
        return await asyncio.gather(
            *(group.store("whatsapp", delivery(app, n)) for n in range(3)),
            return_exceptions=True)

    # Every sender gets the 503 (the platform retries); no one-by-one retry
    # against a database that is down.
    assert all(isinstance(r, ServiceUnavailable) for r in asyncio.run(arrive()))
    assert calls == ["down"]


def test_a_sender_that_hangs_up_still_has_its_delivery_stored(app: FastAPI) -> None:
    group = GroupCommit(services_of(app))

    async def hang_up() -> None:
        waiting = asyncio.ensure_future(group.store("whatsapp", delivery(app, 5)))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.sleep(0.05)

    asyncio.run(hang_up())
    assert decrypted_bodies(app, "in") == ["bericht 5"]


def test_the_webhook_on_sqlite_goes_through_group_commit(app: FastAPI) -> None:
    """The route answers only after the commit: read back at once, it is there."""
    if not services_of(app).db.is_sqlite:
        pytest.skip("on PostgreSQL each delivery has its own transaction in a thread")
    stored: list[int] = []
    real = intake.receive_many

    def spy(services: Any, deliveries: Any, **kwargs: Any) -> Any:
        stored.append(len(deliveries))
        return real(services, deliveries, **kwargs)

    with pytest.MonkeyPatch.context() as mp, TestClient(app) as client:
        mp.setattr(intake, "receive_many", spy)
        r = post_whatsapp(client, wa_text_payload("via de route", message_id="wamid.R1"))
        assert r.status_code == 200
        assert decrypted_bodies(app, "in") == ["via de route"]
    assert stored == [1]
