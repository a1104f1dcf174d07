"""Webhooks with media, and the Graph API / signal-cli-rest-api media endpoints
faked with respx, shaped like their documentation:

- WhatsApp webhook media object (https://developers.facebook.com/documentation/
  business-messaging/whatsapp/webhooks/reference/messages/): `{"mime_type",
  "sha256", "id"}` (+ `"voice": true` for voice notes, `"filename"` for documents);
- `GET /{media-id}` (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media):
  `{"messaging_product": "whatsapp", "url", "mime_type", "sha256", "file_size", "id"}`;
- signal-cli-rest-api `GET /v1/attachments/{id}` (bytes) and `DELETE` (204).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.media import fetch
from helpline.services import Services
from helpline.store.models import MediaItem
from tests.conftest import FAKE_NAME, FAKE_NUMBER, GRAPH, SIGNAL_API, SIGNAL_TOKEN, sign

LOOKASIDE = "https://lookaside.test/whatsapp_business/attachments/"
_ids = itertools.count(1)


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def wa_media_payload(
    kind: str,
    media_id: str,
    *,
    mime_type: str,
    sha256: str = "",
    caption: str | None = None,
    wa_id: str = FAKE_NUMBER,
    message_id: str | None = None,
) -> dict[str, Any]:
    media: dict[str, Any] = {"mime_type": mime_type, "sha256": sha256, "id": media_id}
    webhook_kind = kind
    if kind == "voice":
        webhook_kind, media["voice"] = "audio", True
    if kind == "document":
        media["filename"] = f"{FAKE_NAME} medical results.pdf"
    if caption is not None:
        media["caption"] = caption
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881",
                                 "phone_number_id": "1000000001"},
                    "contacts": [{"profile": {"name": FAKE_NAME}, "wa_id": wa_id}],
                    "messages": [{
                        "from": wa_id,
                        "id": message_id or f"wamid.MEDIA{next(_ids)}",
                        "timestamp": "1764072000",
                        "type": webhook_kind,
                        webhook_kind: media,
                    }],
                },
            }],
        }],
    }


def post_media(client: TestClient, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    response = client.post(
        "/webhooks/whatsapp", content=body,
        headers={"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def graph_media(
    router: respx.MockRouter, media_id: str, data: bytes, *, mime_type: str,
    declared_size: int | None = None,
) -> respx.Route:
    """The lookup and the download of one media id; returns the download route."""
    url = f"{LOOKASIDE}{media_id}?ext=1&hash=abc"
    router.get(f"{GRAPH}/{media_id}").mock(return_value=httpx.Response(200, json={
        "messaging_product": "whatsapp", "url": url, "mime_type": mime_type,
        "sha256": hashlib.sha256(data).hexdigest(),
        "file_size": str(declared_size if declared_size is not None else len(data)),
        "id": media_id,
    }))
    return router.get(url).mock(return_value=httpx.Response(
        200, content=data, headers={"Content-Type": mime_type}))


def streamed(chunks: Iterator[bytes], mime_type: str) -> httpx.Response:
    return httpx.Response(200, stream=_Stream(chunks), headers={"Content-Type": mime_type})


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.sent = 0

    async def __aiter__(self) -> Any:
        for chunk in self._chunks:
            self.sent += len(chunk)
            yield chunk


def signal_attachment(router: respx.MockRouter, attachment_id: str, data: bytes) -> respx.Route:
    router.get(f"{SIGNAL_API}/v1/attachments/{attachment_id}").mock(
        return_value=httpx.Response(200, content=data,
                                    headers={"Content-Type": "application/octet-stream"}))
    return router.delete(f"{SIGNAL_API}/v1/attachments/{attachment_id}").mock(
        return_value=httpx.Response(204))


def signal_attachment_envelope(
    attachment_id: str, content_type: str, *, timestamp: int = 1764072000123
) -> dict[str, Any]:
    """A bare `{envelope, account}` delivery as signal-cli-rest-api posts it."""
    return {
        "envelope": {
            "source": "+31600000001", "sourceNumber": "+31600000001",
            "sourceUuid": "9f5b6c1e-1111-4a2b-8c3d-000000000001", "sourceName": FAKE_NAME,
            "sourceDevice": 1, "timestamp": timestamp, "serverReceivedTimestamp": timestamp,
            "dataMessage": {
                "timestamp": timestamp, "message": None, "expiresInSeconds": 0,
                "viewOnce": False,
                "attachments": [{
                    "contentType": content_type, "filename": f"{FAKE_NAME}.m4a",
                    "id": attachment_id, "size": 1234, "width": None, "height": None,
                    "caption": None, "uploadTimestamp": timestamp,
                }],
            },
        },
        "account": "+31600000099",
    }


def post_signal(client: TestClient, payload: dict[str, Any]) -> None:
    response = client.post(f"/webhooks/signal?token={SIGNAL_TOKEN}", json=payload)
    assert response.status_code == 200, response.text


def run_fetcher(app: FastAPI) -> int:
    return asyncio.run(fetch.run_once(services_of(app)))


def media_rows(app: FastAPI) -> list[MediaItem]:
    with services_of(app).db.session() as session:
        return list(session.exec(select(MediaItem)).all())
