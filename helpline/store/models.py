"""Tables. Every column is classified in `tests/store/test_data_inventory.py`.

No column holds an IP address, user agent, raw provider id, phone number, UUID
or profile name. Person-linked content is an encrypted envelope (bytes); the
only link from a channel identifier to a row is the keyed blind index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from helpline.store.columns import (
    DEFAULT_HELPLINE_ID,
    UTCDateTime,
    blob,
    naive_utc,
    new_id,
    owner,
    ts,
)
from helpline.store.helpline_tables import Helpline, Membership

# The peer-safety tables (issue 18) live in their own module; importing it here
# registers them wherever the models are imported (migrations, erasure, backup).
from helpline.store.safety_models import (
    AlertDelivery,
    SafetyAlert,
    SwitchCode,
    VolunteerNotifier,
)

__all__ = [
    "DEFAULT_HELPLINE_ID",
    "AlertDelivery",
    "Helpline",
    "Membership",
    "SafetyAlert",
    "SwitchCode",
    "UTCDateTime",
    "VolunteerNotifier",
    "blob",
    "naive_utc",
    "new_id",
    "owner",
    "ts",
]


class DataKey(SQLModel, table=True):
    """A per-person data key, wrapped by the master key. Deleting the row is erasure."""

    __tablename__ = "data_keys"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    wrapped: bytes = blob()
    master_key_id: str = Field(max_length=16, index=True)
    created_at: datetime = ts()


class Texter(SQLModel, table=True):
    __tablename__ = "texters"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    helpline_id: str = owner()
    blind_index: str = Field(
        sa_column=Column(String(64), unique=True, nullable=False)
    )
    pseudonym: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    data_key_id: str = Field(foreign_key="data_keys.id", max_length=32)
    channel: str = Field(max_length=16)
    reply_address: bytes = blob()
    language: str | None = Field(default=None, max_length=8)
    stopped: bool = False
    practice: bool = False
    pending_kind: str | None = Field(default=None, max_length=16)
    pending_partner: str | None = Field(default=None, max_length=64)
    pending_asked_at: datetime | None = ts(nullable=True)
    # Until when the texter was told the line is closed (once per closed period).
    after_hours_notice_until: datetime | None = ts(nullable=True)
    created_at: datetime = ts()
    last_activity_at: datetime = ts(index=True)
    last_inbound_at: datetime | None = ts(nullable=True)
    # Subscribed to safety alerts since (ALERTS / MELDINGEN); erased with the row.
    alerts_since: datetime | None = ts(nullable=True)


class TexterIdentifier(SQLModel, table=True):
    """A further blind-index value of one texter: the same person seen under
    another identifier (a BSUID or parent BSUID next to a WhatsApp number, a
    Signal number next to the UUID). `texters.blind_index` holds the first one;
    any of them finds the same texter, and erasure deletes them with the rest
    (every table with a `texter_id` column is erased)."""

    __tablename__ = "texter_identifiers"
    blind_index: str = Field(sa_column=Column(String(64), primary_key=True))
    texter_id: str = Field(foreign_key="texters.id", max_length=32, index=True)
    created_at: datetime = ts()


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    helpline_id: str = owner()
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)
    channel: str = Field(max_length=16)
    queue: str = Field(default="peer", max_length=64, index=True)
    priority: str = Field(default="normal", max_length=8)
    status: str = Field(default="open", max_length=8, index=True)
    claimed_by_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    claimed_at: datetime | None = ts(nullable=True)
    created_at: datetime = ts()
    last_message_at: datetime = ts(index=True)
    # When the oldest inbound message without a human answer arrived; the queue
    # is ordered by it ("longest waiting").
    waiting_since: datetime | None = ts(nullable=True)
    first_response_at: datetime | None = ts(nullable=True)
    closed_at: datetime | None = ts(nullable=True)
    practice: bool = False
    # Set by a volunteer so colleagues open it prepared (issue 18.4); who set
    # it is in the audit log, not here.
    content_warning: bool = False
    # Which statistics this conversation already moved (helpline.stats.counting), so a
    # texter sending 500 messages moves each count at most once. Deleted with
    # the conversation; the counts themselves live in stat_counts.
    stats_flags: str = Field(default="", max_length=2000)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)
    direction: str = Field(max_length=3)  # in / out
    kind: str = Field(default="text", max_length=16)
    body: bytes | None = blob(nullable=True)
    author_kind: str = Field(default="texter", max_length=8)  # texter / bot / user
    author_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    status: str = Field(default="received", max_length=12)
    error_reason: str | None = Field(default=None, max_length=64)
    # Keyed hash of the provider's message id, to apply delivery statuses.
    provider_ref: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = ts(index=True)
    status_at: datetime | None = ts(nullable=True)
    # Inbound WhatsApp only, and only with the read-receipts policy on: the
    # provider's message id sealed under the texter's data key (a wamid holds
    # the phone number in base64), cleared once the read receipt is sent.
    provider_message_id: bytes | None = blob(nullable=True)


class MediaItem(SQLModel, table=True):
    """A photo, voice note, video, sticker or document of one message
    (helpline/media/). Until it is fetched, `source` holds the platform's
    handle (sealed: a WhatsApp media id opens the bytes at Meta); once fetched,
    the cleaned bytes are sealed under the texter's data key, in `content` or,
    above the inline threshold, in an encrypted file of the blob directory
    named `blob_ref` (random). No original file name, caption or declared
    size is kept. Hangs off the message, so whatever scopes or erases messages
    (texter_id) covers it."""

    __tablename__ = "media"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    message_id: str = Field(foreign_key="messages.id", index=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)
    kind: str = Field(max_length=16)  # image / audio / video / document / sticker
    # pending / stored / refused (over the cap, unknown type) / failed (ask to resend)
    state: str = Field(default="pending", max_length=12, index=True)
    source: bytes | None = blob(nullable=True)
    content_type: str | None = Field(default=None, max_length=64)
    size: int | None = None
    content: bytes | None = blob(nullable=True)
    blob_ref: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    next_attempt_at: datetime = ts(index=True)
    locked_until: datetime | None = ts(nullable=True)
    error_reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = ts()
    stored_at: datetime | None = ts(nullable=True)


class OutboxItem(SQLModel, table=True):
    """A send to do. Written in the same transaction as what caused it.

    Normally the text is the linked message's body and the address the
    texter's reply address. A *detached* item (the goodbye after an erasure)
    has no texter any more: it carries its own sealed `payload` under its own
    data key, both deleted once it is sent or given up.
    """

    __tablename__ = "outbox"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    message_id: str | None = Field(
        default=None, foreign_key="messages.id", index=True, max_length=32
    )
    texter_id: str | None = Field(
        default=None, foreign_key="texters.id", index=True, max_length=32
    )
    data_key_id: str | None = Field(default=None, foreign_key="data_keys.id", max_length=32)
    payload: bytes | None = blob(nullable=True)
    channel: str = Field(max_length=16)
    kind: str = Field(default="text", max_length=16)  # text / template
    # pending / sending / sent / held / failed
    state: str = Field(default="pending", max_length=12, index=True)
    attempts: int = 0
    next_attempt_at: datetime = ts(index=True)
    locked_until: datetime | None = ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=64)
    # Quick-reply buttons as JSON [[choice id, title], ...]: fixed menu texts.
    buttons: str | None = Field(default=None, max_length=4000)
    created_at: datetime = ts()


class InboxItem(SQLModel, table=True):
    """A webhook delivery taken in but not yet processed (helpline/ingest/inbox.py).

    The raw body holds the sender's number and profile name, so it is sealed
    under a fresh key of its own, wrapped by the master key; the row is
    deleted in the transaction that processes it (on SQLite, right after).
    `ref` is random and only binds the ciphertexts to their row.
    """

    __tablename__ = "inbox"
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(default_factory=new_id, max_length=32)
    channel: str = Field(max_length=16)
    master_key_id: str = Field(max_length=16)
    wrapped_key: bytes = blob()
    body: bytes = blob()
    received_at: datetime = ts()
    attempts: int = 0
    next_attempt_at: datetime = ts(index=True)
    locked_until: datetime | None = ts(nullable=True)


class DedupKey(SQLModel, table=True):
    """Keyed hash of a provider message id already taken in (kept >= 8 days)."""

    __tablename__ = "dedup_keys"
    key: str = Field(primary_key=True, max_length=64)
    created_at: datetime = ts(index=True)


class ErasedKey(SQLModel, table=True):
    """Tombstone of a destroyed data key (erasure, retention): the random key id
    and the day, nothing about the person. `helpline.lifecycle.backup` applies it to the
    key store kept apart from the database, so backups taken before the
    erasure cannot open that key any more; the row is then removed."""

    __tablename__ = "erased_keys"
    key_id: str = Field(primary_key=True, max_length=32)
    erased_on: datetime = ts()


class User(SQLModel, table=True):
    """A console account. `username` is a login handle chosen by the peer group;
    colleagues and texters only ever see `alias`."""

    __tablename__ = "users"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    helpline_id: str = owner()
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    alias: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    role: str = Field(max_length=16)
    partner_id: str | None = Field(default=None, max_length=64)
    password_hash: str = Field(max_length=255)
    data_key_id: str = Field(foreign_key="data_keys.id", max_length=32)
    totp_secret: bytes = blob()
    totp_last_step: int = 0
    disabled: bool = False
    ui_language: str = Field(default="nl", max_length=8)
    created_at: datetime = ts()
    password_changed_at: datetime = ts()


class Referral(SQLModel, table=True):
    """A consent question and its answer: what, to whom, when; no identity."""

    __tablename__ = "referrals"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)
    partner_id: str = Field(max_length=64, index=True)
    # asked / accepted / declined / lapsed / withdrawn
    state: str = Field(default="asked", max_length=12)
    proposed_by: str = Field(default="texter", max_length=8)  # texter / user
    proposed_by_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    note: bytes | None = blob(nullable=True)
    shared: str = Field(default="note+conversation_from_consent", max_length=64)
    asked_at: datetime = ts()
    answered_at: datetime | None = ts(nullable=True)
    withdrawn_at: datetime | None = ts(nullable=True)


class Note(SQLModel, table=True):
    """A private console note on a conversation, sealed under the texter's data
    key (erasure makes it unreadable with everything else). `audience` is
    "peer" or the partner id whose workers wrote it: peers and partners never
    read each other's notes."""

    __tablename__ = "notes"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)
    author_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    audience: str = Field(default="peer", max_length=64)
    body: bytes = blob()
    created_at: datetime = ts()


