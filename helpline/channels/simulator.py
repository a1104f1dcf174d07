"""The simulator: a phone-like chat page in the browser, as a channel adapter.

It exists so anyone can try the helpline without a WhatsApp business account or
a Signal number (`helpline demo`), and so volunteers can train on scripted
practice texters. It is a real adapter like `whatsapp_cloud` and `signal_cli`:
what the page sends goes through `verify` and `parse` into the same intake,
routing, outbox and console as every other channel, and replies leave through
the outbox worker and `send`.

The "platform" is the simulator page itself. A simulated texter is a random
session id kept in the browser (localStorage); it plays the part of a phone
number, so intake only ever stores its blind index and its sealed reply address,
exactly as for a real texter. Practice texters get the address
`practice:<session>`, so a practice run can never continue a real simulated
conversation or the other way round.

Threats this module answers:

- A page elsewhere on the web posting into the simulator from a visitor's
  browser. Every post must carry the `X-Simulator` header, which a cross-origin
  page cannot add without a CORS preflight that we never grant; `Sec-Fetch-Site:
  cross-site` is refused outright.
- Guessing someone's simulated conversation. Session ids are at least 16
  characters from a 64-symbol alphabet (the page makes 22, 128 bits).
- Content in memory. `send` remembers only provider ids (to report "read" back
  when the page has shown a reply), never the text: the page reads replies
  from the database, decrypted, like the console does.

Example post from the page::

    POST /simulator/api/messages
    X-Simulator: 1
    {"session": "q2B4...22 chars", "id": "m-1732780000-1", "text": "Hoi"}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime

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

__all__ = ["PRACTICE_PREFIX", "Mailbox", "SimulatorChannel", "SimulatorPost", "session_address"]

SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
PRACTICE_PREFIX = "practice:"
MAX_TEXT = 4096
# A photo or voice note from the page, base64 in the JSON post (the route caps
# the body); kept in memory only until the media fetcher has sealed it.
MAX_MEDIA_BASE64 = 8 * 1024 * 1024
_MEDIA_KINDS = {"image": MessageKind.IMAGE, "audio": MessageKind.AUDIO}


class SimulatorPost(BaseModel):
    """What the page posts for one typed message or tapped button."""

    model_config = ConfigDict(extra="ignore")

    session: str = Field(min_length=16, max_length=64)
    id: str | None = Field(default=None, max_length=80)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    choice: str | None = Field(default=None, max_length=64)
    practice: bool = False
    media_kind: str | None = Field(default=None, max_length=8)
    media: str | None = Field(default=None, max_length=MAX_MEDIA_BASE64)


def session_address(session: str, *, practice: bool) -> str:
    """The simulated "phone number" of a browser session."""
    return f"{PRACTICE_PREFIX}{session}" if practice else session


class Mailbox:
    """Provider ids of replies handed to the page, per address, until the page
    has fetched them (then they are reported as read). Ids only, bounded."""

    def __init__(self, per_address: int = 200, addresses: int = 5000) -> None:
        self._boxes: dict[str, deque[str]] = {}
        self._per_address = per_address
        self._addresses = addresses
        self._lock = threading.Lock()

    def put(self, address: str, provider_id: str) -> None:
        with self._lock:
            box = self._boxes.get(address)
            if box is None:
                if len(self._boxes) >= self._addresses:
                    self._boxes.pop(next(iter(self._boxes)))
                box = self._boxes[address] = deque(maxlen=self._per_address)
            box.append(provider_id)

    def take(self, address: str) -> list[str]:
        with self._lock:
            box = self._boxes.pop(address, None)
        return list(box) if box else []


class SimulatorChannel:
    name = ChannelName.SIMULATOR

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.mailbox = Mailbox()
        self._uploads: dict[str, bytes] = {}
        self._uploads_lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("x-simulator") != "1":
            raise SignatureInvalid("missing X-Simulator header")
        if lowered.get("sec-fetch-site", "same-origin") == "cross-site":
            raise SignatureInvalid("cross-site post")

    def read(self, body: bytes) -> SimulatorPost:
        """Validate a post from the page; raise `MalformedPayload` when it is not one."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise MalformedPayload("not JSON") from None
        try:
            post = SimulatorPost.model_validate(data)
        except ValidationError:
            raise MalformedPayload("not a simulator post") from None
        if not SESSION_RE.match(post.session):
            raise MalformedPayload("bad session id")
        return post

    def parse(self, body: bytes) -> list[InboundEvent]:
        post = self.read(body)
        text = (post.text or "").strip() or None
        media = self._take_upload(post)
        if text is None and not post.choice and media is None:
            return [Ignored("simulator.empty")]
        message_id = post.id if post.id and MESSAGE_ID_RE.match(post.id) else None
        address = session_address(post.session, practice=post.practice)
        return [
            InboundMessage(
                channel=ChannelName.SIMULATOR,
                # Scoped by session: two browsers may both number their messages m-1.
                provider_message_id=f"{address}/{message_id or secrets.token_urlsafe(12)}",
                sender=address,
                reply_to=address,
                kind=(
                    _MEDIA_KINDS[post.media_kind or ""] if media is not None
                    else MessageKind.CHOICE if post.choice else MessageKind.TEXT
                ),
                text=text,
                sent_at=self._clock(),
                choice=post.choice or None,
                media=media,
            )
        ]

    def _take_upload(self, post: SimulatorPost) -> MediaRef | None:
        if not post.media or post.media_kind not in _MEDIA_KINDS:
            return None
        try:
            data = base64.b64decode(post.media, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedPayload("media is not base64") from None
        ref = MediaRef(id=secrets.token_urlsafe(12))
        with self._uploads_lock:
            if len(self._uploads) >= 100:
                # A page posting faster than the fetcher runs loses its oldest
                # upload (it becomes an "ask to resend" item), not the memory.
                self._uploads.pop(next(iter(self._uploads)))
            self._uploads[ref.id] = data
        return ref

    async def fetch_media(self, ref: MediaRef, sink: MediaSink) -> None:
        with self._uploads_lock:
            data = self._uploads.get(ref.id)
        if data is None:
            raise MediaFetchError("simulator:gone", gone=True)
        for start in range(0, len(data), 64 * 1024):
            sink(data[start : start + 64 * 1024])

    async def discard_media(self, ref: MediaRef) -> None:
        with self._uploads_lock:
            self._uploads.pop(ref.id, None)

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.kind == "read_receipt":
            return SendResult(provider_message_id="")
        if not SESSION_RE.match(message.to.removeprefix(PRACTICE_PREFIX)):
            raise ChannelSendError("fail", "simulator:bad_address")
        if message.kind == "text" and not message.text and message.attachment is None:
            raise ChannelSendError("fail", "simulator:empty_message")
        provider_id = f"sim.{secrets.token_urlsafe(12)}"
        self.mailbox.put(message.to, provider_id)
        return SendResult(provider_message_id=provider_id)
