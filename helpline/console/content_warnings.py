"""The content-warning flag: a volunteer marks a conversation as heavy
(violence, abuse, suicidal thoughts) so a colleague who opens it next is not
caught off guard (issue 18, volunteer wellbeing).

The flag is one boolean on the conversation; who set or cleared it is in the
audit log, so nothing new is recorded about the volunteer. It says nothing
about the texter that the conversation does not already say, and it is
deleted with the conversation.
"""

from __future__ import annotations

from typing import Any

from helpline import logs
from helpline.console.conversation_access import (
    Actor,
    audit_action,
    load,
    publish,
)
from helpline.live.bus import LiveEvent
from helpline.services import Services

SET = "conversation.content_warning_on"
CLEARED = "conversation.content_warning_off"


def set_content_warning(
    services: Services, actor: Actor, conversation_id: str, on: bool
) -> dict[str, Any]:
    """Who may read and act on the conversation may set or clear the flag
    (404 alike for missing and not visible, as everywhere in the console)."""
    with services.db.session() as session:
        conversation = load(session, actor, conversation_id, for_update=True)
        changed = conversation.content_warning != on
        if changed:
            conversation.content_warning = on
            audit_action(services, session, actor, SET if on else CLEARED, conversation.id)
        # "claim" is the kind every open list and page already re-reads on.
        event = LiveEvent.of(conversation, "claim", queue=conversation.queue)
    if changed:
        publish(services, [event])
        logs.event("console.content_warning", conversation=conversation_id,
                   user=actor.user_id, state="on" if on else "off")
    return {"id": conversation_id, "content_warning": on}
