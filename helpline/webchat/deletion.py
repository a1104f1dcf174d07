""""Delete this chat": what the texter command WIS does once confirmed, at once.

The page asks for confirmation itself, so no confirm question goes through the
conversation; the rest is the same as `routing`'s Erase action carried out by
helpline/outbound/effects.py: counted as an erasure (identifier-free), every
row of the texter deleted key first, audited as the texter's own act. No
goodbye is queued: the page says it, and there is nobody left to send it to.
"""

from __future__ import annotations

from sqlmodel import col, select

from helpline import logs
from helpline.helplines import HelplineConfig
from helpline.lifecycle.retention import audit_texter_erasure, erase_texter
from helpline.live.bus import LiveEvent
from helpline.services import Services
from helpline.stats import counting
from helpline.store.models import Conversation, Texter
from helpline.webchat.transcript import find_texter


def erase_visitor(services: Services, helpline: HelplineConfig, visitor: str) -> bool:
    """Erase the visitor's texter at this helpline, if any; True when there
    was one."""
    now = services.now()
    live: list[LiveEvent] = []
    with services.db.session() as session:
        found = find_texter(session, helpline, visitor)
        if found is None:
            return False
        # Lock the texter as intake does, so a message being stored right
        # now cannot add a row between our deletes (PostgreSQL).
        texter = session.get(Texter, found.id, with_for_update=not services.db.is_sqlite)
        if texter is None:
            return False
        for conversation in session.exec(
            select(Conversation).where(col(Conversation.texter_id) == texter.id)
        ).all():
            # Consoles showing it reload and find it gone.
            live.append(LiveEvent(kind="close", conversation=conversation.id,
                                  queue=conversation.queue))
        counting.record_erasure(services, session, texter, now)
        erase_texter(services, session, texter, now)
        audit_texter_erasure(session, now)
    for event in live:
        services.bus.publish(event)
    logs.event("webchat.erased", count=len(live))
    return True
