"""The visitor's event stream over real HTTP (uvicorn in a thread, embedded
worker on): replies are pushed by the adapter; a change named on the live bus
(another process's worker, an erasure) tells the page to read again."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from helpline.config import Settings
from helpline.live.bus import LiveEvent
from helpline.main import create_app
from helpline.outbound.conversations import queue_outbound
from helpline.store.models import Conversation, Texter
from helpline.webchat.session import visitor_id
from helpline.webchat.transcript import find_texter
from tests.console.live_server import ThreadServer
from tests.webchat.helpers import HEADERS, services_of


@pytest.fixture
def live_app(migrated: Settings) -> FastAPI:
    settings = migrated.model_copy(update={"webchat": True, "log_level": "WARNING"})
    return create_app(settings, run_worker=True)


@pytest.fixture
def server(live_app: FastAPI) -> Iterator[ThreadServer]:
    with ThreadServer(live_app) as running:
        yield running


class Stream:
    def __init__(self, base_url: str, cookie: str) -> None:
        self.base_url = base_url
        self.cookie = cookie
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(base_url=base_url, headers={"Cookie": cookie})
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        kind = "message"
        try:
            with self._client.stream("GET", "/chat/api/events", timeout=None) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.put((kind, json.loads(line.split(":", 1)[1])))
        except httpx.HTTPError:
            pass

    def wait_for(self, kind: str, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if got == kind:
                return data
        raise TimeoutError(f"no {kind} event")

    def close(self) -> None:
        self._client.close()


def first_message(server: ThreadServer, text: str) -> str:
    # Over plain http a client keeps a Secure cookie to itself: pass it on by hand.
    response = httpx.post(f"{server.base_url}/chat/api/messages", json={"text": text},
                          headers=HEADERS)
    assert response.status_code == 202
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    server.settle()
    return f"helpline_chat={cookie['helpline_chat'].value}"


def answer(app: FastAPI, text: str) -> None:
    services = services_of(app)
    with services.db.session() as s:
        conversation = s.exec(select(Conversation)).one()
        texter = s.exec(select(Texter).where(Texter.id == conversation.texter_id)).one()
        key = services.vault.key(s, texter.data_key_id)
        queue_outbound(services, s, texter=texter, conversation=conversation, text=text,
                       key=key, now=services.now(), author_kind="user")
    services.wakeup.set()


def test_a_volunteers_answer_is_pushed_to_the_open_page_within_2_seconds(
    live_app: FastAPI, server: ThreadServer
) -> None:
    cookie = first_message(server, "Hoi")
    stream = Stream(server.base_url, cookie)
    try:
        stream.wait_for("ready")
        time.sleep(0.3)  # let the welcome go out first
        while not stream.events.empty():
            stream.events.get_nowait()
        started = time.monotonic()
        answer(live_app, "Hallo, ik ben Roos")
        while True:
            data = stream.wait_for("message", timeout=2.0)
            if data["body"] == "Hallo, ik ben Roos":
                break
        assert time.monotonic() - started < 2.0
        assert data["direction"] == "out"
        # The page can match it with the stored message when it reads back.
        messages = httpx.get(f"{server.base_url}/chat/api/messages",
                             headers={"Cookie": cookie}).json()["messages"]
        assert data["ref"] in [m["ref"] for m in messages]
    finally:
        stream.close()


def test_a_change_named_on_the_live_bus_makes_the_page_read_again(
    live_app: FastAPI, server: ThreadServer
) -> None:
    cookie = first_message(server, "Hoi")
    stream = Stream(server.base_url, cookie)
    try:
        stream.wait_for("ready")
        services = services_of(live_app)
        with services.db.session() as s:
            conversation_id = s.exec(select(Conversation)).one().id
        # As PostgreSQL NOTIFY delivers it from a worker in another process.
        services.bus.deliver(LiveEvent(kind="status", conversation=conversation_id))
        stream.wait_for("update")
    finally:
        stream.close()


def test_another_visitors_events_do_not_reach_this_page(
    live_app: FastAPI, server: ThreadServer
) -> None:
    mine = first_message(server, "Hoi")
    first_message(server, "Ik ben iemand anders")
    services = services_of(live_app)
    visitor = visitor_id(services.index, mine.split("=", 1)[1])
    with services.db.session() as s:
        own = find_texter(s, services.helpline("default"), visitor)
        assert own is not None
        [other] = s.exec(select(Conversation).where(Conversation.texter_id != own.id)).all()
    stream = Stream(server.base_url, mine)
    try:
        stream.wait_for("ready")
        time.sleep(0.5)
        while not stream.events.empty():
            stream.events.get_nowait()
        services.bus.deliver(LiveEvent(kind="status", conversation=other.id))
        with pytest.raises(TimeoutError):
            stream.wait_for("update", timeout=0.8)
    finally:
        stream.close()


def test_one_visitor_cannot_hold_more_than_a_few_streams(
    live_app: FastAPI, server: ThreadServer
) -> None:
    from helpline.webchat.routes import STREAMS_PER_VISITOR

    cookie = first_message(server, "Hoi")
    streams = [Stream(server.base_url, cookie) for _ in range(STREAMS_PER_VISITOR)]
    try:
        for stream in streams:
            stream.wait_for("ready")
        refused = httpx.get(f"{server.base_url}/chat/api/events", headers={"Cookie": cookie})
        assert refused.status_code == 429
        assert "too many tabs" in refused.json()["error"]
    finally:
        for stream in streams:
            stream.close()
