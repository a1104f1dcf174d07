"""What the outbox should do about a Graph API error code (split from
whatsapp_cloud.py, which re-exports `error_outcome`)."""

from __future__ import annotations

from typing import Final

from helpline.channels.base import SendOutcome

# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/
# Grouped by what the outbox should do, not by Meta's categories.

_HOLD_CODES: Final = frozenset({"131047"})  # re-engagement: outside the 24 h window
_RETRY_CODES: Final = frozenset(
    {
        "1",  # API unknown
        "2",  # API service (temporary)
        "4",  # application request limit
        "429",
        "80007",  # WABA rate limit
        "130429",  # throughput rate limit
        "131000",  # something went wrong
        "131016",  # service unavailable
        "131048",  # spam rate limit
        "131056",  # pair rate limit: one texter, too many messages too fast
        "133004",  # server temporarily unavailable
    }
)
# Nothing else on the channel will go through until a human fixes the account.
_PAUSE_CODES: Final = frozenset(
    {
        "0",  # auth exception
        "3",  # capability
        "10",  # permission denied
        "190",  # access token expired
        "401",
        "368",  # temporarily blocked for policy violations
        "131031",  # account locked
        "131042",  # payment problem
        "133010",  # phone number not registered
    }
)


def error_outcome(code: str | None) -> SendOutcome:
    """What the outbox should do about a Meta error code (sync or from a `failed` status)."""
    if code is None:
        return "fail"
    if code in _HOLD_CODES:
        return "hold"
    if code in _RETRY_CODES:
        return "retry"
    if code in _PAUSE_CODES or (code.isdigit() and 200 <= int(code) <= 299):
        return "pause"
    return "fail"
