"""What a volunteer sees through the console API (tests/stress/test_crash.py):
every inbound text in the peer queue, read as the console reads it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from helpline.services import build_services
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.console.live_server import Account, signed_in
from tests.stress.harness import stress_settings


def volunteer(database_url: str) -> Account:
    """A signed-in volunteer in the (migrated) database the server will use."""
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    # The server runs with production cookie settings (the __Host- name).
    services = build_services(stress_settings(database_url, secure_cookies=True))
    try:
        return signed_in(services, "volunteer", "Stress-Roos")
    finally:
        services.db.dispose()


def visible_texts(client: httpx.Client) -> set[str]:
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"view": "queue", "limit": "200", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/conversations", params=params)
        page.raise_for_status()
        body = page.json()
        for item in body["items"]:
            detail = client.get(f"/api/conversations/{item['id']}")
            detail.raise_for_status()
            seen.update(m["body"] for m in detail.json()["messages"] if m["direction"] == "in")
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


@dataclass
class Visibility:
    expected: int = 0
    missing: int = -1  # not looked yet
    seconds: float = 0.0


def watch(account: Account, url: str, texts: list[str], deadline: float,
          into: Visibility) -> None:
    """Poll until every text is visible or `deadline` seconds have passed."""
    began = time.monotonic()
    into.expected = len(texts)
    with account.client(url) as client:
        while True:
            missing = set(texts) - visible_texts(client)
            into.missing = len(missing)
            into.seconds = round(time.monotonic() - began, 2)
            if not missing or into.seconds > deadline:
                return
            time.sleep(0.2)
