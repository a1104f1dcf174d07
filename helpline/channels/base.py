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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from helpline.errors import HelplineError


class ChannelName(StrEnum):
    WHATSAPP = "whatsapp"
    SIGNAL = "signal"
    SIMULATOR = "simulator"
    WEBCHAT = "webchat"


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
class MediaRef:
    """The platform's handle of an attachment: a WhatsApp media id or a Signal
    attachment id, with the declared type and (WhatsApp) SHA-256. Declared
    values are hints only: helpline/media sniffs and caps the bytes itself."""

    id: str
    declared_type: str | None = None
    sha256: str | None = None
    # The kind of this attachment when a message carries several (Signal): a
    # photo and a PDF in one message; None means the message's own kind.
    kind: str | None = None

    def __repr__(self) -> str:
        return "MediaRef(***)"


@dataclass(frozen=True, repr=False)
class Attachment:
    """A photo or PDF a volunteer attaches to a reply (already cleaned)."""

    kind: Literal["image", "document"]
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"Attachment(kind={self.kind!r}, content_type={self.content_type!r}, data=***)"


class MediaFetchError(HelplineError):
    """An attachment could not be downloaded. `gone` means asking again will
    not help (expired or deleted at the platform): the texter must resend."""

    status_code = 502
    public_message = "media fetch failed"

    def __init__(self, reason: str, *, gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.gone = gone


MediaSink = Callable[[bytes], None]


@dataclass(frozen=True, repr=False)
class InboundMessage:
    """A message written by a texter.

    `sender` is the stable identifier used for the blind index (WhatsApp
    `wa_id`, else the business-scoped `user_id`; Signal `sourceUuid`).
    `aliases` are the other identifiers the same delivery shows for the same
    person (a BSUID next to the phone number, a parent BSUID, a Signal number
    next to the UUID): intake links all of them to one texter, so whichever
    one a later delivery carries finds that texter again.
    `reply_to` is the address a reply must be sent to. `text` is the typed text
    or caption; `choice` the id of a chosen button or list row. `language` is
    a language the texter picked on the channel itself (the web chat page has
    a language menu); platforms that tell us nothing of the kind leave it None.
    """

    channel: ChannelName
    provider_message_id: str
    sender: str
    reply_to: str
    kind: MessageKind
    text: str | None
    sent_at: datetime
    choice: str | None = None
    aliases: tuple[str, ...] = ()
    # The helpline's own address the delivery was sent to (WhatsApp
    # `metadata.phone_number_id`, Signal `account`): it picks the helpline.
    account: str | None = None
    media: MediaRef | None = None
    more_media: tuple[MediaRef, ...] = ()
    language: str | None = None

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
    account: str | None = None

    def __repr__(self) -> str:
        return (
            f"DeliveryStatus(channel={self.channel.value!r}, state={self.state!r}, "
            f"error_code={self.error_code!r})"
        )


class IgnoreWord(StrEnum):
    """Why a delivery's item was dropped, in one fixed word an operator can read
    in the processor's log (one line per item, never content or identifiers)."""

    GROUP = "group"  # a group chat: other people's words and numbers
    SYNC = "sync"  # our own devices, or our own number writing
    FOREIGN_ACCOUNT = "foreign-account"  # for another Signal account on the bridge
    FOREIGN_NUMBER = "foreign-number"  # for another WhatsApp business number
    INVALID_SENDER = "invalid-sender"  # no sender, or not an identifier of the platform
    UNSUPPORTED_KIND = "unsupported-kind"  # a kind of item the helpline does not carry
    NOTICE = "notice"  # platform housekeeping: typing, receipts we do not track, system
    MALFORMED = "malformed"  # authentic but broken JSON shape


# The specific reason (`Ignored.reason`, after the platform prefix) -> its word.
# tests/channels/test_ignored_words.py fails when a reason in the code has no word.
_WORDS: dict[str, IgnoreWord] = {
    "group": IgnoreWord.GROUP,
    "sync": IgnoreWord.SYNC,
    "self": IgnoreWord.SYNC,
    "other_account": IgnoreWord.FOREIGN_ACCOUNT,
    "foreign_number": IgnoreWord.FOREIGN_NUMBER,
    "no_sender": IgnoreWord.INVALID_SENDER,
    "invalid_sender": IgnoreWord.INVALID_SENDER,
    "unsupported": IgnoreWord.UNSUPPORTED_KIND,
    "unsupported_object": IgnoreWord.UNSUPPORTED_KIND,
    "unsupported_field": IgnoreWord.UNSUPPORTED_KIND,
    "story": IgnoreWord.UNSUPPORTED_KIND,
    "call": IgnoreWord.UNSUPPORTED_KIND,
    "empty": IgnoreWord.NOTICE,
    "unreaction": IgnoreWord.NOTICE,
    "typing": IgnoreWord.NOTICE,
    "system": IgnoreWord.NOTICE,
    "revoke": IgnoreWord.NOTICE,
    "remote_delete": IgnoreWord.NOTICE,
    "request_welcome": IgnoreWord.NOTICE,
    "expiration_update": IgnoreWord.NOTICE,
    "unsupported_status": IgnoreWord.NOTICE,
    "receipt_unknown": IgnoreWord.NOTICE,
    "receipt_empty": IgnoreWord.NOTICE,
    "value_error": IgnoreWord.NOTICE,
    "exception": IgnoreWord.MALFORMED,
    "error": IgnoreWord.MALFORMED,
    "malformed": IgnoreWord.MALFORMED,
    "invalid_envelope": IgnoreWord.MALFORMED,
    "invalid_entry": IgnoreWord.MALFORMED,
    "invalid_change": IgnoreWord.MALFORMED,
    "invalid_value": IgnoreWord.MALFORMED,
    "invalid_message": IgnoreWord.MALFORMED,
    "invalid_status": IgnoreWord.MALFORMED,
}


@dataclass(frozen=True)
class Ignored:
    """Authentic but unusable input. `reason` is a fixed event name, never content;
    `word` the fixed word it belongs to (IgnoreWord)."""

    reason: str

    @property
    def word(self) -> IgnoreWord:
        return _WORDS.get(self.reason.rpartition(".")[2], IgnoreWord.UNSUPPORTED_KIND)


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
    # The helpline's own address to send from (its WhatsApp phone number id,
    # its Signal number); None: the adapter's configured one.
    sender: str | None = None
    attachment: Attachment | None = None

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

    async def fetch_media(self, ref: MediaRef, sink: MediaSink) -> None:
        """Stream an attachment's bytes into `sink` chunk by chunk (the sink
        raises to stop a download over its cap); raise `MediaFetchError`."""

    async def discard_media(self, ref: MediaRef) -> None:
        """Remove a fetched attachment from the platform's side where we can."""
