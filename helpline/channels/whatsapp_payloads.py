"""The WhatsApp Cloud API webhook, as pydantic models: what a body may hold, and what we read of it.

https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
The models have no field for profile names, location coordinates or contact cards, so
those are dropped at the first step (helpline/channels/whatsapp_cloud.py says why);
unknown fields are ignored and an unknown shape becomes `Ignored`, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from helpline.channels.base import (
    DeliveryState,
    Ignored,
    MediaRef,
    MessageKind,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# --- Webhook models ----------------------------------------------------------
# Each level is validated on its own, so a broken message becomes one `Ignored`
# instead of discarding the whole batch. Lists are `list[Any]` for that reason.


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# {"object": "whatsapp_business_account",
#  "entry": [{"id": "<WABA_ID>", "changes": [{"field": "messages", "value": {...}}]}]}
class _Envelope(_Model):
    object: str | None = None
    entry: list[Any] = Field(default_factory=list)


class _Entry(_Model):
    changes: list[Any] = Field(default_factory=list)


class _Change(_Model):
    field: str | None = None
    value: Any = None


# "value": {"messaging_product": "whatsapp", "metadata": {...},
#   "contacts": [{"profile": {"name": "..."}, "wa_id": "31600000001",
#                 "user_id": "NL.1234567890"}],
#   "messages": [...], "statuses": [...], "errors": [...]}
class _Value(_Model):
    # {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
    metadata: Any = None
    contacts: list[Any] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)
    errors: list[Any] = Field(default_factory=list)


class _Contact(_Model):
    # `profile` (name, username) is deliberately absent: it is never read. A
    # username is a name the texter chose, not an identifier Meta routes on.
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class _Text(_Model):
    body: str | None = None


# media messages: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# "image": {"caption": "...", "mime_type": "image/jpeg", "sha256": "...", "id": "1479537139650973"}
# (documents also carry "filename": never read, it may name the texter)
class _Media(_Model):
    id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    voice: bool | None = None


class _Reply(_Model):
    id: str
    title: str | None = None


# interactive messages: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Ja"}}
# "interactive": {"type": "list_reply", "list_reply": {"id": "pmw", "title": "PMW",
#                                                      "description": "..."}}
class _Interactive(_Model):
    type: str | None = None
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


# button messages: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# "button": {"payload": "STOP", "text": "Stop"}   (template quick-reply)
class _TemplateButton(_Model):
    payload: str | None = None
    text: str | None = None


# reaction messages: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# "reaction": {"message_id": "wamid.HBgL...", "emoji": "\ud83d\ude2e"}  (no/empty emoji: removed)
class _Reaction(_Model):
    emoji: str | None = None


# text messages: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# {"from": "31600000001", "id": "wamid.HBgL...", "timestamp": "1749416383",
#  "type": "text", "text": {"body": "Hoi"}}
# BSUID-only senders: no "from", but "from_user_id": "NL.1234567890"; businesses
# enrolled in parent BSUIDs also get "from_parent_user_id": "NL.ENT.1234567890".
# Group messages carry "group_id" (the Groups API); the helpline never reads them.
class _Message(_Model):
    id: str
    sender_phone: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    group_id: str | None = None
    timestamp: str | int | None = None
    type: str | None = None
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    audio: _Media | None = None
    voice: _Media | None = None
    interactive: _Interactive | None = None
    button: _TemplateButton | None = None
    reaction: _Reaction | None = None
    edit: _Edit | None = None


# edit messages: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/
# {"type": "edit", "edit": {"original_message_id": "wamid.zzz",
#                           "message": {"type": "text", "text": {"body": "fixed"}}}}
class _EditedContent(_Model):
    type: str | None = None
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None


class _Edit(_Model):
    message: _EditedContent | None = None


_Message.model_rebuild()


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status/
# {"id": "wamid.HBgL...", "status": "failed", "timestamp": "1689380458",
#  "recipient_id": "31600000001",            (or "recipient_user_id" for BSUIDs)
#  "errors": [{"code": 131047, "title": "Re-engagement message"}]}
class _StatusError(_Model):
    code: int | str | None = None
    title: str | None = None


class _Status(_Model):
    id: str
    status: str | None = None
    timestamp: str | int | None = None
    errors: list[_StatusError] = Field(default_factory=list)


_STATUS_STATES: Final[Mapping[str, DeliveryState]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "read",  # voice message listened to
    "failed": "failed",
}

_MEDIA_KINDS: Final[Mapping[str, MessageKind]] = {
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "sticker": MessageKind.STICKER,
    "audio": MessageKind.AUDIO,
    "voice": MessageKind.AUDIO,
}

# Authentic notices that carry nothing for a volunteer. `system` bodies name the
# user's profile and old/new number; `revoke` (deleted by the texter) and
# `request_welcome` (chat opened) have no neutral event yet.
_IGNORED_TYPES: Final = frozenset({"system", "revoke", "request_welcome"})


# Sender shapes, checked before anything is stored or answered
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/):
# `wa_id` / `from` are E.164 digits without "+" (at most 15, no leading zero); a
# BSUID is a two-letter country code, a period and an alphanumeric string
# ("US.13491208655302741918"); a parent BSUID has "ENT." after the country code
# (pywa's test data also shows parent ids without it, so it is optional there).
PHONE_SHAPE: Final = re.compile(r"[1-9][0-9]{0,14}")
BSUID_SHAPE: Final = re.compile(r"[A-Z]{2}\.[A-Za-z0-9]{1,64}")
PARENT_BSUID_SHAPE: Final = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,64}")


def _timestamp(raw: str | int | None) -> datetime:
    # A bad timestamp must not cost us the message; ordering falls back to arrival.
    try:
        return datetime.fromtimestamp(int(raw or 0), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return _EPOCH


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Plain dicts keep whatever case the caller used; Starlette Headers lower-case.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None




def _content(message: _Message) -> tuple[MessageKind, str | None, str | None] | Ignored:
    """(kind, text, choice) for a message, or why it is ignored."""
    kind_name = message.type or ""
    if kind_name == "text":
        return MessageKind.TEXT, message.text.body if message.text else None, None
    if kind_name in _MEDIA_KINDS:
        media: _Media | None = getattr(message, kind_name)
        return _MEDIA_KINDS[kind_name], media.caption if media else None, None
    if kind_name == "location":
        return MessageKind.LOCATION, None, None
    if kind_name == "contacts":
        return MessageKind.CONTACTS, None, None
    if kind_name == "interactive" and message.interactive:
        reply = message.interactive.button_reply or message.interactive.list_reply
        if reply is not None:
            return MessageKind.CHOICE, reply.title, reply.id
    if kind_name == "button" and message.button and message.button.payload is not None:
        return MessageKind.CHOICE, message.button.text, message.button.payload
    if kind_name == "reaction":
        emoji = message.reaction.emoji if message.reaction else None
        if not emoji:
            # Removing a reaction tells a volunteer nothing.
            return Ignored(reason="whatsapp.unreaction")
        return MessageKind.REACTION, emoji, None
    if kind_name == "edit" and message.edit and message.edit.message:
        # No neutral "edit" event: the corrected text arrives as a new message,
        # so a volunteer at least sees what the texter meant.
        edited = message.edit.message
        if edited.type == "text":
            return MessageKind.TEXT, edited.text.body if edited.text else None, None
        if edited.type in {"image", "video", "document"}:
            edited_media: _Media | None = getattr(edited, edited.type)
            caption = edited_media.caption if edited_media else None
            return _MEDIA_KINDS[edited.type], caption, None
    # order, nfm_reply, call_permission_reply, unsupported and anything newer.
    return MessageKind.UNSUPPORTED, None, None


def phone_number_id(metadata: Any) -> str | None:
    """Our business number's id in a change's `metadata` (which helpline it
    was sent to), or None when absent or not a string."""
    if not isinstance(metadata, dict):
        return None
    value = metadata.get("phone_number_id")
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _media_ref(message: _Message) -> MediaRef | None:
    """The media id to fetch for a media message (an edit's new media included)."""
    kind_name = message.type or ""
    media: _Media | None = None
    if kind_name in _MEDIA_KINDS:
        media = getattr(message, kind_name)
    elif kind_name == "edit" and message.edit and message.edit.message:
        edited = message.edit.message
        if edited.type in {"image", "video", "document"}:
            media = getattr(edited, edited.type)
    if media is None or not media.id or len(media.id) > 128:
        return None
    return MediaRef(id=media.id, declared_type=media.mime_type, sha256=media.sha256)