class ConversationLabel(SQLModel, table=True):
    """A topic label from the fixed list (statistics count these)."""

    __tablename__ = "conversation_labels"
    __table_args__ = (UniqueConstraint("conversation_id", "label"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=32)
    texter_id: str = Field(foreign_key="texters.id", index=True, max_length=32)
    label: str = Field(max_length=32)
    created_at: datetime = ts()


class Alert(SQLModel, table=True):
    """Operational alerts for coordinators (rate limit, captcha); no content."""

    __tablename__ = "alerts"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    helpline_id: str = owner()
    kind: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=16)
    created_at: datetime = ts()
    resolved_at: datetime | None = ts(nullable=True)


class StatCount(SQLModel, table=True):
    """Identifier-free statistics (helpline.stats.counting): a count per fixed bucket.

    No texter, conversation, pseudonym, blind index or timestamp: only the
    bucket ("2026-W48", "2026-11"), what was counted and how often, so the
    figures survive retention and erasure without pointing back at anyone.
    """

    __tablename__ = "stat_counts"
    helpline_id: str = Field(default=DEFAULT_HELPLINE_ID, primary_key=True, max_length=32)
    period: str = Field(primary_key=True, max_length=8)  # week / month
    bucket: str = Field(primary_key=True, max_length=10)
    metric: str = Field(primary_key=True, max_length=32)
    dimension: str = Field(primary_key=True, max_length=16)
    key: str = Field(primary_key=True, max_length=64)
    count: int = 0


