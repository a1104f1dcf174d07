"""A volunteer attaches a photo or a PDF to a reply (a clinic's leaflet, a map
of the walk-in hour): cleaned like a texter's media, sealed under the texter's
data key with the conversation, and sent through the outbox (WhatsApp: upload
then send by media id; Signal: a base64 attachment).

Only what a texter's phone shows safely goes out: JPEG, PNG or WebP photos
(re-encoded, so a volunteer's own camera data never reaches the texter) and
PDF documents (rewritten without their metadata; one that cannot be rewritten
is refused, so nothing of its author reaches the texter).
"""

from __future__ import annotations

from typing import Any

from helpline import logs
from helpline.console.conversation_access import (
    MAX_BODY,
    Actor,
    ConversationClosed,
    NotClaimed,
    audit_action,
    clean_text,
    load,
    publish,
    texter_and_key,
)
from helpline.console.conversation_views import message_dict
from helpline.errors import HelplineError
from helpline.live.bus import LiveEvent
from helpline.media import sniff
from helpline.media import store as media_store
from helpline.media.cleaning import Uncleanable, clean
from helpline.outbound.conversations import queue_outbound
from helpline.services import Services
from helpline.store.models import MediaItem

ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
_SENDABLE = {
    "image/jpeg": "image", "image/png": "image", "image/webp": "image",
    "application/pdf": "document",
}


class NoAttachmentsOnThisChannel(HelplineError):
    status_code = 422
    public_message = "the web chat carries text only: describe or link the file instead"


class AttachmentRefused(HelplineError):
    status_code = 422
    public_message = "attach a JPEG, PNG or WebP photo or a PDF document (at most 10 MB)"


class AttachmentNotCleanable(HelplineError):
    status_code = 422
    public_message = (
        "this PDF is encrypted or damaged, so its author and other metadata cannot be "
        "removed: save or print it as a new, unprotected PDF and attach that"
    )


def prepare(data: bytes) -> tuple[str, str, bytes]:
    """(kind, content type, cleaned bytes) of an upload, or AttachmentRefused."""
    if not data or len(data) > ATTACHMENT_MAX_BYTES:
        raise AttachmentRefused()
    content_type = sniff.sniff(data[:64], "image")
    kind = _SENDABLE.get(content_type or "")
    if kind is None or content_type is None:
        raise AttachmentRefused()
    try:
        cleaned = clean(content_type, data)
    except Uncleanable:
        raise AttachmentRefused() from None
    if not cleaned.metadata_removed:
        raise AttachmentNotCleanable()
    return kind, cleaned.content_type, bytes(cleaned.data)


def send_attachment(
    services: Services, actor: Actor, conversation_id: str, data: bytes, caption: str | None
) -> dict[str, Any]:
    # Who may write here is checked before the (costly) cleaning: a stranger's
    # upload to someone else's conversation learns nothing from a 422.
    with services.db.read_session() as session:
        channel = load(session, actor, conversation_id).channel
    if channel == "webchat":
        # Said before anything is queued: the chat page shows text only, so
        # the file would fail in the outbox after the volunteer moved on.
        raise NoAttachmentsOnThisChannel()
    kind, content_type, cleaned = prepare(data)
    text = clean_text(caption, MAX_BODY) if caption and caption.strip() else ""
    now = services.now()
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        if conversation.status == "closed":
            raise ConversationClosed()
        if conversation.claimed_by_id != actor.user_id:
            raise NotClaimed()
        texter, key = texter_and_key(services, session, conversation)
        message = queue_outbound(
            services, session, texter=texter, conversation=conversation, text=text, key=key,
            now=now, author_kind="user", author_id=actor.user_id, kind=kind,
        )
        item = MediaItem(message_id=message.id, conversation_id=conversation.id,
                         texter_id=texter.id, kind=kind, created_at=now, next_attempt_at=now)
        media_store.record(item, media_store.seal(services.settings, item.id, key, cleaned),
                           content_type, now)
        session.add(item)
        texter.last_activity_at = now
        audit_action(services, session, actor, "message.attachment", conversation.id)
        session.flush()
        result = message_dict(services, key, message, {actor.user_id: actor.alias}, [item])
        event = LiveEvent(kind="message", conversation=conversation.id, message=message.id,
                          queue=conversation.queue)
    publish(services, [event])
    services.wakeup.set()
    logs.event("console.attachment", conversation=conversation_id, message=result["id"],
               kind=kind, user=actor.user_id)
    return result
