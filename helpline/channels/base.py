"""The neutral vocabulary between platforms and the helpline.

Adapters translate; they decide nothing. A channel module turns platform bytes
into the events below and neutral outbound messages into platform requests. It
never touches the database or the routing policy.

Identifiers (`sender`, `reply_to`) exist here only in memory: intake turns the
sender into a blind index and encrypts the reply address before anything is
stored. Profile names are dropped by the parsers and have no field here at all,
so they cannot leak further by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from helpline.errors import HelplineError


class ChannelName(StrEnum):
    WHATSAPP = "whatsapp"
    SIGNAL = "signal"
    SIMULATOR = "simulator"


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    CHOICE = "choice"  # interactive button / list reply, template quick-reply button
    REACTION = "reaction"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, repr=False)
class InboundMessage:
    """A message written by a texter.

    `sender` is the stable identifier used for the blind index (WhatsApp
    `wa_id`, else the business-scoped `user_id`; Signal `sourceUuid`).
    `reply_to` is the address a reply must be sent to. `text` is the typed text
    or caption; `choice` the id of a chosen button or list row.
    """

    channel: ChannelName
    provider_message_id: str
    sender: str
    reply_to: str
    kind: MessageKind
    text: str | None
    sent_at: datetime
    choice: str | None = None

    def __repr__(self) -> str:
        # Never print identifiers or bodies, even in a traceback.
        return (
            f"InboundMessage(channel={self.channel.value!r}, kind={self.kind.value!r}, "
            "sender=***, text=***)"
        )


DeliveryState = Literal["sent", "delivered", "read", "failed"]


@dataclass(frozen=True)
class DeliveryStatus:
    """A platform's report on a message we sent (`played` counts as `read`)."""

    channel: ChannelName
    provider_message_id: str
    state: DeliveryState
    at: datetime
    error_code: str | None = None
    error_title: str | None = None

    def __repr__(self) -> str:
        return (
            f"DeliveryStatus(channel={self.channel.value!r}, state={self.state!r}, "
            f"error_code={self.error_code!r})"
        )


@dataclass(frozen=True)
class Ignored:
    """Authentic but unusable input. `reason` is a fixed event name, never content."""

    reason: str


InboundEvent = InboundMessage | DeliveryStatus | Ignored


@dataclass(frozen=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True, repr=False)
class OutboundMessage:
    """What to send. `kind` is `text`, `template` or `read_receipt`.

    For `template`, `template_name` and `template_language` name an approved
    WhatsApp template (the neutral one used outside the 24 h window). `buttons`
    are optional quick replies: WhatsApp renders them as interactive buttons
    (at most 3) or a list, other channels append them as numbered text.
    For `read_receipt`, `reply_to_message_id` is the provider id being marked read.
    """

    to: str
    kind: Literal["text", "template", "read_receipt"] = "text"
    text: str = ""
    template_name: str | None = None
    template_language: str | None = None
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    reply_to_message_id: str | None = None

    def __repr__(self) -> str:
        return f"OutboundMessage(kind={self.kind!r}, to=***, text=***)"


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


SendOutcome = Literal["retry", "hold", "fail", "pause"]


class ChannelSendError(HelplineError):
    """A send did not go through.

    `outcome` tells the outbox what to do: `retry` later with backoff; `hold`
    until the texter writes again (WhatsApp 24 h window); `fail` for good; or
    `pause` the whole channel (rate limit, captcha) and alert a coordinator.
    `reason` is a short code such as `whatsapp:131047`, never content.
    """

    status_code = 502
    public_message = "channel send failed"

    def __init__(self, outcome: SendOutcome, reason: str, retry_after: float | None = None):
        super().__init__(f"{outcome}: {reason}")
        self.outcome: SendOutcome = outcome
        self.reason = reason
        self.retry_after = retry_after


class SignatureInvalid(HelplineError):
    status_code = 401
    public_message = "invalid signature"


class MalformedPayload(HelplineError):
    """Authentic but not parseable: the receiver answers 200 and ignores it."""

    status_code = 200
    public_message = "ignored"


class Channel(Protocol):
    """One platform: verify the request, parse the body, send a message."""

    name: ChannelName

    def verify(self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes) -> None:
        """Raise `SignatureInvalid` unless the request is authentic."""

    def parse(self, body: bytes) -> list[InboundEvent]:
        """Turn an authentic body into neutral events. Raise `MalformedPayload`
        when it is not JSON at all; unknown shapes become `Ignored`."""

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message; raise `ChannelSendError` when it does not go through."""
