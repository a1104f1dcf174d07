"""normal/native mode: the poll receiver uses the same parser and intake, and
keeps a fetched batch until it is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import respx
from sqlmodel import func, select

from helpline.config import Settings
from helpline.main import create_app, poll_signal
from helpline.services import Services
from helpline.store.db import Database
from helpline.store.models import Message
from tests.conftest import SIGNAL_API, FakeClock

UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ENVELOPE = {
    "envelope": {
        "source": UUID, "sourceNumber": None, "sourceUuid": UUID, "sourceName": "Jane Doe",
        "sourceDevice": 1, "timestamp": 1764072000000,
        "dataMessage": {"timestamp": 1764072000000, "message": "via poll", "expiresInSeconds": 0},
    },
    "account": "+31600000099",
}


def stored(services: Services) -> int:
    with services.db.session() as s:
        return int(s.exec(select(func.count()).select_from(Message)
                          .where(Message.direction == "in")).one())


def run_poller(services: Services, until: Callable[[], bool]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poll_signal(services, stop))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if until():
                break
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())


@respx.mock
def test_polled_messages_are_stored(
    migrated: Settings, clock: FakeClock, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(signal_receive="poll")
    respx.get(f"{SIGNAL_API}/v1/receive/+31600000099").mock(
        side_effect=[httpx.Response(200, json=[ENVELOPE])] + [httpx.Response(200, json=[])] * 500
    )
    services: Services = create_app(settings, clock=clock, run_worker=False).state.services
    run_poller(services, lambda: stored(services) == 1)
    assert stored(services) == 1


@respx.mock
def test_a_polled_batch_survives_a_database_outage(
    migrated: Settings, clock: FakeClock, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(signal_receive="poll")
    route = respx.get(f"{SIGNAL_API}/v1/receive/+31600000099").mock(
        side_effect=[httpx.Response(200, json=[ENVELOPE])] + [httpx.Response(200, json=[])] * 500
    )
    services: Services = create_app(settings, clock=clock, run_worker=False).state.services
    real = services.db
    services.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    calls = {"n": 0}

    def heal() -> bool:
        calls["n"] += 1
        if calls["n"] == 20:  # the database comes back
            services.db = real
        return services.db is real and stored(services) == 1

    run_poller(services, heal)
    assert stored(services) == 1
    assert route.call_count >= 1
