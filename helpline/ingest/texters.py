"""Finding the texter a message is from, or making them (intake's part that
knows about identity): by keyed blind index in the message's helpline's
domain, linking every identifier one delivery shows for the same person."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col, select

from helpline import logs
from helpline.channels.base import InboundMessage
from helpline.helplines import HelplineConfig
from helpline.ingest.pseudonyms import new_pseudonym
from helpline.outbound.conversations import current_conversation
from helpline.services import Services
from helpline.store.models import (
    DEFAULT_HELPLINE_ID,
    Conversation,
    DataKey,
    Texter,
    TexterIdentifier,
    new_id,
)

_TEXTERS = SQLModel.metadata.tables["texters"]
_IDENTIFIERS = SQLModel.metadata.tables["texter_identifiers"]
_TEXTER_LOCKED = select(Texter).where(Texter.blind_index == bindparam("blind")).with_for_update()
# The texter, their wrapped data key and their open conversation (if any) in
# one round trip: the three lookups every message needs.
_TEXTER_WITH_KEY = (
    select(Texter, DataKey.wrapped, Conversation)
    .outerjoin(DataKey, col(DataKey.id) == Texter.data_key_id)
    .outerjoin(
        Conversation,
        and_(col(Conversation.texter_id) == Texter.id, col(Conversation.status) != "closed"),
    )
    .where(Texter.blind_index == bindparam("blind"))
    .order_by(col(Conversation.created_at).desc())
    .limit(1)
)
_TEXTER_WITH_KEY_LOCKED = _TEXTER_WITH_KEY.with_for_update(of=Texter)
# The same, for a texter found through one of their further identifiers.
_TEXTER_BY_ID_WITH_KEY = (
    select(Texter, DataKey.wrapped, Conversation)
    .outerjoin(DataKey, col(DataKey.id) == Texter.data_key_id)
    .outerjoin(
        Conversation,
        and_(col(Conversation.texter_id) == Texter.id, col(Conversation.status) != "closed"),
    )
    .where(Texter.id == bindparam("texter"))
    .order_by(col(Conversation.created_at).desc())
    .limit(1)
)
_TEXTER_BY_ID_WITH_KEY_LOCKED = _TEXTER_BY_ID_WITH_KEY.with_for_update(of=Texter)
# Which texter each of a delivery's blind-index values already belongs to:
# a primary value (texters) wins over a linked one (texter_identifiers).
_KNOWN_PRIMARY = select(_TEXTERS.c.blind_index, _TEXTERS.c.id).where(
    _TEXTERS.c.blind_index.in_(bindparam("blinds", expanding=True))
)
_KNOWN_LINKED = select(_IDENTIFIERS.c.blind_index, _IDENTIFIERS.c.texter_id).where(
    _IDENTIFIERS.c.blind_index.in_(bindparam("blinds", expanding=True))
)
_LINK = {
    name: insert_(TexterIdentifier).on_conflict_do_nothing()
    for name, insert_ in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}



class FoundTexter(NamedTuple):
    texter: Texter
    key: bytes
    is_new: bool
    current: Conversation | None  # their open conversation, if any


def find_or_create_texter(
    services: Services,
    session: Session,
    event: InboundMessage,
    now: datetime,
    *,
    practice: bool = False,
    helpline: HelplineConfig | None = None,
    blinds: list[str] | None = None,
) -> FoundTexter:
    """Look the texter up by blind index; create them (new data key, random
    pseudonym, sealed reply address) at first contact.

    A person may show several identifiers (a WhatsApp number and BSUIDs, a
    Signal UUID and number), not always the same ones: whichever of them a
    delivery carries finds the one texter, and any of them not yet known is
    linked to that texter here, so the next delivery with only that one finds
    them too (one conversation, one pseudonym, and erasure that covers all)."""
    if helpline is None:
        helpline = services.helpline(DEFAULT_HELPLINE_ID)
    blinds = blinds or blind_indexes(helpline, event)
    blind = blinds[0]
    postgres = session.get_bind().dialect.name == "postgresql"
    found: tuple[Texter, bytes, Conversation | None] | None = None
    known: dict[str, str] = {}
    # PostgreSQL: FOR UPDATE serialises concurrent messages of one texter (one
    # open conversation). SQLite's BEGIN IMMEDIATE already does.
    row = session.exec(
        _TEXTER_WITH_KEY_LOCKED if postgres else _TEXTER_WITH_KEY, params={"blind": blind}
    ).first()
    if row is not None and len(blinds) == 1:
        found = row  # the common case: one identifier, already the texter's own
    else:
        known = _known_identifiers(session, blinds)
        owner = known.get(blind) or next((known[b] for b in blinds if b in known), None)
        if row is not None:
            found = row
        elif owner is not None:
            found = session.exec(
                _TEXTER_BY_ID_WITH_KEY_LOCKED if postgres else _TEXTER_BY_ID_WITH_KEY,
                params={"texter": owner},
            ).first()
    if found is not None:
        texter, wrapped, conversation = found
        if known or len(blinds) > 1:
            _link(session, texter, blinds, known, now)
        key = services.vault.unwrap(wrapped, texter.data_key_id)
        current = services.vault.open(key, texter.reply_address, "texters", "reply_address",
                                      texter.id)
        if current != event.reply_to:
            # The address follows the latest delivery: a phone number while the
            # texter shows one, their BSUID once they only show that (they hid
            # the number, so we stop keeping it as an address).
            texter.reply_address = services.vault.seal(
                key, event.reply_to, "texters", "reply_address", texter.id
            )
        return FoundTexter(texter, key, False, conversation)

    data_key, key = services.vault.create_key(session, now)
    texter_id = new_id()
    values = {
        "id": texter_id,
        "helpline_id": helpline.id,
        "blind_index": blind,
        "pseudonym": _free_pseudonym(session),
        "data_key_id": data_key.id,
        "channel": event.channel.value,
        "reply_address": services.vault.seal(
            key, event.reply_to, "texters", "reply_address", texter_id
        ),
        "created_at": now,
        "last_activity_at": now,
        "practice": practice,
    }
    session.flush()
    if postgres:
        # Two processes may create the same texter, or pick the same random
        # pseudonym, at the same moment: ON CONFLICT on any unique column, then
        # find out which of the two it was.
        for _attempt in range(20):
            stmt = pg_insert(Texter).values(**values).on_conflict_do_nothing()
            if session.execute(stmt.returning(col(Texter.id))).first() is not None:
                break
            existing = session.exec(_TEXTER_LOCKED, params={"blind": blind}).first()
            if existing is not None:
                session.execute(delete(DataKey).where(DataKey.id == data_key.id))  # type: ignore[arg-type]
                key = services.vault.key(session, existing.data_key_id)
                return FoundTexter(existing, key, False, current_conversation(session, existing))
            values["pseudonym"] = _free_pseudonym(session)
        else:
            raise RuntimeError("no free pseudonym")
    else:
        session.connection().execute(insert(_TEXTERS), values)
    texter = session.exec(select(Texter).where(Texter.id == texter_id)).one()
    if len(blinds) > 1:
        _link(session, texter, blinds, known, now)
    logs.event("intake.texter_created", texter=texter.id, channel=event.channel.value)
    return FoundTexter(texter, key, True, None)


def blind_indexes(helpline: HelplineConfig, event: InboundMessage) -> list[str]:
    """The delivery's blind-index values in its helpline's domain, the
    sender's first, without repeats."""
    out: list[str] = []
    for identifier in (event.sender, *event.aliases):
        blind = helpline.index.compute(event.channel.value, identifier)
        if blind not in out:
            out.append(blind)
    return out


