"""SQLite read sessions take neither this process's writer lock nor the
database's write lock: a console read is not kept waiting behind intake."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpline.errors import ServiceUnavailable
from helpline.services import Services
from tests.conftest import PG_URL, post_whatsapp, wa_text_payload

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's single writer")


def test_a_read_session_runs_while_a_write_transaction_holds_the_lock(
    app: FastAPI, client: TestClient
) -> None:
    post_whatsapp(client, wa_text_payload("eerste"))
    services: Services = app.state.services
    with services.db.session() as writer:
        # The write lock is taken (BEGIN IMMEDIATE) and this process's writer
        # turn is held; an ordinary session on another connection would wait
        # for both (up to 30 s, then 503).
        writer.execute(text("UPDATE conversations SET priority = priority"))
        with services.db.read_session() as reader:
            assert reader.execute(text("SELECT count(*) FROM conversations")).scalar_one() == 1
        # A monitor's probe reads the same way (the console's requests also
        # touch their session row, a write, so they still take turns).
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["inbox"]["backlog"] == 0


def test_a_write_in_a_read_session_fails_and_later_writes_still_work(app: FastAPI) -> None:
    services: Services = app.state.services
    with pytest.raises(ServiceUnavailable), services.db.read_session() as reader:
        reader.execute(text("DELETE FROM conversations"))
    with services.db.session() as writer:
        writer.execute(text("UPDATE conversations SET priority = priority"))
