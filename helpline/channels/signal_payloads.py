"""signal-cli-rest-api's receive and send bodies as pydantic models, and the readers they need.

https://github.com/bbernhard/signal-cli-rest-api/blob/master/src/api/api.go (receive, v2/send)
Names (`sourceName`, profile names) have no field here, so they are dropped at the first
step; unknown fields are ignored (helpline/channels/signal_cli.py says why).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from helpline.channels.base import (
    MessageKind,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# --- Receive models ----------------------------------------------------------
# Field names follow signal-cli's JSON output (JsonMessageEnvelope and friends in
# AsamK/signal-cli, src/main/java/org/asamk/signal/json/). Payloads we only need
# to recognise are typed `Any`: their content is never read.


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# {"contentType": "image/jpeg", "filename": null, "id": "Xy12.jpg", "size": 52311,
#  "width": 1024, "height": 768, "caption": null, "uploadTimestamp": 1700000000100}
class _Attachment(_Model):
    # `filename` is deliberately absent: it may name the texter.
    id: str | None = None
    content_type: str | None = Field(default=None, alias="contentType")
    caption: str | None = None


# {"emoji": "👍", "targetAuthor": "...", "targetAuthorNumber": null,
#  "targetAuthorUuid": "...", "targetSentTimestamp": 1700000000000, "isRemove": false}
class _Reaction(_Model):
    emoji: str | None = None
    is_remove: bool = Field(default=False, alias="isRemove")


# "dataMessage": {"timestamp": 1700000000000, "message": "Hoi", "expiresInSeconds": 0,
#   "viewOnce": false, "attachments": [...], "reaction": {...}, "sticker": {...},
#   "groupInfo": {"groupId": "...", "groupName": "...", "revision": 3, "type": "DELIVER"},
#   "quote": {...}, "mentions": [...], "contacts": [...], "remoteDelete": {...}}
class _DataMessage(_Model):
    timestamp: int | None = None
    message: str | None = None
    attachments: list[_Attachment] | None = None
    reaction: _Reaction | None = None
    sticker: Any = None
    contacts: list[Any] | None = None
    group_info: Any = Field(default=None, alias="groupInfo")
    # Older signal-cli versions spelled v2 groups separately.
    group_v2: Any = Field(default=None, alias="groupV2")
    remote_delete: Any = Field(default=None, alias="remoteDelete")
    is_expiration_update: bool = Field(default=False, alias="isExpirationUpdate")
    # Content a volunteer cannot see here but should know arrived.
    payment: Any = None
    poll_create: Any = Field(default=None, alias="pollCreate")
    poll_vote: Any = Field(default=None, alias="pollVote")


# "editMessage": {"targetSentTimestamp": 1700000000000, "dataMessage": {...}}
class _EditMessage(_Model):
    data_message: _DataMessage | None = Field(default=None, alias="dataMessage")


# "receiptMessage": {"when": 1700000005000, "isDelivery": true, "isRead": false,
#                    "isViewed": false, "timestamps": [1700000000000]}
class _ReceiptMessage(_Model):
    when: int | None = None
    is_delivery: bool = Field(default=False, alias="isDelivery")
    is_read: bool = Field(default=False, alias="isRead")
    is_viewed: bool = Field(default=False, alias="isViewed")
    timestamps: list[int] = Field(default_factory=list)


# "envelope": {"source": "<uuid or number>", "sourceNumber": null,
#   "sourceUuid": "a1b2c3d4-...", "sourceName": "<profile name>", "sourceDevice": 1,
#   "timestamp": 1700000000000, "serverReceivedTimestamp": ..., "serverDeliveredTimestamp": ...,
#   "dataMessage" | "editMessage" | "syncMessage" | "typingMessage" | "receiptMessage"
#   | "callMessage" | "storyMessage": {...}}
# `sourceName` deliberately has no field: a profile name must never get further.
class _Envelope(_Model):
    source: str | None = None
    source_number: str | None = Field(default=None, alias="sourceNumber")
    source_uuid: str | None = Field(default=None, alias="sourceUuid")
    timestamp: int | None = None
    data_message: _DataMessage | None = Field(default=None, alias="dataMessage")
    edit_message: _EditMessage | None = Field(default=None, alias="editMessage")
    receipt_message: _ReceiptMessage | None = Field(default=None, alias="receiptMessage")
    sync_message: Any = Field(default=None, alias="syncMessage")
    typing_message: Any = Field(default=None, alias="typingMessage")
    call_message: Any = Field(default=None, alias="callMessage")
    story_message: Any = Field(default=None, alias="storyMessage")


# {"envelope": {...}, "account": "+31600000001"}, plus "exception":
# {"message": "...", "type": "UntrustedIdentityException"} when signal-cli could not
# decrypt or process the envelope (JsonReceiveMessageHandler).
class _Frame(_Model):
    envelope: Any = None
    account: str | None = None
    exception: Any = None


# --- Send models ---------------------------------------------------------------
# 201 from POST /v2/send (api.SendMessageResponse): {"timestamp": "1700000000000"}.
# signal-cli's own JSON output, which some deployments pass through, is
# {"timestamp": 1700000000000, "results": [{"recipientAddress": {...},
#  "type": "SUCCESS", "token": null, "retryAfterSeconds": null}]}.
class _SendResultItem(_Model):
    type: str | None = None
    token: str | None = None
    retry_after_seconds: float | None = Field(default=None, alias="retryAfterSeconds")


class _SendResponse(_Model):
    timestamp: int | str | None = None
    results: list[_SendResultItem] = Field(default_factory=list)


# Errors are {"error": "<signal-cli text>"} (api.Error), or since 0.8x for rate
# limits {"error": "...", "challenge_tokens": ["..."], "account": "+31..."}
# (api.SendMessageError, HTTP 429). A JSON-RPC passthrough puts the error in an
# object: {"error": {"code": -5, "message": "...", "data": {"response":
#   {"timestamp": ..., "results": [{"type": "RATE_LIMIT_FAILURE", "token": "...",
#   "retryAfterSeconds": 86400}]}}}}.
class _RpcErrorResponse(_Model):
    results: list[_SendResultItem] = Field(default_factory=list)


class _RpcErrorData(_Model):
    response: _RpcErrorResponse | None = None


class _RpcError(_Model):
    message: str | None = None
    data: _RpcErrorData | None = None


class _ErrorBody(_Model):
    error: str | _RpcError | None = None
    challenge_tokens: list[str | None] | None = None


def _timestamp(ms: int | None) -> datetime:
    # Integer arithmetic keeps milliseconds exact; a bad value must not cost us
    # the message, ordering then falls back to arrival.
    if ms is None or ms <= 0:
        return _EPOCH
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return _EPOCH


def _canonical_uuid(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        return None


def _attachment_kind(content_type: str | None) -> MessageKind:
    major = (content_type or "").split("/", 1)[0].strip().lower()
    if major == "image":
        return MessageKind.IMAGE
    if major == "audio":  # voice notes arrive as audio/aac
        return MessageKind.AUDIO
    if major == "video":
        return MessageKind.VIDEO
    return MessageKind.DOCUMENT