def _known_identifiers(session: Session, blinds: list[str]) -> dict[str, str]:
    connection = session.connection()
    known: dict[str, str] = {
        blind: texter for blind, texter in connection.execute(_KNOWN_LINKED, {"blinds": blinds})
    }
    for blind, texter in connection.execute(_KNOWN_PRIMARY, {"blinds": blinds}):
        known[blind] = texter
    return known


def _link(
    session: Session, texter: Texter, blinds: list[str], known: dict[str, str], now: datetime
) -> None:
    """Link the delivery's identifiers that nobody holds yet to this texter.
    One that already belongs to another texter (two texters made before they
    were ever seen together) is left where it is: merging two people's
    conversations on a guess could show one person's words to another."""
    if not known and len(blinds) > 1:
        known = _known_identifiers(session, blinds)
    missing = [b for b in blinds if b not in known and b != texter.blind_index]
    if missing:
        stmt = _LINK[session.get_bind().dialect.name]
        session.connection().execute(
            stmt, [{"blind_index": b, "texter_id": texter.id, "created_at": now} for b in missing]
        )
        logs.event("intake.identifier_linked", texter=texter.id, count=len(missing))
    if any(owner != texter.id for owner in known.values()):
        logs.event("intake.identifier_elsewhere", logging.WARNING, texter=texter.id)


_PSEUDONYM_TAKEN = select(_TEXTERS.c.id).where(_TEXTERS.c.pseudonym == bindparam("p")).limit(1)


def _free_pseudonym(session: Session) -> str:
    connection = session.connection()
    for attempt in range(40):
        candidate = new_pseudonym(2 if attempt < 10 else 3 if attempt < 25 else 4)
        if connection.execute(_PSEUDONYM_TAKEN, {"p": candidate}).first() is None:
            return candidate
    raise RuntimeError("no free pseudonym")


__all__ = ["FoundTexter", "blind_indexes", "find_or_create_texter"]
