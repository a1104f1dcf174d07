"""How a media item appears in the conversation view: kind, state, a URL to
fetch it from once stored, or the notice a volunteer reads instead."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from helpline.store.models import MediaItem

# What a volunteer reads where a file could not be kept, by state.
NOTICES = {
    "pending": "being fetched",
    "failed": "could not be fetched: ask the texter to send it again",
    "refused": "not kept (too large or not a photo, voice note, video or PDF): "
    "ask the texter to send it another way",
}

# What a volunteer reads beside a file that is kept but could not be cleaned.
WARNINGS = {
    "media:not_cleaned": "this PDF is encrypted or damaged, so what it says about who made "
    "it (author, software, dates) could not be removed: open it with care, do not forward it",
}


def media_entry(conversation_id: str, item: MediaItem) -> dict[str, Any]:
    """The conversation view's description of one media item (no content)."""
    warning = WARNINGS.get(item.error_reason or "") if item.state == "stored" else None
    entry: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "state": item.state,
        "content_type": item.content_type if item.state == "stored" else None,
        "size": item.size if item.state == "stored" else None,
        "notice": NOTICES.get(item.state),
        "warning": warning,
        "warning_code": item.error_reason if warning else None,
        "url": (
            f"/api/conversations/{conversation_id}/media/{item.id}"
            if item.state == "stored" else None
        ),
    }
    return entry


def message_media(session: Session, message_ids: list[str]) -> dict[str, list[MediaItem]]:
    """The media of some messages, for the conversation view."""
    if not message_ids:
        return {}
    found: dict[str, list[MediaItem]] = {}
    for item in session.exec(
        select(MediaItem).where(col(MediaItem.message_id).in_(message_ids))
        .order_by(col(MediaItem.created_at))
    ).all():
        found.setdefault(item.message_id, []).append(item)
    return found
