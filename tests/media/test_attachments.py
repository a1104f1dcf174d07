"""A volunteer attaches a photo or PDF to a reply; the outbox sends it.

WhatsApp: `POST /{phone-number-id}/media` (multipart: messaging_product, type,
file) answers `{"id": "<MEDIA_ID>"}`, then `POST /{phone-number-id}/messages`
with `{"type": "image", "image": {"id": ..., "caption": ...}}`
(https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media,
.../reference/messages). Signal: `POST /v2/send` with `base64_attachments`
(https://bbernhard.github.io/signal-cli-rest-api/#/Messages/post_v2_send).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from helpline.outbound import outbox
from tests.conftest import GRAPH, SIGNAL_API
from tests.console.conv_helpers import Agent, make_agent, texter_writes
from tests.media import samples
from tests.media.helpers import post_signal, services_of, signal_attachment_envelope

UPLOAD_URL = f"{GRAPH}/1000000001/media"
SEND_URL = f"{GRAPH}/1000000001/messages"


def claimed(client: TestClient) -> tuple[Agent, str]:
    volunteer = make_agent(client)
    conversation = volunteer.get("/api/conversations?view=queue").json()["items"][0]["id"]
    assert volunteer.post(f"/api/conversations/{conversation}/claim").status_code == 200
    return volunteer, conversation


def attach(
    agent: Agent, conversation: str, data: bytes, caption: str | None = None
) -> httpx.Response:
    path = f"/api/conversations/{conversation}/attachments"
    if caption is not None:
        path += f"?caption={caption}"
    headers = agent._headers(True) | {"Content-Type": "application/octet-stream"}
    return agent.client.post(path, content=data, headers=headers)


def sent_with(route: respx.Route, key: str) -> dict[str, object]:
    """The one request body of `route` that carries `key` (bot replies go too)."""
    bodies = [json.loads(call.request.content) for call in route.calls]
    (found,) = [body for body in bodies if key in body]
    result: dict[str, object] = found
    return result


def run_outbox(app: FastAPI) -> int:
    return asyncio.run(outbox.run_once(services_of(app)))


@respx.mock
def test_a_photo_reply_is_uploaded_then_sent_by_media_id(client: TestClient, app: FastAPI) -> None:
    texter_writes(client, "hoe laat is het spreekuur?")
    volunteer, conversation = claimed(client)
    upload = respx.post(UPLOAD_URL).mock(return_value=httpx.Response(200, json={"id": "98765"}))
    send = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json={
        "messaging_product": "whatsapp", "messages": [{"id": "wamid.OUTPHOTO"}]}))
    response = attach(volunteer, conversation, samples.jpeg_with_gps(), caption="spreekuur")
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "image"
    assert response.json()["media"][0]["state"] == "stored"

    run_outbox(app)
    assert upload.call_count == 1
    form = upload.calls[0].request.content
    assert b'name="messaging_product"' in form
    assert b"image/jpeg" in form
    # The volunteer's own camera data never reaches the texter either.
    assert samples.DISTINCTIVE not in form
    sent = sent_with(send, "image")
    assert sent["type"] == "image"
    assert sent["image"] == {"id": "98765", "caption": "spreekuur"}
    assert sent["to"] == "31600000001"


@respx.mock
def test_a_pdf_reply_goes_as_a_document(client: TestClient, app: FastAPI) -> None:
    texter_writes(client, "folder graag")
    volunteer, conversation = claimed(client)
    respx.post(UPLOAD_URL).mock(return_value=httpx.Response(200, json={"id": "555"}))
    send = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json={
        "messaging_product": "whatsapp", "messages": [{"id": "wamid.OUTPDF"}]}))
    assert attach(volunteer, conversation, samples.pdf_with_metadata()).status_code == 201
    run_outbox(app)
    sent = sent_with(send, "document")
    assert sent["type"] == "document"
    assert sent["document"] == {"id": "555", "filename": "document.pdf"}


@respx.mock
def test_a_signal_reply_carries_the_photo_as_base64(client: TestClient, app: FastAPI) -> None:
    respx.get(url__startswith=f"{SIGNAL_API}/v1/attachments/").mock(
        return_value=httpx.Response(404))
    post_signal(client, signal_attachment_envelope("Zz99.jpg", "image/jpeg"))
    volunteer, conversation = claimed(client)
    send = respx.post(f"{SIGNAL_API}/v2/send").mock(
        return_value=httpx.Response(201, json={"timestamp": "1764072000999"}))
    assert attach(volunteer, conversation, samples.jpeg_with_gps()).status_code == 201
    run_outbox(app)
    sent = sent_with(send, "base64_attachments")
    (attachment,) = sent["base64_attachments"]  # type: ignore[misc]
    prefix = "data:image/jpeg;base64,"
    assert attachment.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(attachment[len(prefix):])))
    assert dict(image.getexif()) == {}


def test_anything_but_a_photo_or_pdf_is_refused_with_a_clear_error(client: TestClient) -> None:
    texter_writes(client, "hoi")
    volunteer, conversation = claimed(client)
    for data in (b"<html></html>", b"", samples.ogg_opus_voice_note()):
        response = attach(volunteer, conversation, data)
        assert response.status_code == 422
        assert "PDF" in response.json()["error"]


def test_an_unclaimed_conversation_takes_no_attachment(client: TestClient) -> None:
    texter_writes(client, "hoi")
    volunteer = make_agent(client)
    conversation = volunteer.get("/api/conversations?view=queue").json()["items"][0]["id"]
    assert attach(volunteer, conversation, samples.pdf_with_metadata()).status_code == 409


def test_an_upload_over_the_cap_is_413(client: TestClient) -> None:
    texter_writes(client, "hoi")
    volunteer, conversation = claimed(client)
    assert attach(volunteer, conversation, b"%PDF-" + bytes(11 * 1024 * 1024)).status_code == 413
