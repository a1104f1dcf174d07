"""Moving a WhatsApp conversation to Signal (issue 18): when the texter asks,
and when a Signal message carries the one-time code.

WhatsApp shows Meta who writes to the helpline and when; Signal does not. A
texter who writes SIGNAL on WhatsApp gets the helpline's Signal number, a
signal.me link and a code; sending that code from Signal moves the
conversation there (the service does the moving and erases the WhatsApp
identifiers). The code is eight characters from an alphabet without look-alike
characters, always with a digit and a letter, so ordinary words are not
taken for one ("SIGNAL K7P4-9XQ2" or just "K7P4-9XQ2").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from routing.model import AcceptSwitch, Action, OfferSwitch, Reply

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
# After routing.text.phrase: folded, punctuation gone, words joined by spaces.
_CODE_LINE = re.compile(r"^(?:signal )?([a-z0-9]{4}) ?([a-z0-9]{4})$")


def switch_code(line: str) -> str | None:
    """The code in a normalised line, upper case and without separator."""
    match = _CODE_LINE.match(line)
    if match is None:
        return None
    code = (match.group(1) + match.group(2)).upper()
    if not any(c.isdigit() for c in code) or not any(c.isalpha() for c in code):
        return None
    return code


def switch_actions(
    channel: str,
    is_new_texter: bool,
    line: str,
    is_signal_command: bool,
    reply: Callable[[str], Reply],
) -> list[Action] | None:
    """The SIGNAL command and a code sent from Signal, or None for anything else."""
    if is_signal_command:
        if channel == "signal":
            return [reply("switch_already")]
        if channel != "whatsapp":
            return [reply("switch_unavailable")]
        return [OfferSwitch(offer=reply("switch_offer"), unavailable=reply("switch_unavailable"))]
    code = switch_code(line) if channel == "signal" else None
    if code is None:
        return None
    if not is_new_texter:
        # Someone already writing to us on Signal: two histories are never
        # merged on a code alone (the code may have been passed on).
        return [reply("switch_refused_known")]
    # `moved` in the moved texter's own language: None lets the service use it.
    moved = Reply("switch_moved", language=None)
    return [AcceptSwitch(code=code, moved=moved, refused=reply("switch_refused"))]
