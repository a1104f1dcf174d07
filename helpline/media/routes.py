"""Serving media to the console: `GET /api/conversations/{id}/media/{media_id}`.

Only to a user who may read that conversation (the same SQL rule as the
conversation itself, `conversation_access.visible`; a partner only for media
from after the texter's yes). The bytes are served under the type sniffed at
fetch time, never a declared one, with `nosniff` and the console's CSP, so a
file that pretends to be a picture cannot run as a page of our origin; a
document is always a download (`Content-Disposition: attachment`), never
rendered inline; `Cache-Control: no-store` keeps it out of the browser's disk
cache on a shared computer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from helpline import logs
from helpline.console.conversation_access import load, partner_since
from helpline.console.deps import CurrentResponder
from helpline.errors import NotFound
from helpline.http import ServicesDep, read_capped
from helpline.media import attachments
from helpline.media import store as media_store
from helpline.store.models import MediaItem, Message, Texter

router = APIRouter(prefix="/api")

_DOWNLOAD_NAMES = {"application/pdf": "document.pdf"}


def _readable_item(
    session: Session, user: CurrentResponder, conversation_id: str, media_id: str
) -> MediaItem:
    conversation = load(session, user, conversation_id)
    item = session.get(MediaItem, media_id)
    if item is None or item.conversation_id != conversation.id or item.state != "stored":
        raise NotFound()
    since = partner_since(session, user, conversation.id)
    if since is not None:
        message = session.get(Message, item.message_id)
        if message is None or message.created_at < since:
            raise NotFound()
    return item


@router.get("/conversations/{conversation_id}/media/{media_id}")
def get_media(
    conversation_id: str, media_id: str, user: CurrentResponder, services: ServicesDep
) -> Response:
    with services.db.read_session() as session:
        item = _readable_item(session, user, conversation_id, media_id)
        texter = session.get(Texter, item.texter_id)
        if texter is None:
            raise NotFound()
        key = services.vault.key(session, texter.data_key_id)
        try:
            data = media_store.read(services.settings, item, key)
        except FileNotFoundError:
            raise NotFound() from None
        content_type = item.content_type or "application/octet-stream"
        kind = item.kind
    logs.event("media.served", media=media_id, user=user.user_id)
    disposition = "inline"
    if kind == "document" or content_type not in _INLINE_TYPES:
        name = _DOWNLOAD_NAMES.get(content_type, "file")
        disposition = f'attachment; filename="{name}"'
    return Response(
        # A memoryview, so a file opened into a bytearray is not copied again.
        content=memoryview(data),
        media_type=content_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
        },
    )


_INLINE_TYPES = frozenset(
    {
        "image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/mp4", "audio/aac",
        "audio/mpeg", "audio/webm", "video/mp4", "video/webm",
    }
)


@router.post("/conversations/{conversation_id}/attachments", status_code=201)
async def post_attachment(
    conversation_id: str,
    request: Request,
    user: CurrentResponder,
    services: ServicesDep,
    caption: str | None = Query(default=None, max_length=1024),
) -> JSONResponse:
    """The body is the file itself (any declared Content-Type: it is sniffed);
    the reply's text, if any, is the `caption` query parameter."""
    data = await read_capped(request, attachments.ATTACHMENT_MAX_BYTES)
    result: dict[str, Any] = await asyncio.to_thread(
        attachments.send_attachment, services, user, conversation_id, data, caption
    )
    return JSONResponse(result, status_code=201)
