"""Downloading media after the webhook has been answered.

Intake only records a `pending` row with the platform's handle sealed in it
(`enqueue`, same transaction as the message), so a webhook is answered in
milliseconds whatever the file's size. The worker then claims due rows with a
lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, like the outbox), streams the
bytes through the channel adapter into a buffer that refuses to grow past the
kind's cap, sniffs what they really are, cleans them (helpline/media/cleaning.py)
and seals them (helpline/media/store.py). A failing download is retried with
backoff; one that keeps failing, or that the platform says is gone (Meta keeps
media for a limited time), ends as a visible "could not be fetched, ask to
resend" item, never a silent loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session, SQLModel, col, select

from helpline import logs
from helpline.channels.base import InboundMessage, MediaFetchError, MediaRef
from helpline.live.bus import LiveEvent
from helpline.media import sniff
from helpline.media import store as media_store
from helpline.media.cleaning import Uncleanable, clean
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import Conversation, MediaItem, Texter, new_id

MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})
# Cleaning (decoding a photo) always runs on this one thread: spread over the
# default pool's threads, each one's malloc arena kept its own few MB of pixels
# and the worker's resident memory grew by tens of MB.
_CLEANER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-clean")
LEASE = timedelta(minutes=5)
# The reason word on a stored row whose metadata could not be removed (a PDF
# that is encrypted or does not parse): the console warns the volunteer.
NOT_CLEANED = "media:not_cleaned"
_MEDIA = SQLModel.metadata.tables["media"]


def enqueue(
    session: Session, key: bytes, *, message_id: str, conversation_id: str, texter_id: str,
    kind: str, ref: MediaRef, now: datetime,
) -> str:
    """Record a media item to fetch, in the caller's (intake's) transaction."""
    item_id = new_id()
    source = json.dumps({"id": ref.id, "type": ref.declared_type, "sha256": ref.sha256})
    session.connection().execute(
        insert(_MEDIA),
        {
            "id": item_id, "message_id": message_id, "conversation_id": conversation_id,
            "texter_id": texter_id, "kind": kind, "state": "pending",
            "source": media_store.seal_source(key, item_id, source), "attempts": 0,
            "next_attempt_at": now, "created_at": now,
        },
    )
    return item_id


def backoff(attempt: int) -> float:
    """Seconds before the next try: full jitter under a capped exponential
    (10 s, 20 s, 40 s ... 15 min), well inside the media URL's lifetime."""
    ceiling = min(900.0, 10.0 * (2 ** max(0, attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto


def enqueue_for(
    services: Services, session: Session, key: bytes, event: InboundMessage, message_id: str,
    conversation: Conversation, now: datetime,
) -> bool:
    """Queue the fetch of an inbound message's media, if it has any, and count
    the conversation as one with media of each kind (statistics)."""
    if event.kind.value not in MEDIA_KINDS:
        return False
    refs = [ref for ref in (event.media, *event.more_media) if ref is not None]
    kinds = {event.kind.value} | {ref.kind for ref in refs if ref.kind in MEDIA_KINDS}
    for kind in sorted(k for k in kinds if k is not None):
        counting.record_media(services, session, conversation, kind)
    for ref in refs:
        kind = ref.kind if ref.kind in MEDIA_KINDS else event.kind.value
        enqueue(session, key, message_id=message_id, conversation_id=conversation.id,
                texter_id=conversation.texter_id, kind=kind or event.kind.value, ref=ref,
                now=now)
    return bool(refs)


class TooLarge(Exception):
    """The download passed the kind's cap: stopped, nothing kept."""


class CappedBuffer:
    """The sink a channel streams into: counts while it receives, so a file
    declared small but sent huge is cut off at the cap, not after it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > self.limit:
            raise TooLarge()
        self.data += chunk


@dataclass(frozen=True)
class Claimed:
    id: str
    channel: str
    kind: str
    ref: MediaRef
    attempts: int


def claim(services: Services, *, limit: int = 4) -> list[Claimed]:
    now = services.now()
    out: list[Claimed] = []
    with services.db.session() as session:
        query = (
            select(MediaItem, Texter)
            .join(Texter, col(Texter.id) == MediaItem.texter_id)
            .where(MediaItem.state == "pending", col(MediaItem.next_attempt_at) <= now)
            # Only channels this process can fetch from: rows of another (a
            # simulator turned off) must not fill every batch and starve the rest.
            .where(col(Texter.channel).in_(sorted(services.channels)))
            .where(col(MediaItem.locked_until).is_(None) | (col(MediaItem.locked_until) < now))
            .order_by(col(MediaItem.next_attempt_at))
            .limit(limit)
        )
        if not services.db.is_sqlite:
            query = query.with_for_update(of=MediaItem, skip_locked=True)
        for item, texter in session.exec(query).all():
            try:
                key = services.vault.key(session, texter.data_key_id)
                source = json.loads(media_store.open_source(key, item))
                ref = MediaRef(id=str(source["id"]), declared_type=source.get("type"),
                               sha256=source.get("sha256"))
            except Exception:  # noqa: BLE001 - a broken row must not stop the queue
                _give_up(item, "failed", "media:unreadable", now)
                continue
            item.attempts += 1
            item.locked_until = now + LEASE
            out.append(Claimed(item.id, texter.channel, item.kind, ref, item.attempts))
    return out


def _give_up(item: MediaItem, state: str, reason: str, now: datetime) -> None:
    item.state = state
    item.error_reason = reason[:64]
    item.source = None
    item.locked_until = None
    item.stored_at = now


def _live(session: Session, item: MediaItem) -> LiveEvent:
    conversation = session.get(Conversation, item.conversation_id)
    return LiveEvent(kind="media", conversation=item.conversation_id, message=item.message_id,
                     queue=conversation.queue if conversation else None, state=item.state)


def settle_stored(
    services: Services, claimed: Claimed, data: bytes | bytearray
) -> LiveEvent | None:
    """Sniff, clean and seal; or refuse what is not a kept type."""
    now = services.now()
    content_type = sniff.sniff(bytes(data[:64]), claimed.kind)
    cleaned = None
    reason = None
    if not sniff.allowed(claimed.kind, content_type):
        reason = "media:type_refused"
    else:
        try:
            cleaned = clean(content_type or "", data)
        except Uncleanable:
            reason = "media:unreadable_file"
    sealed = None
    if cleaned is not None:
        # Key and file first, outside the write transaction (see store.seal).
        with services.db.read_session() as session:
            row = session.exec(
                select(Texter.data_key_id).join(MediaItem, col(MediaItem.texter_id) == Texter.id)
                .where(MediaItem.id == claimed.id)
            ).first()
            if row is None:  # erased meanwhile
                return None
            key = services.vault.key(session, row)
        sealed = media_store.seal(services.settings, claimed.id, key, cleaned.data)
    with services.db.session() as session:
        item = session.get(MediaItem, claimed.id)
        if item is None:  # erased meanwhile: its file must not outlive it
            if sealed is not None and sealed.blob_ref:
                media_store.delete_files(services.settings, [sealed.blob_ref])
            return None
        if cleaned is None or sealed is None:
            _give_up(item, "refused", reason or "media:refused", now)
            logs.event("media.refused", media=item.id, reason=item.error_reason)
        else:
            media_store.record(item, sealed, cleaned.content_type, now)
            if not cleaned.metadata_removed:
                # Kept (the volunteer may need it), but said: its metadata is still in it.
                item.error_reason = NOT_CLEANED
            logs.event("media.stored", media=item.id, kind=item.kind,
                       state="inline" if item.blob_ref is None else "file",
                       reason=item.error_reason)
        session.flush()
        return _live(session, item)


def settle_failed(
    services: Services, claimed: Claimed, reason: str, *, gone: bool = False,
    refused: bool = False,
) -> LiveEvent | None:
    now = services.now()
    with services.db.session() as session:
        item = session.get(MediaItem, claimed.id)
        if item is None:
            return None
        if refused:
            _give_up(item, "refused", reason, now)
        elif gone or item.attempts >= services.settings.media_fetch_max_attempts:
            _give_up(item, "failed", reason, now)
            logs.event("media.failed", logging.WARNING, media=item.id, reason=item.error_reason)
        else:
            delay = backoff(item.attempts)
            item.next_attempt_at = now + timedelta(seconds=delay)
            item.locked_until = None
            item.error_reason = reason[:64]
            logs.event("media.retry", media=item.id, attempt=item.attempts,
                       delay=round(delay, 1), reason=item.error_reason)
            return None
        session.flush()
        return _live(session, item)


async def fetch_one(services: Services, claimed: Claimed) -> None:
    channel = services.channels[claimed.channel]
    buffer = CappedBuffer(sniff.cap(claimed.kind))
    live: LiveEvent | None
    try:
        await channel.fetch_media(claimed.ref, buffer)
    except TooLarge:
        buffer.data = bytearray()
        live = await asyncio.to_thread(
            settle_failed, services, claimed, "media:too_large", refused=True
        )
    except MediaFetchError as exc:
        live = await asyncio.to_thread(settle_failed, services, claimed, exc.reason,
                                       gone=exc.gone)
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the queue
        live = await asyncio.to_thread(
            settle_failed, services, claimed, f"media:{type(exc).__name__}"[:64]
        )
    else:
        live = await asyncio.get_running_loop().run_in_executor(
            _CLEANER, settle_stored, services, claimed, buffer.data
        )
        try:
            await channel.discard_media(claimed.ref)
        except MediaFetchError as exc:
            logs.event("media.discard_failed", media=claimed.id, reason=exc.reason)
    if live is not None:
        services.bus.publish(live)


async def run_once(services: Services) -> int:
    claimed = await asyncio.to_thread(claim, services)
    for item in claimed:
        # One at a time: each download may hold up to its cap in memory.
        await fetch_one(services, item)
    return len(claimed)


async def run_fetcher(services: Services, stop: asyncio.Event) -> None:
    """Fetch until `stop` is set, beside the outbox worker."""
    poll = services.settings.worker_poll_seconds
    while not stop.is_set():
        try:
            done = await run_once(services)
        except Exception as exc:  # noqa: BLE001 - keep the worker alive
            logs.event("media.fetcher_error", logging.WARNING, error=type(exc).__name__)
            done = 0
        if not done:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)


__all__ = ["claim", "enqueue", "run_fetcher", "run_once"]
