"""DESIGN invariants 1, 2 and 6, checked on the bytes: after a conversation
with a fake texter, the number (in every common form, base64 and hex), the
profile name and the message text appear nowhere on disk or in the logs."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.logs import JsonFormatter
from helpline.outbound import outbox
from tests.conftest import FAKE_NAME, GRAPH, PG_URL, post_whatsapp, wa_text_payload

BODY = "Mijn klant sloeg me gisteren bij de Piushaven, zeldzaamwoord-7Q"
REPLY = "Antwoord-van-vrijwilliger-zeldzaam-9X"


def needles() -> list[bytes]:
    digits = "31612345678"
    forms = [digits, "612345678", "6 1234 5678", "06-12345678", "0612345678", "+31 6 12345678"]
    out = [f.encode() for f in forms]
    out += [base64.b64encode(digits.encode()), base64.b64encode(("+" + digits).encode()),
            digits.encode().hex().encode()]
    for text in (FAKE_NAME, BODY, REPLY, "zeldzaamwoord", "Piushaven"):
        out += [text.encode(), text.encode("utf-16-le")]
    return out


def assert_clean(blob: bytes, where: str) -> None:
    for needle in needles():
        assert needle not in blob, f"{needle!r} found in {where}"


@pytest.fixture
def captured_logs() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    logging.getLogger("helpline").addHandler(handler)
    root = logging.getLogger()
    root_handler = logging.StreamHandler(stream)
    root.addHandler(root_handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    logging.getLogger("helpline").removeHandler(handler)
    root.removeHandler(root_handler)
    root.setLevel(old_level)


@respx.mock
def test_no_number_name_or_text_on_disk_or_in_logs(
    app: FastAPI, client: TestClient, database_url: str, tmp_path: Path,
    captured_logs: io.StringIO,
) -> None:
    respx.post(f"{GRAPH}/1000000001/messages").mock(
        return_value=httpx.Response(200, json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "31612345678", "wa_id": "31612345678"}],
            # Real WhatsApp ids embed the number in base64; ours must not be stored.
            "messages": [{"id": "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}],
        })
    )
    payload = wa_text_payload(BODY, message_id="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUI2")
    assert post_whatsapp(client, payload).status_code == 200
    services = app.state.services
    asyncio.run(outbox.run_once(services))

    from sqlmodel import select

    from helpline.outbound.conversations import queue_outbound
    from helpline.store.models import Conversation, Texter

    with services.db.session() as s:
        texter = s.exec(select(Texter)).one()
        conversation = s.exec(select(Conversation)).one()
        key = services.vault.key(s, texter.data_key_id)
        queue_outbound(services, s, texter=texter, conversation=conversation, text=REPLY,
                       key=key, now=services.now(), author_kind="user")
    asyncio.run(outbox.run_once(services))
    assert post_whatsapp(client, {"object": "whatsapp_business_account", "entry": [{
        "id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "1555", "phone_number_id": "1000000001"},
            "statuses": [{"id": "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
                          "status": "delivered", "timestamp": "1764072100",
                          "recipient_id": "31612345678"}]}}]}]}).status_code == 200

    logs = captured_logs.getvalue().encode()
    assert b"intake.stored" in logs  # the capture works
    assert_clean(logs, "logs")

    if PG_URL:
        schema = re.search(r"search_path%3D(\w+)", database_url)
        assert schema
        url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        dump = subprocess.run(
            ["pg_dump", "--schema", schema.group(1), "--data-only", url],
            check=True, capture_output=True,
        ).stdout
        assert b"COPY" in dump
        assert_clean(dump, "pg_dump")
    else:
        services.db.dispose()
        db_file = Path(database_url.removeprefix("sqlite:///"))
        files = [p for p in db_file.parent.iterdir() if p.name.startswith(db_file.name)]
        assert any(p.name.endswith("-wal") for p in files) or files
        for path in files:
            assert_clean(path.read_bytes(), path.name)


WEB_BODY = "Webchat-bericht-zeldzaam-4K over de Piushaven"
VISITOR_IP = "203.0.113.77"
VISITOR_AGENT = "NeedleBrowser/7.7 (zeldzaam-UA-Q9)"


def test_web_chat_leaves_no_cookie_token_ip_or_user_agent_in_database_logs_or_backup(
    migrated: object, database_url: str, tmp_path: Path
) -> None:
    """`helpline serve` as in production (its own logging and uvicorn setup),
    a visitor behind a proxy that names their address, and then a backup."""
    import os
    import sys
    import time
    from http.cookies import SimpleCookie

    from helpline.config import Settings
    from helpline.lifecycle import backup
    from helpline.services import build_services
    from tests.conftest import key
    from tests.console.live_server import ROOT, free_port, stop_process, wait_until_up

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HELPLINE_DATABASE_URL": database_url,
           "HELPLINE_MASTER_KEY": key("master"), "HELPLINE_INDEX_KEY": key("index"),
           "HELPLINE_WEBCHAT": "true", "HELPLINE_LOG_LEVEL": "DEBUG",
           "HELPLINE_KEY_STORE": str(tmp_path / "keystore"),
           "HELPLINE_WORKER_POLL_SECONDS": "0.05"}
    out = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(base)
        # The proxy in front names the visitor (uvicorn trusts it from 127.0.0.1).
        visitor = {"X-Forwarded-For": VISITOR_IP, "User-Agent": VISITOR_AGENT,
                   "X-Real-IP": VISITOR_IP}
        assert httpx.get(f"{base}/chat", headers=visitor).status_code == 200
        first = httpx.post(f"{base}/chat/api/messages", json={"text": WEB_BODY},
                           headers={**visitor, "X-Helpline-Chat": "1"})
        assert first.status_code == 202
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(first.headers["set-cookie"])
        token = cookie["helpline_chat"].value
        with_cookie = {**visitor, "X-Helpline-Chat": "1", "Cookie": f"helpline_chat={token}"}
        assert httpx.post(f"{base}/chat/api/messages", json={"text": "nog een keer"},
                          headers=with_cookie).status_code == 202
        with httpx.stream("GET", f"{base}/chat/api/events", headers=with_cookie) as stream:
            assert stream.status_code == 200
            next(stream.iter_lines())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the welcome went out, so the worker ran
            shown = httpx.get(f"{base}/chat/api/messages", headers=with_cookie).json()
            if any(m["direction"] == "out" for m in shown["messages"]):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no reply reached the visitor")
        assert httpx.post(f"{base}/chat/api/messages", content=b"not json",
                          headers=with_cookie).status_code == 400
    finally:
        stop_process(proc)
        out.close()

    needles = [token.encode(), VISITOR_IP.encode(), VISITOR_AGENT.encode(), b"zeldzaam-UA",
               WEB_BODY.encode(), b"Webchat-bericht"]
    log = (tmp_path / "serve.log").read_bytes()
    assert b"intake.stored" in log  # the capture works
    for needle in needles:
        assert needle not in log, f"{needle!r} in the serve log"

    settings = Settings(_env_file=None, database_url=database_url,  # type: ignore[call-arg]
                        master_key=key("master"), index_key=key("index"),
                        key_store=tmp_path / "keystore")
    services = build_services(settings)
    archive = tmp_path / "backup.tar"
    backup.backup(services, archive)
    services.db.dispose()
    blobs = {"backup": archive.read_bytes()}
    if PG_URL:
        schema = re.search(r"search_path%3D(\w+)", database_url)
        assert schema
        url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        blobs["pg_dump"] = subprocess.run(
            ["pg_dump", "--schema", schema.group(1), "--data-only", url],
            check=True, capture_output=True).stdout
    else:
        db_file = Path(database_url.removeprefix("sqlite:///"))
        for path in db_file.parent.iterdir():
            if path.name.startswith(db_file.name):
                blobs[path.name] = path.read_bytes()
    for where, blob in blobs.items():
        for needle in needles:
            assert needle not in blob, f"{needle!r} in {where}"
