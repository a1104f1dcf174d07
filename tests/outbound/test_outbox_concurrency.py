"""Several workers on one database never send a row twice (FOR UPDATE SKIP LOCKED
on PostgreSQL, the write lock on SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.main import build_channels
from helpline.outbound import outbox
from helpline.services import Services, build_services
from tests.conftest import GRAPH, post_whatsapp, wa_text_payload


@respx.mock
def test_three_workers_send_every_row_exactly_once(app: FastAPI, client: TestClient) -> None:
    sent: Counter[str] = Counter()

    def record(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent[body["to"] + ":" + json.dumps(body, sort_keys=True)] += 1
        return httpx.Response(200, json={"messages": [{"id": f"wamid.{sum(sent.values())}"}]})

    respx.post(f"{GRAPH}/1000000001/messages").mock(side_effect=record)
    for n in range(40):
        payload = wa_text_payload(f"hoi {n}", message_id=f"wamid.IN{n}", wa_id=f"3160000{n:04d}")
        assert post_whatsapp(client, payload).status_code == 200
    base: Services = app.state.services

    async def run() -> None:
        workers = []
        async with httpx.AsyncClient() as http:
            for _ in range(3):
                services = build_services(base.settings, clock=base.clock, policy=base.policy)
                build_channels(services, http)
                workers.append(services)

            async def drain(services: Services) -> None:
                while await outbox.run_once(services):
                    pass

            await asyncio.gather(*(drain(s) for s in workers))
            for s in workers:
                s.db.dispose()

    asyncio.run(run())
    from sqlmodel import select

    from helpline.store.models import OutboxItem

    with base.db.session() as s:
        states = Counter(i.state for i in s.exec(select(OutboxItem)).all())
    assert states == Counter({"sent": sum(states.values())})
    assert sum(states.values()) >= 40
    assert all(count == 1 for count in sent.values()), sent
