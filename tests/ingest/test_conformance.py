"""Every real-world webhook body in tests/fixtures/conformance/whatsapp/ goes through the
whole app (signature, parser, intake, routing, outbox) and is answered 200; the text
messages among them are stored with their exact text."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.store.models import Message, Texter
from tests.conftest import post_whatsapp

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "conformance" / "whatsapp"
INDEX: list[dict[str, Any]] = (
    json.loads((CORPUS / "index.json").read_text()) if (CORPUS / "index.json").exists() else []
)


def text_bodies(payload: dict[str, Any]) -> list[str]:
    out = []
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            for message in change.get("value", {}).get("messages", []) or []:
                if message.get("type") == "text":
                    out.append(message["text"]["body"])
    return out


def test_the_corpus_is_there() -> None:
    assert len(INDEX) >= 100, f"conformance corpus missing at {CORPUS}"


@pytest.mark.parametrize("entry", INDEX, ids=[e["file"] for e in INDEX])
def test_corpus_payload_is_accepted(
    entry: dict[str, Any], app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    raw = (CORPUS / entry["file"]).read_bytes()
    with caplog.at_level(logging.INFO, logger="helpline"):
        response = post_whatsapp(client, raw)
    assert response.status_code == 200, response.text
    # No processing failure and no traceback behind the 200.
    assert not [r for r in caplog.records if r.getMessage() == "inbox.failed" or r.exc_info]
    services = app.state.services
    expected = text_bodies(json.loads(raw))
    with services.db.session() as s:
        stored = []
        for m in s.exec(select(Message).where(Message.direction == "in")).all():
            texter = s.get(Texter, m.texter_id)
            assert texter is not None
            key = services.vault.key(s, texter.data_key_id)
            if m.body is not None and m.kind == "text":
                stored.append(services.vault.open(key, m.body, "messages", "body", m.id))
    for body in expected:
        assert body in stored
    # Authentic duplicates are acknowledged again and stored once.
    assert post_whatsapp(client, raw).status_code == 200


def test_the_whole_corpus_as_one_body_of_many_entries_stores_every_text(
    app: FastAPI, client: TestClient
) -> None:
    # Meta batches: one POST may carry many entries, each with its changes.
    bodies = [json.loads((CORPUS / e["file"]).read_bytes()) for e in INDEX]
    batch = {"object": "whatsapp_business_account",
             "entry": [entry for body in bodies for entry in body.get("entry", [])]}
    assert len(batch["entry"]) >= 100
    assert post_whatsapp(client, batch).status_code == 200
    services = app.state.services
    with services.db.session() as s:
        stored = []
        for m in s.exec(select(Message).where(Message.direction == "in")).all():
            texter = s.get(Texter, m.texter_id)
            assert texter is not None
            key = services.vault.key(s, texter.data_key_id)
            if m.body is not None and m.kind == "text":
                stored.append(services.vault.open(key, m.body, "messages", "body", m.id))
    # The source reuses message ids ("wamid.xyzxyz") across examples: within one
    # batch the first message under an id is the one stored, the rest duplicates.
    first: dict[str, str | None] = {}
    for entry in batch["entry"]:
        for change in entry.get("changes", []):
            if change.get("field") != "messages":
                continue
            for message in (change.get("value") or {}).get("messages") or []:
                text = message["text"]["body"] if message.get("type") == "text" else None
                first.setdefault(message["id"], text)
    expected = [t for t in first.values() if t is not None]
    assert expected
    for body in expected:
        assert body in stored
