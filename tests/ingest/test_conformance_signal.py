"""Every real-world signal-cli receive body in tests/fixtures/conformance/signal/ (other
projects' public test data, source and licence in its README) goes through the whole
app and is answered 200, with no processing failure in the log; every text a texter
wrote one-to-one reaches a conversation with its exact text, and what must not
(our own devices' sync messages, group messages, JSON-RPC responses) stores nothing."""

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
from tests.conftest import SIGNAL_TOKEN

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "conformance" / "signal"
INDEX: list[dict[str, Any]] = json.loads((CORPUS / "index.json").read_text())
OUR_NUMBER = "+31600000099"  # the test app's HELPLINE_SIGNAL_NUMBER


def frames(body: Any) -> list[dict[str, Any]]:
    """The {envelope, account} frames of a body, in any of signal-cli's wrappers."""
    items = body if isinstance(body, list) else [body]
    out = []
    for item in items:
        params = item.get("params") if "jsonrpc" in item else item
        if isinstance(params, dict):
            out.append(params.get("result", params) if "result" in params else params)
    return [f for f in out if isinstance(f, dict) and "envelope" in f]


def addressed_to_us(body: Any) -> Any:
    # The source projects ran their own accounts; here the bridge serves ours.
    for frame in frames(body):
        if "account" in frame:
            frame["account"] = OUR_NUMBER
    return body


def expected_texts(body: Any) -> list[str]:
    """What a volunteer must see: one-to-one texts, an edit's new text and a
    reaction's emoji; never a group's, a story's or our own devices' words."""
    texts = []
    for frame in frames(body):
        envelope = frame["envelope"]
        data = envelope.get("dataMessage") or (envelope.get("editMessage") or {}).get(
            "dataMessage") or {}
        if data.get("groupInfo") or data.get("groupV2"):
            continue
        if data.get("message"):
            texts.append(data["message"])
        reaction = data.get("reaction") or {}
        if reaction.get("emoji") and not reaction.get("isRemove"):
            texts.append(reaction["emoji"])
    return texts


def stored_texts(app: FastAPI) -> list[str]:
    services = app.state.services
    out = []
    with services.db.session() as s:
        for message in s.exec(select(Message).where(Message.direction == "in")).all():
            texter = s.get(Texter, message.texter_id)
            assert texter is not None
            key = services.vault.key(s, texter.data_key_id)
            if message.body is not None:
                out.append(services.vault.open(key, message.body, "messages", "body",
                                               message.id))
    return out


def test_the_corpus_is_there() -> None:
    assert len(INDEX) >= 15
    assert all((CORPUS / e["file"]).exists() for e in INDEX)


@pytest.mark.parametrize("entry", INDEX, ids=[e["file"] for e in INDEX])
def test_corpus_body_is_accepted_and_its_texts_reach_a_conversation(
    entry: dict[str, Any], app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = addressed_to_us(json.loads((CORPUS / entry["file"]).read_text()))
    with caplog.at_level(logging.INFO, logger="helpline"):
        response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=body)
        assert response.status_code == 200, response.text
    failures = [r.getMessage() for r in caplog.records
                if r.getMessage() == "inbox.failed" or r.exc_info]
    assert not failures
    expected = expected_texts(body)
    stored = stored_texts(app)
    for text in expected:
        assert text in stored
    if not expected:
        assert stored == []
    # A second delivery of the same body is answered again and stored once.
    assert client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=body).status_code == 200
    assert sorted(stored_texts(app)) == sorted(stored)


def test_the_whole_corpus_as_one_array_is_one_delivery(app: FastAPI, client: TestClient) -> None:
    bodies = [addressed_to_us(json.loads((CORPUS / e["file"]).read_text())) for e in INDEX]
    # The poll form is an array of bare frames; JSON-RPC lines travel one by one.
    array = [f for b in bodies for f in frames(b)]
    response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=array)
    assert response.status_code == 200
    stored = stored_texts(app)
    # Signal names a message by its sender and timestamp: the source projects
    # reused one pair for different bodies, and the first of them is the message.
    first: dict[tuple[str, int], str] = {}
    for frame in array:
        for text in expected_texts(frame):
            first.setdefault((frame["envelope"]["sourceUuid"], frame["envelope"]["timestamp"]),
                             text)
    assert first
    assert sorted(stored) == sorted(first.values())
