"""Real processes on one PostgreSQL schema, laid out as in deploy/compose.yaml:
two app processes without an embedded worker and one `helpline worker`. A
console connected to app A sees, live, a message whose webhook app B answered
and the worker processed from the inbox (LISTEN/NOTIFY)."""

from __future__ import annotations

import json

import httpx
import pytest

from helpline.config import Settings
from helpline.services import build_services
from tests.conftest import PG_URL, WHATSAPP_SECRET, WHATSAPP_VERIFY, key, sign, wa_text_payload
from tests.console.live_server import EventReader, ProcessServer, ProcessWorker, signed_in

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs HELPLINE_TEST_DATABASE_URL"),
]


def test_a_message_stored_by_one_process_reaches_a_console_on_another(
    migrated: Settings,
) -> None:
    env = {
        "HELPLINE_DATABASE_URL": migrated.database_url,
        "HELPLINE_MASTER_KEY": key("master"),
        "HELPLINE_INDEX_KEY": key("index"),
        "HELPLINE_WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
        "HELPLINE_WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY,
        "HELPLINE_SECURE_COOKIES": "false",
        "HELPLINE_EMBEDDED_WORKER": "false",
        "HELPLINE_LOG_LEVEL": "WARNING",
    }
    services = build_services(migrated)
    account = signed_in(services, "volunteer", "Roos")
    services.db.dispose()
    with ProcessServer(env) as a, ProcessServer(env) as b, ProcessWorker(env):
        console = account.client(a.base_url)
        reader = EventReader(console).start()
        reader.wait_for(lambda kind, _: kind == "ready", timeout=15)
        body = json.dumps(wa_text_payload("via B", message_id="wamid.PG1")).encode()
        stored = httpx.post(f"{b.base_url}/webhooks/whatsapp", content=body, headers={
            "X-Hub-Signature-256": sign(body), "Content-Type": "application/json"})
        assert stored.status_code == 200
        _, data = reader.wait_for(lambda kind, _: kind == "message", timeout=15)
        detail = console.get(f"/api/conversations/{data['conversation']}").json()
        assert detail["messages"][0]["body"] == "via B"
        console.close()