class StatPartition(SQLModel, table=True):
    """Freshness of the published statistics per year of buckets ("2026"):
    `version` is bumped in the same transaction as every count upsert in that
    year; `published_version` is the version the rows in `stat_published` were
    computed from. Years suppressed together (their equations connect them)
    share a `group_key`. No identifier, no event time: `published_at` is when
    the counts were read for publishing."""

    __tablename__ = "stat_partitions"
    helpline_id: str = Field(default=DEFAULT_HELPLINE_ID, primary_key=True, max_length=32)
    partition: str = Field(primary_key=True, max_length=8)
    version: int = 0
    published_version: int = 0
    group_key: str = Field(default="", max_length=8)
    published_at: datetime | None = ts(nullable=True)
    threshold: int = 0  # k the published rows were suppressed with
    cost_ms: int = 0


class StatPublished(SQLModel, table=True):
    """The published (already suppressed) value of a statistics cell: a number,
    "<k" or ">=k". Identifier-free like `stat_counts`; read by every app process
    so no request has to recompute the suppression."""

    __tablename__ = "stat_published"
    helpline_id: str = Field(default=DEFAULT_HELPLINE_ID, primary_key=True, max_length=32)
    period: str = Field(primary_key=True, max_length=8)  # week / month / year
    bucket: str = Field(primary_key=True, max_length=10)
    metric: str = Field(primary_key=True, max_length=32)
    dimension: str = Field(primary_key=True, max_length=16)
    key: str = Field(primary_key=True, max_length=64)
    partition: str = Field(max_length=8, index=True)
    value: str = Field(max_length=16)


