"""Volunteer wellbeing (issue 18): when the console suggests a break, and
where a volunteer can get support.

Peers answer people in danger, and often know the situations from their own
work. The prompt is shown to those who read conversations (volunteers and
partner workers) after the policy's shift length and on signing out. It is
measured from the sign-in time the session row already holds: nothing new is
recorded about when or how long anyone works.
"""

from __future__ import annotations

from helpline.console.sessions import SessionUser
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID

READER_ROLES = ("volunteer", "partner")
SHIFT_END = "/console/shift-end"


def support_text(
    services: Services, language: str, helpline_id: str = DEFAULT_HELPLINE_ID
) -> str:
    policy = services.policy_for(helpline_id)
    support = policy.support
    return support.get(language) or support.get(policy.default_language) or ""


def shift_prompt(services: Services, user: SessionUser | None, language: str) -> str | None:
    """The support text once a reader has been signed in for a shift, else None."""
    if user is None or user.role not in READER_ROLES or user.signed_in_at is None:
        return None
    if services.now() - user.signed_in_at < services.policy_for(user.helpline_id).shift_length:
        return None
    return support_text(services, language, user.helpline_id) or None


def after_sign_out(role: str | None, language: str) -> str:
    """Where the console goes after signing out: readers get the support page."""
    lang = language if language in ("nl", "en") else "nl"
    if role in READER_ROLES:
        return f"{SHIFT_END}?lang={lang}"
    return f"/console/login?lang={lang}"
