"""A volunteer's photo or PDF cannot reach a chat page (it shows text only):
the console says so at once instead of queuing a send that fails later."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.store.models import OutboxItem
from tests.console.conv_helpers import make_agent
from tests.media import samples
from tests.media.test_attachments import attach
from tests.webchat.helpers import say, services_of


def test_an_attachment_to_a_web_chat_is_refused_before_anything_is_queued(
    app: FastAPI, client: TestClient
) -> None:
    assert say(client, "Hallo, mag ik iets vragen?").status_code in (200, 201, 202)
    volunteer = make_agent(TestClient(app))  # the console on its own origin
    items = volunteer.get("/api/conversations?view=queue").json()["items"]
    (conversation,) = [i["id"] for i in items if i["channel"] == "webchat"]
    assert volunteer.post(f"/api/conversations/{conversation}/claim").status_code == 200
    services = services_of(app)
    with services.db.session() as session:
        before = len(session.exec(select(OutboxItem)).all())
    response = attach(volunteer, conversation, samples.jpeg_with_gps())
    assert response.status_code == 422
    assert "text only" in response.json()["error"]
    with services.db.session() as session:
        assert len(session.exec(select(OutboxItem)).all()) == before
