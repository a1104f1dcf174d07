"""WhatsApp Cloud API (Meta Graph API): verify, parse and send.

Threats this module answers:

- Forged webhooks. Anyone can POST to a public URL; only a body signed with the
  app secret (`X-Hub-Signature-256`) is accepted, compared in constant time.
- Identifying data leaking by accident. Profile names (`contacts[].profile.name`,
  the text of `system` messages) are never read: the pydantic models (whatsapp_payloads.py) have
  no field for them, so they are dropped at the first step. Location coordinates
  and shared contact cards are not carried either: a helpline must not become a
  way to find people. Errors and `Ignored` reasons are fixed event names, never
  content, numbers or Meta's error text.
- A stranger crashing the receiver. Only a body that is not a JSON object raises
  (`MalformedPayload`); every other unknown or broken shape becomes `Ignored`, one
  message at a time, so one odd message never hides its neighbours in the batch.

Identifiers: since 2026 Meta sends a business-scoped user id (BSUID, `user_id`,
e.g. `US.13491208655302741918`) next to, or for users with a username instead
of, the phone number (`wa_id` / `from`), and to businesses enrolled in them a
parent BSUID (`parent_user_id`, `US.ENT.1181...`) that names the same person
across the portfolios of one parent account. The sender is the phone number
when present, else the BSUID, else the parent BSUID; the others of the same
delivery travel as `aliases`, so intake links them all to one texter. Replies go
to the sender, and `send()` puts a BSUID in the `recipient` field instead of
`to`. A username is a name, read like the profile name: never.
https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import httpx
from pydantic import Field, ValidationError

from helpline.channels import whatsapp_media
from helpline.channels import whatsapp_messages as compose
from helpline.channels.base import (
    ChannelName,
    ChannelSendError,
    DeliveryStatus,
    Ignored,
    InboundEvent,
    InboundMessage,
    MalformedPayload,
    MediaFetchError,
    MediaRef,
    MediaSink,
    OutboundMessage,
    SendResult,
    SignatureInvalid,
)
from helpline.channels.whatsapp_errors import error_outcome
from helpline.channels.whatsapp_payloads import (
    _IGNORED_TYPES,
    _STATUS_STATES,
    BSUID_SHAPE,
    PARENT_BSUID_SHAPE,
    PHONE_SHAPE,
    _Change,
    _Contact,
    _content,
    _Entry,
    _Envelope,
    _header,
    _media_ref,
    _Message,
    _Model,
    _Status,
    _timestamp,
    _Value,
    phone_number_id,
)
from helpline.errors import HelplineError

__all__ = ["WebhookForbidden", "WhatsAppCloud", "error_outcome"]

_SIGNATURE_HEADER: Final = "x-hub-signature-256"
_SIGNATURE_PREFIX: Final = "sha256="

# Meta's limits for interactive messages; exceeding them makes the whole send fail.
_MAX_REPLY_BUTTONS: Final = 3
_MAX_LIST_ROWS: Final = 10
_INTERACTIVE_BODY_MAX: Final = 1024


class WebhookForbidden(HelplineError):
    """The GET handshake did not present our verify token."""

    status_code = 403
    public_message = "forbidden"


# --- Error codes -----------------------------------------------------------
class WhatsAppCloud:
    """One WhatsApp Business phone number on the Cloud API."""

    name = ChannelName.WHATSAPP

    def __init__(
        self,
        *,
        app_secret: str,
        verify_token: str | None,
        access_token: str | None,
        phone_number_id: str | None,
        api_url: str,
        client: httpx.AsyncClient,
        template_name: str | None = None,
        template_language: str = "nl",
    ) -> None:
        if not app_secret:
            # An empty HMAC key would let anyone compute valid signatures.
            raise ValueError("app_secret must not be empty")
        self._app_secret = app_secret.encode()
        self._verify_token = verify_token
        self._access_token = access_token
        self._phone_number_id = phone_number_id
        self._api_url = api_url.rstrip("/")
        self._client = client
        self.template_name = template_name
        self.template_language = template_language

    def __repr__(self) -> str:
        return "WhatsAppCloud(***)"

    # --- inbound ---------------------------------------------------------

    # Verification requests: https://developers.facebook.com/docs/graph-api/webhooks/getting-started
    # GET /webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=...
    def handshake(self, query: Mapping[str, str]) -> str:
        token = query.get("hub.verify_token")
        challenge = query.get("hub.challenge")
        if (
            self._verify_token
            and query.get("hub.mode") == "subscribe"
            and token is not None
            and challenge is not None
            and hmac.compare_digest(token.encode(), self._verify_token.encode())
        ):
            return challenge
        raise WebhookForbidden()

    def verify(self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes) -> None:
        header = _header(headers, _SIGNATURE_HEADER)
        if header is None or not header.startswith(_SIGNATURE_PREFIX):
            raise SignatureInvalid()
        given = header[len(_SIGNATURE_PREFIX) :].strip().lower()
        expected = hmac.new(self._app_secret, body, hashlib.sha256).hexdigest()
        # Bytes, because compare_digest refuses non-ASCII str from a hostile header.
        if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
            raise SignatureInvalid()

    def parse(self, body: bytes) -> list[InboundEvent]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            # UnicodeDecodeError is a ValueError; RecursionError is deep nesting
            # ("[[[[..." ten thousand levels), which would otherwise be a 500.
            raise MalformedPayload() from exc
        if not isinstance(data, dict):
            raise MalformedPayload()
        try:
            envelope = _Envelope.model_validate(data)
        except ValidationError:
            return [Ignored(reason="whatsapp.invalid_envelope")]
        if envelope.object != "whatsapp_business_account":
            return [Ignored(reason="whatsapp.unsupported_object")]

        events: list[InboundEvent] = []
        for raw_entry in envelope.entry:
            try:
                entry = _Entry.model_validate(raw_entry)
            except ValidationError:
                events.append(Ignored(reason="whatsapp.invalid_entry"))
                continue
            for raw_change in entry.changes:
                events.extend(self._parse_change(raw_change))
        return events

    def _parse_change(self, raw_change: Any) -> list[InboundEvent]:
        try:
            change = _Change.model_validate(raw_change)
        except ValidationError:
            return [Ignored(reason="whatsapp.invalid_change")]
        # account_update, calls, smb_message_echoes, template updates...: none of
        # them is a texter writing to us or a report on what we sent.
        if change.field != "messages":
            return [Ignored(reason="whatsapp.unsupported_field")]
        try:
            value = _Value.model_validate(change.value)
        except ValidationError:
            return [Ignored(reason="whatsapp.invalid_value")]

        events: list[InboundEvent] = []
        if value.errors:
            events.append(Ignored(reason="whatsapp.value_error"))
        contact = self._only_contact(value.contacts)
        for raw_message in value.messages:
            events.append(self._parse_message(raw_message, contact))
        for raw_status in value.statuses:
            events.append(self._parse_status(raw_status))
        account = phone_number_id(value.metadata)
        if account is None:
            return events
        return [
            replace(event, account=account)
            if isinstance(event, InboundMessage | DeliveryStatus) else event
            for event in events
        ]

    @staticmethod
    def _only_contact(raw_contacts: list[Any]) -> _Contact | None:
        # contacts[] is not keyed to messages; with several we cannot tell whose is
        # whose, so only a lone contact may fill in a missing sender.
        if len(raw_contacts) != 1:
            return None
        try:
            return _Contact.model_validate(raw_contacts[0])
        except ValidationError:
            return None

    def _parse_message(self, raw: Any, contact: _Contact | None) -> InboundEvent:
        try:
            message = _Message.model_validate(raw)
        except ValidationError:
            return Ignored(reason="whatsapp.invalid_message")
        if message.type in _IGNORED_TYPES:
            return Ignored(reason=f"whatsapp.{message.type}")

        if message.group_id is not None:
            # A group chat carries other people's words and numbers, and a reply
            # would be read by all of them: the helpline is one-to-one.
            return Ignored(reason="whatsapp.group")

        identifiers = _identifiers(message, contact)
        if isinstance(identifiers, Ignored):
            return identifiers
        sender, *aliases = identifiers

        content = _content(message)
        if isinstance(content, Ignored):
            return content
        kind, text, choice = content
        return InboundMessage(
            channel=ChannelName.WHATSAPP,
            provider_message_id=message.id,
            sender=sender,
            # What Meta asks for: the phone number when this delivery shows one
            # (sent as `to`), else the BSUID, else the parent BSUID (`recipient`).
            reply_to=sender,
            kind=kind,
            text=text,
            sent_at=_timestamp(message.timestamp),
            choice=choice,
            aliases=tuple(aliases),
            media=_media_ref(message),
        )

    @staticmethod
    def _parse_status(raw: Any) -> InboundEvent:
        try:
            status = _Status.model_validate(raw)
        except ValidationError:
            return Ignored(reason="whatsapp.invalid_status")
        state = _STATUS_STATES.get(status.status or "")
        if state is None:
            # `deleted` and anything new: nothing the outbox tracks.
            return Ignored(reason="whatsapp.unsupported_status")
        error_code = error_title = None
        if state == "failed" and status.errors:
            first = status.errors[0]
            error_code = None if first.code is None else str(first.code)
            error_title = first.title
        return DeliveryStatus(
            channel=ChannelName.WHATSAPP,
            provider_message_id=status.id,
            state=state,
            at=_timestamp(status.timestamp),
            error_code=error_code,
            error_title=error_title,
        )

    # --- outbound --------------------------------------------------------

    # https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
    # POST /{phone_number_id}/messages -> {"messages": [{"id": "wamid.HBgL..."}], ...}
    # Errors: {"error": {"message": "...", "code": 131047, "error_subcode": ..., ...}}
    async def send(self, message: OutboundMessage) -> SendResult:
        if not self._access_token or not (message.sender or self._phone_number_id):
            raise ChannelSendError("pause", "whatsapp:not_configured")
        payload = self._payload(message)
        # The helpline's own number sends (and uploads the attachment).
        sender = message.sender or self._phone_number_id or ""
        if message.attachment is not None:
            payload = await whatsapp_media.attachment_payload(
                self._media_api(), sender, message, payload
            )
        url = f"{self._api_url}/{sender}/messages"
        try:
            response = await self._client.post(
                url,
                json=payload,
                headers={"Authorization": f"Bearer {self._access_token}"},
            )
        except httpx.TimeoutException as exc:
            raise ChannelSendError("retry", "whatsapp:timeout") from exc
        except httpx.HTTPError as exc:
            raise ChannelSendError("retry", "whatsapp:network") from exc

        if response.is_success:
            if message.kind == "read_receipt":
                # The answer is {"success": true}: there is no new message id.
                return SendResult(provider_message_id=message.reply_to_message_id or "")
            message_id = _response_message_id(response)
            if message_id is None:
                # Possibly delivered; retrying could send it twice.
                raise ChannelSendError("fail", "whatsapp:bad_response")
            return SendResult(provider_message_id=message_id)
        raise _send_error(response)

    # --- media -----------------------------------------------------------

    def _media_api(self) -> whatsapp_media.GraphMedia:
        return whatsapp_media.GraphMedia(self._client, self._api_url, self._access_token or "")

    async def fetch_media(self, ref: MediaRef, sink: MediaSink) -> None:
        if not self._access_token:
            raise MediaFetchError("whatsapp:not_configured")
        await self._media_api().download(ref, sink)

    async def discard_media(self, ref: MediaRef) -> None:
        # Meta deletes received media itself (after 30 days at most); a DELETE
        # of a texter's media id is refused, so there is nothing to do here.
        return None

    def _payload(self, message: OutboundMessage) -> dict[str, Any]:
        if message.kind == "read_receipt":
            if not message.reply_to_message_id:
                raise ChannelSendError("fail", "whatsapp:no_message_id")
            return {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": message.reply_to_message_id,
            }

        payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        payload.update(compose.address(message.to))
        if message.kind == "template":
            name = message.template_name or self.template_name
            if not name:
                # Without an approved template nothing can reach a texter outside the window.
                raise ChannelSendError("pause", "whatsapp:no_template")
            payload["type"] = "template"
            payload["template"] = {
                "name": name,
                "language": {"code": message.template_language or self.template_language},
            }
            return payload

        buttons = message.buttons
        interactive_ok = bool(message.text) and len(message.text) <= _INTERACTIVE_BODY_MAX
        if buttons and interactive_ok and len(buttons) <= _MAX_REPLY_BUTTONS:
            payload["type"] = "interactive"
            payload["interactive"] = compose.reply_buttons(message.text, buttons)
        elif buttons and interactive_ok and len(buttons) <= _MAX_LIST_ROWS:
            payload["type"] = "interactive"
            payload["interactive"] = compose.list_message(message.text, buttons)
        else:
            payload["type"] = "text"
            body = compose.numbered(message.text, buttons)
            payload["text"] = {"preview_url": False, "body": body}
        return payload


def _identifiers(message: _Message, contact: _Contact | None) -> list[str] | Ignored:
    """The sender's identifiers in this delivery, strongest first: phone number,
    BSUID, parent BSUID. Each one present must have its documented shape, or
    the message is dropped before a texter is created or anything answered."""
    phone = message.sender_phone or (contact.wa_id if contact else None)
    bsuid = message.from_user_id or (contact.user_id if contact else None)
    parent = message.from_parent_user_id or (contact.parent_user_id if contact else None)
    if not (phone or bsuid or parent):
        return Ignored(reason="whatsapp.no_sender")
    # `from` with a "+" has been seen from forwarding tools; Meta sends bare digits.
    phone = phone.removeprefix("+") if phone else None
    checks = ((phone, PHONE_SHAPE), (bsuid, BSUID_SHAPE), (parent, PARENT_BSUID_SHAPE))
    found: list[str] = []
    for value, shape in checks:
        if value is None:
            continue
        if not shape.fullmatch(value):
            return Ignored(reason="whatsapp.invalid_sender")
        if value not in found:
            found.append(value)
    return found


class _SendResponseMessage(_Model):
    id: str


class _SendResponse(_Model):
    messages: list[_SendResponseMessage] = Field(default_factory=list)


class _GraphError(_Model):
    code: int | str | None = None


class _GraphErrorResponse(_Model):
    error: _GraphError | None = None


def _response_message_id(response: httpx.Response) -> str | None:
    try:
        parsed = _SendResponse.model_validate_json(response.content)
    except ValidationError:
        return None
    return parsed.messages[0].id if parsed.messages else None


def _send_error(response: httpx.Response) -> ChannelSendError:
    code: str | None = None
    try:
        parsed = _GraphErrorResponse.model_validate_json(response.content)
    except ValidationError:
        parsed = None
    if parsed is not None and parsed.error is not None and parsed.error.code is not None:
        code = str(parsed.error.code)

    retry_after = _retry_after(response)
    if code is not None:
        outcome = error_outcome(code)
        # A code we do not know arriving with a server error is still the server's fault.
        if outcome == "fail" and (response.status_code >= 500 or response.status_code == 429):
            outcome = "retry"
        return ChannelSendError(outcome, f"whatsapp:{code}", retry_after)

    status = response.status_code
    reason = f"whatsapp:http_{status}"
    if status == 429 or status >= 500:
        return ChannelSendError("retry", reason, retry_after)
    if status == 401:
        return ChannelSendError("pause", reason)
    return ChannelSendError("fail", reason)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
