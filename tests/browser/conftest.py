"""End-to-end fixtures: the real app in uvicorn (embedded worker on), a fake
Graph API as a real HTTP server on another port, and headless Debian
Chromium driven by Playwright's sync API."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from helpline.config import Settings
from helpline.console import accounts
from helpline.main import create_app
from helpline.services import Services
from tests.conftest import sign, wa_text_payload
from tests.console.live_server import ThreadServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason="/usr/bin/chromium is not installed"))


@dataclass
class FakeGraph:
    """Records what the app sends to the Graph API and answers like Meta."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Media the texter "sent": id -> (mime type, bytes), served like Meta does
    # (GET /{media-id} -> {"url", ...}; GET url -> bytes).
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @api.post("/v23.0/{phone_number_id}/messages")
        async def messages(phone_number_id: str, request: Request) -> dict[str, Any]:
            body = json.loads(await request.body())
            with self.lock:
                self.sent.append(body)
                n = len(self.sent)
            return {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.OUT{n}"}]}

        @api.get("/v23.0/{media_id}")
        def media_url(media_id: str, request: Request) -> Any:
            found = self.media.get(media_id)
            if found is None:
                return JSONResponse({"error": {"code": 100}}, status_code=400)
            return {"messaging_product": "whatsapp", "id": media_id, "mime_type": found[0],
                    "sha256": hashlib.sha256(found[1]).hexdigest(),
                    "file_size": str(len(found[1])),
                    "url": f"{request.base_url}download/{media_id}"}

        @api.get("/download/{media_id}")
        def download(media_id: str) -> Response:
            mime_type, data = self.media[media_id]
            return Response(data, media_type=mime_type)

        return api

    def texts(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(f"wamid.OUT{i + 1}", s.get("text", {}).get("body", ""))
                    for i, s in enumerate(self.sent)]


@dataclass
class Live:
    base_url: str
    services: Services
    graph: FakeGraph
    settle: Callable[[], None]
    _counter: int = 0

    def account(self, role: str, alias: str, partner: str | None = None) -> tuple[str, str]:
        user, secret = accounts.create_user(self.services, alias.lower(), role, PASSWORD,
                                            alias=alias, partner_id=partner)
        return user.username, secret

    def webhook(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        response = httpx.post(f"{self.base_url}/webhooks/whatsapp", content=body, headers={
            "X-Hub-Signature-256": sign(body), "Content-Type": "application/json"})
        assert response.status_code == 200
        self.settle()

    def _wait_for_sent(self, provider_id: str, timeout: float = 20.0) -> None:
        from sqlmodel import select

        from helpline.outbound.status import provider_ref
        from helpline.store.models import Message

        ref = provider_ref(self.services, "whatsapp", provider_id)
        deadline = time.monotonic() + timeout
        while True:
            with self.services.db.read_session() as session:
                if session.exec(select(Message.id).where(Message.provider_ref == ref)).first():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{provider_id} was never recorded as sent")
            time.sleep(0.02)

    def texter_writes(self, text: str, wa_id: str = "31600000001") -> None:
        self._counter += 1
        self.webhook(wa_text_payload(text, wa_id=wa_id, message_id=f"wamid.IN{self._counter}"))

    def status(self, provider_id: str, status: str, **extra: Any) -> None:
        # The fake Graph API lists a text the moment it receives it, before the
        # worker has stored the message id Meta answers with; Meta's status
        # comes after that answer, so the status waits for it here too.
        self._wait_for_sent(provider_id)
        st = {"id": provider_id, "status": status, "timestamp": "1764072100",
              "recipient_id": "31600000001", **extra}
        self.webhook({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881",
                             "phone_number_id": "1000000001"},
                "statuses": [st]}}]}]})


@pytest.fixture
def live(settings_factory: Callable[..., Settings]) -> Iterator[Live]:
    yield from _serve(settings_factory)


@pytest.fixture
def live_with_simulator(settings_factory: Callable[..., Settings]) -> Iterator[Live]:
    yield from _serve(settings_factory, simulator=True)


def _serve(settings_factory: Callable[..., Settings], **overrides: Any) -> Iterator[Live]:
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    graph = FakeGraph()
    with ThreadServer(graph.app()) as graph_server:
        settings = settings_factory(whatsapp_api_url=f"{graph_server.base_url}/v23.0",
                                    log_level="WARNING", **overrides)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
        app = create_app(settings, run_worker=True)
        with ThreadServer(app) as server:
            yield Live(server.base_url, app.state.services, graph, server.settle)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(page: Any, base_url: str, username: str, secret: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_label("Code uit je authenticator-app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(f"{base_url}/console")
