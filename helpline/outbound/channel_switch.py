"""Moving a WhatsApp texter to Signal (issue 18): the one-time code, and the
move itself, carried out inside the intake transaction (`Effects`).

Threats this answers:
- Meta sees who writes to the helpline and when; after the move the WhatsApp
  number is gone from the helpline (blind index, linked identifiers, reply
  address, sealed message ids), so the helpline no longer links the person to
  a WhatsApp account at all.
- A stolen database must not let anyone take over a conversation: only a keyed
  hash of the code is stored (HMAC under the index key, outside the database),
  it lives 24 hours and works once.
- A code that leaks (a shared phone) moves the WhatsApp conversation only to a
  Signal account that never wrote to us before; two existing histories are
  never merged (routing.switch).

The move keeps the WhatsApp texter's row, so the pseudonym, language,
consent records, referrals, notes and the whole history simply continue; the
Signal sender's brand-new texter (created by intake a moment ago for the
code message) is folded into it and deleted, key first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from helpline import logs
from helpline.lifecycle.deletion import delete_texters, register_texter_table
from helpline.outbound.conversations import current_conversation, open_conversation
from helpline.services import Services
from helpline.store.models import (
    Conversation,
    Message,
    Note,
    OutboxItem,
    SwitchCode,
    Texter,
    TexterIdentifier,
)
from routing.switch import CODE_ALPHABET, CODE_LENGTH

register_texter_table(SwitchCode)

CODE_VALID = timedelta(hours=24)
MOVED_NOTE = "Verhuisd van WhatsApp naar Signal / Moved from WhatsApp to Signal"


def _code_hash(services: Services, code: str) -> str:
    return services.index.tag("switch-code", code.upper())


def new_code() -> str:
    """Eight characters without look-alikes, with at least one digit and one
    letter (routing.switch only takes such a line for a code)."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def offer(
    services: Services, session: Session, texter: Texter, now: datetime
) -> dict[str, str] | None:
    """A fresh code for this WhatsApp texter (any earlier one stops working),
    and the params of the offer; None when the helpline has no Signal number."""
    # The texter's own helpline's Signal number: a Zeeland texter moves to
    # Zeeland's Signal, never to another region's.
    digits = services.helpline(texter.helpline_id).signal_number
    if digits is None or not services.settings.signal_enabled or texter.channel != "whatsapp":
        return None
    code = new_code()
    session.execute(delete(SwitchCode).where(col(SwitchCode.texter_id) == texter.id))
    session.execute(delete(SwitchCode).where(col(SwitchCode.expires_at) <= now))
    session.add(SwitchCode(code_hash=_code_hash(services, code), texter_id=texter.id,
                           created_at=now, expires_at=now + CODE_VALID))
    logs.event("switch.offered", texter=texter.id)
    return {
        "number": digits,
        "link": f"https://signal.me/#p/{digits}",
        "code": f"{code[:4]}-{code[4:]}",
        "hours": str(int(CODE_VALID.total_seconds()) // 3600),
    }


@dataclass(frozen=True)
class Moved:
    texter: Texter
    conversation: Conversation
    key: bytes


def accept(
    services: Services,
    session: Session,
    newcomer: Texter,
    newcomer_key: bytes,
    code: str,
    now: datetime,
) -> Moved | None:
    """Move the WhatsApp texter the code belongs to onto the Signal sender
    `newcomer` (created for this very message); None when the code is wrong,
    expired or used, and then nothing changes."""
    row = session.get(SwitchCode, _code_hash(services, code))
    if row is None:
        return None
    session.delete(row)  # used, or expired: either way it never works again
    target = session.get(Texter, row.texter_id)
    if (row.expires_at <= now or target is None or target.channel != "whatsapp"
            or target.helpline_id != newcomer.helpline_id):
        # A code works only at the helpline that gave it: another region's
        # Signal number never takes over this helpline's texter.
        session.flush()
        logs.event("switch.refused", texter=newcomer.id)
        return None
    key = services.vault.key(session, target.data_key_id)
    reply_to = services.vault.open(newcomer_key, newcomer.reply_address, "texters",
                                   "reply_address", newcomer.id)
    signal_blinds = [newcomer.blind_index, *session.exec(
        select(TexterIdentifier.blind_index).where(TexterIdentifier.texter_id == newcomer.id)
    ).all()]
    conversation = current_conversation(session, target) or open_conversation(session, target, now)
    _adopt_messages(services, session, newcomer, newcomer_key, target, key, conversation)
    session.flush()
    delete_texters(session, [newcomer.id], [newcomer.data_key_id], now)
    _take_identity(services, session, target, key, signal_blinds, reply_to, now)
    _redirect_outbox(session, target, now)
    session.execute(
        update(Conversation).where(col(Conversation.texter_id) == target.id).values(
            channel="signal")
    )
    conversation.channel = "signal"
    note = Note(conversation_id=conversation.id, texter_id=target.id, audience="peer",
                body=b"", created_at=now)
    note.body = services.vault.seal(key, MOVED_NOTE, "notes", "body", note.id)
    session.add(note)
    session.flush()
    logs.event("switch.moved", texter=target.id, conversation=conversation.id)
    return Moved(target, conversation, key)


def _adopt_messages(
    services: Services,
    session: Session,
    newcomer: Texter,
    newcomer_key: bytes,
    target: Texter,
    key: bytes,
    conversation: Conversation,
) -> None:
    """The code message (and anything else the newcomer has) joins the moved
    conversation, re-sealed under the target's key (the associated data binds
    row and column, the key binds the person)."""
    for message in session.exec(select(Message).where(Message.texter_id == newcomer.id)).all():
        if message.body is not None:
            text = services.vault.open(newcomer_key, message.body, "messages", "body", message.id)
            message.body = services.vault.seal(key, text, "messages", "body", message.id)
        message.texter_id = target.id
        message.conversation_id = conversation.id
        session.add(message)


def _take_identity(
    services: Services,
    session: Session,
    target: Texter,
    key: bytes,
    signal_blinds: list[str],
    reply_to: str,
    now: datetime,
) -> None:
    """The WhatsApp identifiers go, the Signal ones come: every blind-index
    value, the reply address, and the sealed WhatsApp message ids (a wamid
    embeds the phone number)."""
    session.execute(delete(TexterIdentifier).where(col(TexterIdentifier.texter_id) == target.id))
    target.blind_index = signal_blinds[0]
    for blind in signal_blinds[1:]:
        session.add(TexterIdentifier(blind_index=blind, texter_id=target.id, created_at=now))
    target.channel = "signal"
    target.reply_address = services.vault.seal(key, reply_to, "texters", "reply_address",
                                               target.id)
    target.last_inbound_at = now
    target.last_activity_at = now
    session.add(target)
    session.execute(
        update(Message).where(col(Message.texter_id) == target.id).values(
            provider_message_id=None)
    )


def _redirect_outbox(session: Session, target: Texter, now: datetime) -> None:
    """Unsent replies go out on Signal (which has no 24 h window, so held ones
    are released); the WhatsApp re-engagement template has no use any more."""
    session.execute(
        delete(OutboxItem).where(
            col(OutboxItem.texter_id) == target.id,
            col(OutboxItem.kind) == "template",
            col(OutboxItem.state).in_(("pending", "held", "failed")),
        )
    )
    for item in session.exec(
        select(OutboxItem).where(
            OutboxItem.texter_id == target.id,
            col(OutboxItem.state).in_(("pending", "held")),
        )
    ).all():
        item.channel = "signal"
        item.state = "pending"
        item.next_attempt_at = now
        session.add(item)
        if item.message_id:
            message = session.get(Message, item.message_id)
            if message is not None and message.status == "held":
                message.status = "queued"
                session.add(message)
