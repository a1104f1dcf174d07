"""WhatsApp Cloud API media: resolve a received media id and stream its bytes;
upload a reply's attachment.

https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
  GET /{media-id} -> {"messaging_product": "whatsapp", "url": "https://lookaside...",
                      "mime_type": "image/jpeg", "sha256": "...", "file_size": "303833",
                      "id": "1479537139650973"}
  GET {url} with the same bearer token -> the bytes (the URL lives for 5 minutes;
      an expired one answers 404, a media id older than 30 days is gone too)
  POST /{phone-number-id}/media (multipart: messaging_product, type, file) -> {"id": "..."}

Threats: the bearer token is sent only to the Graph API origin or an https URL
it returned (never to a plain-http host another party chose); the declared size
and type are ignored, the caller's sink counts the bytes and stops the stream.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from helpline.channels.base import (
    ChannelSendError,
    MediaFetchError,
    MediaRef,
    MediaSink,
    OutboundMessage,
)
from helpline.channels.whatsapp_payloads import _Model

_CHUNK = 64 * 1024


class _MediaUrl(_Model):
    url: str
    sha256: str | None = None


class _Uploaded(_Model):
    id: str


def _fetch_error(status: int, step: str) -> MediaFetchError:
    # 404/410: the id or the URL expired; 400: Graph's "invalid parameter" for an
    # id it no longer knows. Asking again will not bring them back.
    gone = status in (400, 404, 410)
    return MediaFetchError(f"whatsapp:{step}_{status}", gone=gone)


class GraphMedia:
    def __init__(self, client: httpx.AsyncClient, api_url: str, access_token: str) -> None:
        self._client = client
        self._api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}"}

    def __repr__(self) -> str:
        return "GraphMedia(***)"

    def _trusted(self, url: str) -> bool:
        target, api = urlsplit(url), urlsplit(self._api_url)
        return target.scheme == "https" or (target.scheme, target.netloc) == (
            api.scheme,
            api.netloc,
        )

    async def download(self, ref: MediaRef, sink: MediaSink) -> None:
        try:
            lookup = await self._client.get(f"{self._api_url}/{ref.id}", headers=self._headers)
        except httpx.HTTPError:
            raise MediaFetchError("whatsapp:lookup_network") from None
        if not lookup.is_success:
            raise _fetch_error(lookup.status_code, "lookup")
        try:
            found = _MediaUrl.model_validate_json(lookup.content)
        except ValidationError:
            raise MediaFetchError("whatsapp:lookup_malformed") from None
        if not self._trusted(found.url):
            raise MediaFetchError("whatsapp:untrusted_url", gone=True)
        digest = hashlib.sha256()
        try:
            async with self._client.stream("GET", found.url, headers=self._headers) as response:
                if not response.is_success:
                    raise _fetch_error(response.status_code, "download")
                async for chunk in response.aiter_bytes(_CHUNK):
                    digest.update(chunk)
                    sink(chunk)
        except httpx.HTTPError:
            raise MediaFetchError("whatsapp:download_network") from None
        expected = found.sha256 or ref.sha256
        if expected and not _same_digest(expected, digest.digest()):
            # A truncated or altered download: try again rather than keep it.
            raise MediaFetchError("whatsapp:sha256_mismatch")

    async def upload(self, phone_number_id: str, content_type: str, data: bytes) -> str:
        files = {"file": ("attachment", data, content_type)}
        form = {"messaging_product": "whatsapp", "type": content_type}
        try:
            response = await self._client.post(
                f"{self._api_url}/{phone_number_id}/media",
                data=form,
                files=files,
                headers=self._headers,
            )
        except httpx.TimeoutException:
            raise ChannelSendError("retry", "whatsapp:upload_timeout") from None
        except httpx.HTTPError:
            raise ChannelSendError("retry", "whatsapp:upload_network") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ChannelSendError("retry", f"whatsapp:upload_{response.status_code}")
        if response.status_code == 401:
            raise ChannelSendError("pause", "whatsapp:upload_401")
        if not response.is_success:
            raise ChannelSendError("fail", f"whatsapp:upload_{response.status_code}")
        try:
            return _Uploaded.model_validate_json(response.content).id
        except ValidationError:
            raise ChannelSendError("retry", "whatsapp:upload_malformed") from None


def _same_digest(expected: str, digest: bytes) -> bool:
    """Meta documents a hex digest; some answers have carried base64. A value
    that is neither a full hex nor a full base64 SHA-256 cannot be checked,
    and is not a reason to lose the file."""
    if len(expected) == 64:
        return expected.lower() == digest.hex()
    try:
        decoded = base64.b64decode(expected, validate=True)
    except (binascii.Error, ValueError):
        return True
    return len(decoded) != 32 or decoded == digest


async def attachment_payload(
    media: GraphMedia, phone_number_id: str, message: OutboundMessage, payload: dict[str, Any]
) -> dict[str, Any]:
    """The message body for a reply with a photo or document: upload, then
    refer to the new media id, the reply's text as the caption."""
    attachment = message.attachment
    if attachment is None:
        return payload
    media_id = await media.upload(phone_number_id, attachment.content_type, attachment.data)
    body: dict[str, Any] = {
        key: value for key, value in payload.items() if key not in ("text", "interactive")
    }
    body["type"] = attachment.kind
    item: dict[str, Any] = {"id": media_id}
    if message.text:
        item["caption"] = message.text
    if attachment.kind == "document":
        # A neutral name: the texter's phone shows it, and it must not say "helpline".
        item["filename"] = "document.pdf"
    body[attachment.kind] = item
    return body
