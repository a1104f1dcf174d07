"""Signal through signal-cli-rest-api (bbernhard/signal-cli-rest-api): verify, parse, send.

https://github.com/bbernhard/signal-cli-rest-api
https://bbernhard.github.io/signal-cli-rest-api/   (Swagger)

The bridge runs next to the helpline and holds the Signal account. It hands us
what signal-cli prints for each received envelope, in one of three wrappers:

- json-rpc mode with `RECEIVE_WEBHOOK_URL`: each line is POSTed as a JSON-RPC
  notification `{"jsonrpc": "2.0", "method": "receive", "params": {...}}`,
  unsigned and without retry;
- normal/native mode: `GET /v1/receive/{number}` returns an array of bare
  `{"envelope": {...}, "account": "+31..."}` objects (`receive()` polls it);
- anything forwarding either of those, possibly batched into an array.

Threats this module answers:

- Forged webhooks. The bridge cannot sign or add headers, so the webhook URL
  carries a shared secret as `?token=`, compared in constant time. Without a
  configured token every webhook is refused rather than accepted unchecked.
- Identifying data leaking by accident. `sourceName` is the texter's profile
  name (or the name we saved for them): the models (signal_payloads.py) have no field for it,
  so it is dropped at the first step, as are group names, quoted texts, shared
  contact cards and the numbers inside error messages. `Ignored` reasons and
  `ChannelSendError` reasons are fixed codes, never content.
- Loops and leaks through our own devices. `syncMessage` envelopes are what our
  own linked devices sent or read; answering them would talk to ourselves or,
  worse, to whoever a volunteer's phone wrote to. Group messages are ignored
  too: a reply would be read by every member.
- A stranger crashing the receiver. Only a body that is not JSON raises
  (`MalformedPayload`); every other shape becomes `Ignored`, one frame at a
  time, so one odd envelope never hides its neighbours in a batch.

Identifiers: signal-cli keys people on their ACI UUID (`sourceUuid`);
`sourceNumber` is null for anyone who hides their number. The sender and reply
address are the UUID in canonical lower case (signal-cli only recognises a
recipient as a UUID when it matches `[0-9a-f]{8}-...`); only when an envelope has
no UUID do we fall back to the number. When both are shown the number travels
as an alias, so intake links it to the same texter. Anything else in those
fields is dropped as an invalid sender. `/v2/send` accepts a UUID as recipient
since signal-cli-rest-api 0.85.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from helpline.channels import signal_errors
from helpline.channels.base import (
    ChannelName,
    ChannelSendError,
    DeliveryState,
    DeliveryStatus,
    Ignored,
    InboundEvent,
    InboundMessage,
    MalformedPayload,
    MediaFetchError,
    MediaRef,
    MediaSink,
    MessageKind,
    OutboundMessage,
    SendResult,
    SignatureInvalid,
)
from helpline.channels.signal_payloads import (
    _attachment_kind,
    _canonical_uuid,
    _DataMessage,
    _Envelope,
    _Frame,
    _ReceiptMessage,
    _SendResponse,
    _timestamp,
)

__all__ = ["SignalCli"]



# --- Helpers ---------------------------------------------------------------------

# An E.164 number as signal-cli prints it: "+", then at most 15 digits, no leading zero.
_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")


def _identifiers(envelope: _Envelope) -> list[str] | Ignored:
    """The sender's identifiers, the ACI UUID first (the stable one), then the
    number. Anything present that is neither is dropped with the whole envelope:
    a texter is never created, nor answered, under a made-up address."""
    uuid_value = _canonical_uuid(envelope.source_uuid)
    if envelope.source_uuid and uuid_value is None:
        return Ignored(reason="signal.invalid_sender")
    number = envelope.source_number
    if number is not None and not _E164.fullmatch(number):
        return Ignored(reason="signal.invalid_sender")
    if envelope.source:
        # `source` repeats one of the two (older signal-cli: the only field).
        if (as_uuid := _canonical_uuid(envelope.source)) is not None:
            uuid_value = uuid_value or as_uuid
        elif _E164.fullmatch(envelope.source):
            number = number or envelope.source
        else:
            return Ignored(reason="signal.invalid_sender")
    found = [value for value in (uuid_value, number) if value]
    if not found:
        return Ignored(reason="signal.no_sender")
    return found


def _with_buttons(message: OutboundMessage) -> str:
    # Signal has no quick replies: offer them as numbered lines the texter can
    # answer with; routing matches the number or the title.
    if not message.buttons:
        return message.text
    lines = [f"{number}. {button.title}" for number, button in enumerate(message.buttons, 1)]
    options = "\n".join(lines)
    return f"{message.text}\n\n{options}" if message.text else options


# Attachment ids the bridge hands out ("Xy12AbC.jpg"): anything else in a URL
# path is refused before a request is made.
_ATTACHMENT_ID: Final = re.compile(r"[A-Za-z0-9_\-]{1,100}(\.[A-Za-z0-9]{1,10})?")


# --- The adapter -----------------------------------------------------------------


class SignalCli:
    """signal-cli-rest-api as a `Channel`, plus `receive()` for normal/native mode."""

    name = ChannelName.SIGNAL

    def __init__(
        self,
        *,
        api_url: str,
        number: str,
        webhook_token: str | None,
        client: httpx.AsyncClient,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._number = number
        self._webhook_token = webhook_token or None
        self._client = client
        # The number goes into URL paths; "+" is kept literal as the bridge's
        # own examples do, anything else is escaped.
        self._number_path = quote(number, safe="+")
        # The numbers of this installation's helplines on this bridge (one
        # signal-cli-rest-api can hold several accounts). The app replaces
        # both with its helpline directory's view; `known` may reload it.
        own = {number} if number else set()
        self.numbers: Callable[[], set[str]] = lambda: own
        self.known: Callable[[str], bool] = lambda account: account in self.numbers()

    def __repr__(self) -> str:
        # The URL may carry credentials; the number identifies the helpline.
        return "SignalCli(api_url=***, number=***, webhook_token=***)"

    # --- verify --------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes) -> None:
        if self._webhook_token is None:
            raise SignatureInvalid()
        presented = query.get("token")
        if not presented:
            raise SignatureInvalid()
        if not hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"),
            self._webhook_token.encode("utf-8", "surrogatepass"),
        ):
            raise SignatureInvalid()

    # --- parse ---------------------------------------------------------------

    def parse(self, body: bytes) -> list[InboundEvent]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            # UnicodeDecodeError is a ValueError. No detail: it would quote the body.
            raise MalformedPayload() from None
        items = data if isinstance(data, list) else [data]
        events: list[InboundEvent] = []
        for item in items:
            events.extend(self._parse_item(item))
        return events

    def _parse_item(self, item: object) -> list[InboundEvent]:
        if not isinstance(item, dict):
            return [Ignored(reason="signal.unsupported")]
        if "jsonrpc" in item or "method" in item:
            # https://github.com/AsamK/signal-cli/blob/master/man/signal-cli-jsonrpc.5.adoc
            # {"jsonrpc": "2.0", "method": "receive",
            #  "params": {"envelope": {...}, "account": "+31600000001", "subscription": 0}}
            if item.get("error") is not None:
                return [Ignored(reason="signal.error")]
            if item.get("method") != "receive":
                # Responses ({"id", "result"}) and other methods are not deliveries.
                return [Ignored(reason="signal.unsupported")]
            params = item.get("params")
            if not isinstance(params, dict):
                return [Ignored(reason="signal.unsupported")]
            if isinstance(params.get("result"), dict):
                # --receive-mode=manual after `subscribeReceive`: the same frame,
                # wrapped in a subscription response:
                # {"params": {"subscription": 0, "result": {"envelope": {...},
                #                                           "account": "+31..."}}}
                return self._parse_frame(params["result"])
            return self._parse_frame(params)
        if "envelope" in item or "exception" in item:
            # GET /v1/receive/{number} in normal/native mode: [{"envelope": {...},
            # "account": "+31600000001"}, ...]
            return self._parse_frame(item)
        return [Ignored(reason="signal.unsupported")]

    def _parse_frame(self, raw: dict[str, Any]) -> list[InboundEvent]:
        try:
            frame = _Frame.model_validate(raw)
        except ValidationError:
            return [Ignored(reason="signal.malformed")]
        if frame.exception is not None:
            return [Ignored(reason="signal.exception")]
        if frame.account is not None and not self.known(frame.account):
            # One bridge can serve several accounts; only our helplines' are
            # ours to answer.
            return [Ignored(reason="signal.other_account")]
        if not isinstance(frame.envelope, dict):
            return [Ignored(reason="signal.unsupported")]
        try:
            envelope = _Envelope.model_validate(frame.envelope)
        except ValidationError:
            return [Ignored(reason="signal.malformed")]
        events = self._parse_envelope(envelope)
        if frame.account is None:
            return events
        return [
            replace(event, account=frame.account)
            if isinstance(event, InboundMessage | DeliveryStatus) else event
            for event in events
        ]

    def _parse_envelope(self, envelope: _Envelope) -> list[InboundEvent]:
        if envelope.sync_message is not None:
            return [Ignored(reason="signal.sync")]
        identifiers = _identifiers(envelope)
        if isinstance(identifiers, Ignored):
            return [identifiers]
        sender, *aliases = identifiers
        if self.numbers().intersection(identifiers):
            return [Ignored(reason="signal.self")]
        if envelope.typing_message is not None:
            return [Ignored(reason="signal.typing")]
        if envelope.call_message is not None:
            return [Ignored(reason="signal.call")]
        if envelope.story_message is not None:
            return [Ignored(reason="signal.story")]
        if envelope.receipt_message is not None:
            return self._parse_receipt(envelope.receipt_message, envelope.timestamp)
        if envelope.data_message is not None:
            return [self._parse_data(envelope.data_message, sender, envelope.timestamp, aliases)]
        if envelope.edit_message is not None and envelope.edit_message.data_message is not None:
            # No neutral "edit" event: the corrected text arrives as a new
            # message (under the edit's own timestamp), as WhatsApp edits do.
            return [
                self._parse_data(
                    envelope.edit_message.data_message, sender, envelope.timestamp, aliases
                )
            ]
        return [Ignored(reason="signal.unsupported")]

    def _parse_receipt(
        self, receipt: _ReceiptMessage, envelope_ts: int | None
    ) -> list[InboundEvent]:
        # Each timestamp names one message we sent: the one `send()` returned.
        state: DeliveryState
        if receipt.is_read or receipt.is_viewed:
            state = "read"
        elif receipt.is_delivery:
            state = "delivered"
        else:
            return [Ignored(reason="signal.receipt_unknown")]
        if not receipt.timestamps:
            return [Ignored(reason="signal.receipt_empty")]
        at = _timestamp(receipt.when or envelope_ts)
        return [
            DeliveryStatus(
                channel=ChannelName.SIGNAL,
                provider_message_id=str(timestamp),
                state=state,
                at=at,
            )
            for timestamp in receipt.timestamps
        ]

    def _parse_data(
        self, data: _DataMessage, sender: str, envelope_ts: int | None, aliases: Sequence[str]
    ) -> InboundEvent:
        if data.group_info is not None or data.group_v2 is not None:
            return Ignored(reason="signal.group")
        if data.remote_delete is not None:
            return Ignored(reason="signal.remote_delete")
        if data.is_expiration_update:
            return Ignored(reason="signal.expiration_update")
        timestamp = data.timestamp or envelope_ts
        if not timestamp:
            return Ignored(reason="signal.malformed")

        text = data.message or None
        kind: MessageKind
        media: MediaRef | None = None
        more_media: tuple[MediaRef, ...] = ()
        if data.reaction is not None:
            if data.reaction.is_remove or not data.reaction.emoji:
                # Taking a reaction back tells a volunteer nothing.
                return Ignored(reason="signal.unreaction")
            kind, text = MessageKind.REACTION, data.reaction.emoji
        elif data.sticker is not None:
            kind = MessageKind.STICKER
        elif data.attachments:
            kind = _attachment_kind(data.attachments[0].content_type)
            text = text or next((a.caption for a in data.attachments if a.caption), None)
            # Every attachment is fetched (and so deleted at the bridge), not
            # only the first: a second photo must not stay on its disk.
            refs = [
                MediaRef(id=a.id, declared_type=a.content_type,
                         kind=_attachment_kind(a.content_type).value)
                for a in data.attachments[:10] if a.id and _ATTACHMENT_ID.fullmatch(a.id)
            ]
            media, more_media = (refs[0], tuple(refs[1:])) if refs else (None, ())
        elif data.contacts:
            # The cards themselves (third parties' names and numbers) stay behind.
            kind, text = MessageKind.CONTACTS, None
        elif text is not None:
            kind = MessageKind.TEXT
        elif data.payment is not None or data.poll_create is not None or data.poll_vote is not None:
            kind = MessageKind.UNSUPPORTED
        else:
            # Profile key updates and similar housekeeping arrive this way.
            return Ignored(reason="signal.empty")

        return InboundMessage(
            channel=ChannelName.SIGNAL,
            provider_message_id=f"{sender}:{timestamp}",
            sender=sender,
            reply_to=sender,
            kind=kind,
            text=text,
            sent_at=_timestamp(timestamp),
            aliases=tuple(aliases),
            media=media,
            more_media=more_media,
        )

    # --- attachments -----------------------------------------------------------

    # https://bbernhard.github.io/signal-cli-rest-api/#/Attachments
    # GET /v1/attachments/{attachment} -> the bytes; DELETE /v1/attachments/{attachment}
    async def fetch_media(self, ref: MediaRef, sink: MediaSink) -> None:
        url = f"{self._api_url}/v1/attachments/{quote(ref.id, safe='')}"
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise MediaFetchError("signal:attachment_404", gone=True)
                if not response.is_success:
                    raise MediaFetchError(f"signal:attachment_{response.status_code}")
                async for chunk in response.aiter_bytes(64 * 1024):
                    sink(chunk)
        except httpx.HTTPError:
            raise MediaFetchError("signal:attachment_network") from None

    async def discard_media(self, ref: MediaRef) -> None:
        # The bridge keeps every attachment on its disk until told otherwise:
        # once the cleaned copy is sealed here, the original must go there.
        url = f"{self._api_url}/v1/attachments/{quote(ref.id, safe='')}"
        try:
            await self._client.delete(url)
        except httpx.HTTPError:
            raise MediaFetchError("signal:attachment_delete_network") from None

    # --- receive (normal/native mode) ----------------------------------------

    async def receive(self, number: str | None = None) -> list[InboundEvent]:
        """Poll `GET /v1/receive/{number}` (ours, or one helpline's): what it
        returns is gone from the bridge, so the caller must store it before
        polling again."""
        path = self._number_path if number is None else quote(number, safe="+")
        url = f"{self._api_url}/v1/receive/{path}"
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException:
            raise ChannelSendError("retry", "signal:receive_timeout") from None
        except httpx.HTTPError:
            # `from None`: httpx errors quote the URL, which holds our number.
            raise ChannelSendError("retry", "signal:receive_unreachable") from None
        if response.status_code != 200:
            if response.status_code == 400 and b"websocket" in response.content.lower():
                # json-rpc mode serves /v1/receive as a websocket only: use the webhook.
                raise ChannelSendError("retry", "signal:receive_json_rpc_mode")
            raise ChannelSendError("retry", f"signal:receive_{response.status_code}")
        try:
            return self.parse(response.content)
        except MalformedPayload:
            raise ChannelSendError("retry", "signal:receive_malformed") from None

    # --- send ----------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.kind == "read_receipt":
            return await self._send_read_receipt(message)
        # Templates exist for WhatsApp's 24 h window; Signal has none, so the
        # neutral text goes out as it is.
        text = _with_buttons(message)
        if not text and message.attachment is None:
            raise ChannelSendError("fail", "signal:empty_message")
        # https://bbernhard.github.io/signal-cli-rest-api/#/Messages/post_v2_send
        payload: dict[str, object] = {
            "message": text, "number": message.sender or self._number,
            "recipients": [message.to],
        }
        if message.attachment is not None:
            # "data:<MIME>;base64,<data>" as the API documents it, without a filename.
            encoded = base64.b64encode(message.attachment.data).decode()
            payload["base64_attachments"] = [
                f"data:{message.attachment.content_type};base64,{encoded}"
            ]
        response = await self._post("/v2/send", payload)
        try:
            parsed = _SendResponse.model_validate(response.json())
        except (ValueError, ValidationError):
            # Sent, but we cannot tell under which timestamp; sending again would
            # duplicate the message, so report success without receipts.
            return SendResult(provider_message_id="")
        error = signal_errors.result_error(
            parsed.results, signal_errors.retry_after(None, parsed.results, "")
        )
        if error is not None:
            raise error
        timestamp = str(parsed.timestamp).strip() if parsed.timestamp is not None else ""
        return SendResult(provider_message_id=timestamp if timestamp.isdigit() else "")

    async def _send_read_receipt(self, message: OutboundMessage) -> SendResult:
        # https://bbernhard.github.io/signal-cli-rest-api/#/Receipts/post_v1_receipts__number_
        # (signal-cli-rest-api >= 0.160). The target is the inbound message id
        # "<sender>:<timestamp>" produced by `parse()`.
        target = (message.reply_to_message_id or "").rpartition(":")[2]
        if not target.isdigit():
            raise ChannelSendError("fail", "signal:bad_receipt_target")
        payload = {"receipt_type": "read", "recipient": message.to, "timestamp": int(target)}
        path = self._number_path if message.sender is None else quote(message.sender, safe="+")
        await self._post(f"/v1/receipts/{path}", payload)
        return SendResult(provider_message_id="")

    async def _post(self, path: str, payload: Mapping[str, object]) -> httpx.Response:
        try:
            response = await self._client.post(f"{self._api_url}{path}", json=payload)
        except httpx.TimeoutException:
            raise ChannelSendError("retry", "signal:timeout") from None
        except httpx.HTTPError:
            raise ChannelSendError("retry", "signal:unreachable") from None
        if response.is_success:
            return response
        raise signal_errors.classify_error(response)
