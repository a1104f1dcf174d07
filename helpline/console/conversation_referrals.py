"""Proposing a referral to a partner: only the consent question leaves here.
"""

from __future__ import annotations

from typing import Any

import routing
from helpline import logs
from helpline.console.conversation_access import (
    MAX_NOTE,
    Actor,
    ClaimedByColleague,
    ConversationClosed,
    ReferralNotPossible,
    UnknownPartner,
    audit_action,
    clean_text,
    load,
    publish,
    texter_and_key,
)
from helpline.outbound.effects import Effects, build_state
from helpline.services import Services


def propose_referral(
    services: Services, actor: Actor, conversation_id: str, partner: object, note: object
) -> dict[str, Any]:
    """Ask the texter, through the policy, whether to share with `partner`.

    Only the consent question leaves here. The partner sees nothing until the
    texter's yes turns the referral `accepted` (in intake, via `Effects`).
    """
    now = services.now()
    with services.db.session() as session:
        # Permission first: what one may not see answers 404 like what does
        # not exist, before any check of the request itself.
        conversation = load(session, actor, conversation_id, for_update=True)
        if actor.role != "volunteer":
            raise ReferralNotPossible()
        policy = services.policy_for(conversation.helpline_id)
        if not isinstance(partner, str) or policy.partner(partner) is None:
            raise UnknownPartner()
        note_text = None
        if note is not None and not (isinstance(note, str) and not note.strip()):
            note_text = clean_text(note, MAX_NOTE)
        if conversation.status == "closed" or conversation.practice:
            raise ConversationClosed()
        if conversation.claimed_by_id not in (None, actor.user_id):
            raise ClaimedByColleague()
        texter, key = texter_and_key(services, session, conversation)
        state = build_state(session, texter, conversation, is_new_texter=False,
                            had_conversation=True)
        actions = routing.decide(
            state, routing.model.ReferralProposed(partner), now=now, policy=policy
        )
        if not any(isinstance(a, routing.model.AskConsent) for a in actions):
            raise ReferralNotPossible()
        effects = Effects(services, session, texter, conversation, key, now,
                          proposed_by_id=actor.user_id, note=note_text)
        effects.apply(actions)
        session.flush()
        audit_action(services, session, actor, "referral.propose", conversation.id)
        live = list(effects.live)
        outbound = effects.outbound
    publish(services, live)
    if outbound:
        services.wakeup.set()
    logs.event("console.referral", conversation=conversation_id, partner=partner,
               user=actor.user_id)
    return {"conversation": conversation_id, "partner": partner, "state": "asked"}


