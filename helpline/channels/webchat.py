"""The web chat: a chat page on the helpline's own site, as a channel adapter.

For people with neither WhatsApp nor Signal, or who want to give no number at
all. The "platform" is the page at `/chat` (helpline/webchat/). What a visitor
types is posted to the helpline, put in the inbox like a webhook delivery, and
parsed here into the same neutral `InboundMessage`; replies leave through the
outbox worker and `send`, which hands them to the visitor's open event streams.

The visitor's identity is a random session token (`secrets.token_urlsafe(32)`,
256 bits) in an HttpOnly cookie. The token itself never reaches this module:
the route turns it into a *visitor id*, a keyed hash of the token (see
`helpline.webchat.session`), and that id plays the part of a phone number
(intake stores only its blind index and the sealed reply address). So neither
the database nor a backup holds anything that would let someone rebuild the
cookie and read the conversation, even with the keys.

Threats this module answers:

- A page elsewhere posting into a visitor's chat with their cookie: the cookie
  is `SameSite=Strict`, and `verify` also wants the `X-Helpline-Chat` header
  (a cross-origin page cannot add it without a CORS preflight we never grant)
  and refuses `Sec-Fetch-Site: cross-site`.
- Content in memory: `send` hands the text to this process's open streams and
  keeps nothing; the fallback poll reads the conversation from the database,
  decrypted, like the console does.

The inbox body the route builds (internal, never from the browser as is)::

    {"visitor": "<64 hex>", "id": "c-1", "text": "Hoi", "language": "nl"}
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from helpline.channels.base import (
    ChannelName,
    ChannelSendError,
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

__all__ = ["MAX_TEXT", "VISITOR_RE", "Streams", "WebChatChannel", "WebChatDelivery"]

VISITOR_RE = re.compile(r"^[0-9a-f]{64}$")
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
MAX_TEXT = 2000  # characters a visitor may send in one message
PROVIDER_PREFIX = "wc."
# The helpline the page at /chat belongs to: the default one, whose id is
# helpline.store.columns.DEFAULT_HELPLINE_ID (adapters import no store module).
# A page at /chat/{slug} names its helpline's id in the delivery instead.
PAGE_HELPLINE = "default"
HELPLINE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class WebChatDelivery(BaseModel):
    """One message as the route puts it in the inbox."""

    model_config = ConfigDict(extra="ignore")

    visitor: str = Field(min_length=64, max_length=64)
    id: str | None = Field(default=None, max_length=40)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    choice: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)
    helpline: str | None = Field(default=None, max_length=40)


class Streams:
    """The open event streams of this process, by visitor id.

    Each stream is an asyncio queue owned by the event loop; `push` may be
    called from any thread (the outbox worker runs in the loop, intake in the
    thread pool). A slow page's queue is bounded: it then gets a "reload"
    instead of every message, and reads the database."""

    QUEUE_MAX = 50

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def open(self, visitor: str) -> asyncio.Queue[dict[str, Any]]:
        self._loop = self._loop or asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=self.QUEUE_MAX)
        with self._lock:
            self._queues.setdefault(visitor, set()).add(queue)
        return queue

    def close(self, visitor: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            queues = self._queues.get(visitor)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._queues[visitor]

    def count(self, visitor: str | None = None) -> int:
        with self._lock:
            if visitor is not None:
                return len(self._queues.get(visitor, ()))
            return sum(len(q) for q in self._queues.values())

    def push(self, visitor: str, item: dict[str, Any]) -> int:
        """Hand `item` to the visitor's streams here; returns how many."""
        with self._lock:
            queues = list(self._queues.get(visitor, ()))
        loop = self._loop
        if not queues or loop is None or loop.is_closed():
            return 0
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for queue in queues:
            if running is loop:
                _offer(queue, item)
            else:
                loop.call_soon_threadsafe(_offer, queue, item)
        return len(queues)


def _offer(queue: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    if queue.full():
        # Too far behind: drop what waits and tell the page to read it all again.
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait({"reload": True})
        return
    queue.put_nowait(item)


class WebChatChannel:
    name = ChannelName.WEBCHAT

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        ref_of: Callable[[str], str],
    ) -> None:
        # `ref_of` turns a provider id into the keyed reference the outbox
        # stores on the message, so the page can tell a pushed reply and the
        # same reply read back from the database apart from a new one.
        self._clock = clock
        self._ref_of = ref_of
        self.streams = Streams()

    def verify(self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("x-helpline-chat") != "1":
            raise SignatureInvalid("missing X-Helpline-Chat header")
        if lowered.get("sec-fetch-site", "same-origin") == "cross-site":
            raise SignatureInvalid("cross-site post")

    def parse(self, body: bytes) -> list[InboundEvent]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise MalformedPayload("not JSON") from None
        try:
            delivery = WebChatDelivery.model_validate(data)
        except ValidationError:
            return [Ignored("webchat.malformed")]
        if not VISITOR_RE.match(delivery.visitor):
            return [Ignored("webchat.invalid_sender")]
        if delivery.helpline is not None and not HELPLINE_ID_RE.match(delivery.helpline):
            return [Ignored("webchat.malformed")]
        text = (delivery.text or "").strip() or None
        if text is None and not delivery.choice:
            return [Ignored("webchat.empty")]
        message_id = (
            delivery.id if delivery.id and MESSAGE_ID_RE.match(delivery.id)
            else secrets.token_urlsafe(12)
        )
        return [
            InboundMessage(
                channel=ChannelName.WEBCHAT,
                # Scoped by visitor: every page numbers its messages c-1, c-2...
                provider_message_id=f"{delivery.visitor}/{message_id}",
                sender=delivery.visitor,
                reply_to=delivery.visitor,
                kind=MessageKind.CHOICE if delivery.choice else MessageKind.TEXT,
                text=text,
                sent_at=self._clock(),
                choice=delivery.choice or None,
                language=delivery.language,
                # The helpline whose page it came from picks the queue, as a
                # WhatsApp number does; an id nobody has is dropped by intake.
                account=delivery.helpline or PAGE_HELPLINE,
            )
        ]

    async def fetch_media(self, ref: MediaRef, sink: MediaSink) -> None:
        # The chat page sends text only: no web chat delivery names a media
        # ref, so a request for one is a stale or foreign row.
        raise MediaFetchError("webchat:no_media", gone=True)

    async def discard_media(self, ref: MediaRef) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.attachment is not None:
            # A volunteer's photo or PDF cannot reach a chat page (text only).
            raise ChannelSendError("fail", "webchat:attachments_unsupported")
        if message.kind == "read_receipt":
            return SendResult(provider_message_id="")
        if not VISITOR_RE.match(message.to):
            raise ChannelSendError("fail", "webchat:bad_address")
        if message.kind != "text" or not message.text:
            raise ChannelSendError("fail", "webchat:empty_message")
        provider_id = f"{PROVIDER_PREFIX}{secrets.token_urlsafe(12)}"
        # Delivered is what it is: the page has no phone to be offline on. A
        # visitor without an open page reads it later from the database.
        self.streams.push(message.to, {
            "ref": self._ref_of(provider_id),
            "direction": "out",
            "body": message.text,
            "at": self._clock().isoformat(),
            "buttons": [{"id": b.id, "title": b.title} for b in message.buttons],
        })
        return SendResult(provider_message_id=provider_id)
