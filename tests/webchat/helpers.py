"""Small helpers for web chat tests: post as the page does, read the stored rows."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.outbound import outbox
from helpline.outbound.conversations import queue_outbound
from helpline.services import Services
from helpline.store.models import Conversation, Texter

HEADERS = {"X-Helpline-Chat": "1", "Content-Type": "application/json"}


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def say(client: TestClient, text: str, **extra: Any) -> Any:
    return client.post("/chat/api/messages", json={"text": text, **extra}, headers=HEADERS)


def shown(client: TestClient) -> list[tuple[str, str]]:
    data = client.get("/chat/api/messages").json()
    return [(m["direction"], m["body"]) for m in data["messages"]]


def send_all(app: FastAPI) -> None:
    asyncio.run(outbox.run_once(services_of(app)))


def volunteer_answers(app: FastAPI, text: str) -> None:
    """A reply as the console stores it (queue_outbound), then the worker sends."""
    services = services_of(app)
    with services.db.session() as s:
        conversation = s.exec(select(Conversation)).one()
        texter = s.exec(select(Texter).where(Texter.id == conversation.texter_id)).one()
        key = services.vault.key(s, texter.data_key_id)
        queue_outbound(services, s, texter=texter, conversation=conversation, text=text,
                       key=key, now=services.now(), author_kind="user")
    send_all(app)
