"""Ignored deliveries: dropped before anything is stored or answered, and each one
visible in the processor's log as one line with a fixed reason word (never content
or identifiers), so an operator can tell why a message did not arrive."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import func

from helpline.channels.base import _WORDS, IgnoreWord
from helpline.services import Services
from helpline.store.models import Message, OutboxItem, Texter
from tests.conftest import SIGNAL_TOKEN, post_whatsapp

ROOT = Path(__file__).resolve().parents[2]
WHATSAPP = ROOT / "tests" / "fixtures" / "whatsapp"
SIGNAL = ROOT / "tests" / "fixtures" / "signal"


def count(app: FastAPI, model: Any) -> int:
    services: Services = app.state.services
    with services.db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one()[0])


def signal_frame(name: str) -> Any:
    """A Signal fixture addressed to the test app's own number (+31600000099),
    except the one about another account, which goes to another number."""
    frame = json.loads((SIGNAL / f"{name}.json").read_text())
    params = frame.get("params", frame)
    target = params.get("result", params)
    target["account"] = "+31600000001" if name == "other_account__text" else "+31600000099"
    return frame


def ignored_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "intake.ignored"
    ]


def test_every_ignored_reason_in_the_code_has_a_fixed_word() -> None:
    reasons = set()
    for path in (ROOT / "helpline" / "channels").glob("*.py"):
        reasons |= set(re.findall(r'Ignored\((?:reason=)?f?"[a-z]+\.([a-z_{}.]+)"\)',
                                  path.read_text()))
    # The one f-string (`whatsapp.{message.type}`) covers the _IGNORED_TYPES.
    reasons.discard("{message.type}")
    reasons |= {"system", "revoke", "request_welcome"}
    assert len(reasons) > 20
    missing = sorted(r for r in reasons if r not in _WORDS)
    assert not missing, f"Ignored reasons without a word: {missing}"
    assert {w.value for w in IgnoreWord} >= {
        "group", "sync", "foreign-account", "invalid-sender", "unsupported-kind"}


@pytest.mark.parametrize(
    ("fixture", "word"),
    [("group__text", "group"), ("text__invalid_sender", "invalid-sender"),
     ("text__invalid_bsuid", "invalid-sender"), ("system__user_id_change", "notice"),
     ("account_update__disabled", "unsupported-kind")],
)
def test_dropped_whatsapp_item_stores_nothing_answers_nobody_and_logs_its_word(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture, fixture: str, word: str
) -> None:
    raw = (WHATSAPP / f"{fixture}.json").read_bytes()
    with caplog.at_level("INFO", logger="helpline"):
        assert post_whatsapp(client, raw).status_code == 200
    assert count(app, Texter) == 0
    assert count(app, Message) == 0
    assert count(app, OutboxItem) == 0
    lines = ignored_lines(caplog)
    assert [line["reason"] for line in lines] == [word]
    assert lines[0]["channel"] == "whatsapp"
    # Nothing of the body reaches the log: not the text, not the sender.
    body = json.loads(raw)
    message = (body["entry"][0]["changes"][0]["value"].get("messages") or [{}])[0]
    for needle in (message.get("from"), message.get("from_user_id"),
                   (message.get("text") or {}).get("body")):
        if needle:
            assert needle not in caplog.text


@pytest.mark.parametrize(
    ("fixture", "word"),
    [("group__v2_text", "group"), ("sync__sent_transcript", "sync"),
     ("other_account__text", "foreign-account"), ("data__invalid_sender", "invalid-sender"),
     ("story__text", "unsupported-kind"), ("typing__started", "notice")],
)
def test_dropped_signal_item_stores_nothing_and_logs_its_word(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture, fixture: str, word: str
) -> None:
    with caplog.at_level("INFO", logger="helpline"):
        response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}",
                               json=signal_frame(fixture))
    assert response.status_code == 200
    assert count(app, Texter) == 0
    assert [line["reason"] for line in ignored_lines(caplog)] == [word]


def test_one_line_per_ignored_item_beside_the_stored_one(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    frames = [signal_frame(name)
              for name in ("typing__started", "data__text_jsonrpc", "group__v2_text",
                           "sync__sent_transcript")]
    with caplog.at_level("INFO", logger="helpline"):
        response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=frames)
    assert response.status_code == 200
    assert count(app, Texter) == 1
    assert [line["reason"] for line in ignored_lines(caplog)] == ["notice", "group", "sync"]


def test_signal_manual_receive_form_reaches_a_conversation(
    app: FastAPI, client: TestClient
) -> None:
    response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}",
                           json=signal_frame("data__text_manual_receive"))
    assert response.status_code == 200
    assert count(app, Texter) == 1
    assert count(app, Message) >= 1
