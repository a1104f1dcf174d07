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