class ChannelPause(SQLModel, table=True):
    """Sending on a channel from one helpline's number is paused (rate limit,
    captcha) until `until`. Per helpline: a captcha on Zeeland's Signal
    number says nothing about Tilburg's, whose sends go on (0010)."""

    __tablename__ = "channel_pauses"
    helpline_id: str = Field(default=DEFAULT_HELPLINE_ID, primary_key=True, max_length=32)
    channel: str = Field(primary_key=True, max_length=16)
    until: datetime = ts()
    reason: str = Field(max_length=64)


class ConsoleSession(SQLModel, table=True):
    """A signed-in console session. `id` is the SHA-256 of the cookie token, so
    a leaked database (or backup) holds no usable session cookie."""

    __tablename__ = "sessions"
    id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    # The helpline the user works in now (chosen after sign-in when they have
    # roles in several); None until chosen.
    helpline_id: str | None = Field(default=None, foreign_key="helplines.id", max_length=32)
    created_at: datetime = ts()
    last_seen_at: datetime = ts()


class AuditEntry(SQLModel, table=True):
    """Who did what to which pseudonymous object, when. Never content, never a
    typed username. Append-only through the app: no code path updates or deletes."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    helpline_id: str = owner(foreign=False)
    at: datetime = ts(index=True)
    actor_id: str | None = Field(default=None, max_length=32, index=True)
    action: str = Field(max_length=64)
    object_ref: str | None = Field(default=None, max_length=64)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, for throttling. `key` is a keyed hash of the account
    handle or of the client address: the address itself is never stored."""

    __tablename__ = "login_failures"
    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=8)  # account / address
    key: str = Field(max_length=64, index=True)
    at: datetime = ts(index=True)


class SavedReply(SQLModel, table=True):
    """A reply text kept by admins for volunteers, per language (no personal data)."""

    __tablename__ = "saved_replies"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    helpline_id: str = owner()
    language: str = Field(max_length=8, index=True)
    title: str = Field(max_length=120)
    body: str = Field(max_length=4000)
    created_at: datetime = ts()
    updated_at: datetime = ts()


__all__ = [
    "UTCDateTime",
    "naive_utc",
    "DEFAULT_HELPLINE_ID",
    "Alert",
    "AuditEntry",
    "ChannelPause",
    "ConsoleSession",
    "Conversation",
    "ConversationLabel",
    "DataKey",
    "DedupKey",
    "ErasedKey",
    "Helpline",
    "LoginFailure",
    "MediaItem",
    "Membership",
    "Message",
    "Note",
    "OutboxItem",
    "Referral",
    "SavedReply",
    "SQLModel",
    "StatCount",
    "Texter",
    "User",
    "new_id",
]
