"""Masking for safety alerts: phone numbers, Dutch licence plates and e-mail
addresses in a draft are partly hidden before anyone approves or sends it.

Why partly and not wholly: a peer who was given "06-1234****" by a client can
recognise him, while the alert does not publish a full number or plate (which
would make the helpline a register of people, and a wrong one defamatory). The
reporter's own pseudonym is removed outright: an alert must never point at who
reported. Pure functions, no I/O.
"""

from __future__ import annotations

import re

MASK = "*"
REMOVED = "[...]"

_EMAIL = re.compile(r"[\w.+-]+@([\w-]+\.)+([A-Za-z]{2,})", re.UNICODE)
# A phone number: optional + or 00, then 9 to 13 digits with single spaces,
# dots, dashes or brackets between them (06-12345678, +31 6 1234 5678, 013-1234567).
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d(?:[ .\-()]?\d){8,12}(?!\w)")
# Dutch licence plates: the sidecodes of the RDW (L letter, D digit), with a
# dash, a space or nothing between the groups.
_SIDECODES = (
    "LL-DD-DD", "DD-DD-LL", "DD-LL-DD", "LL-DD-LL", "LL-LL-DD", "DD-LL-LL",
    "DD-LLL-D", "D-LLL-DD", "LL-DDD-L", "L-DDD-LL", "LLL-DD-L", "L-DD-LLL",
    "D-LL-DDD", "DDD-LL-D",
)


def _sidecode_pattern(code: str) -> str:
    groups = ["".join("[A-Za-z]" if c == "L" else r"\d" for c in g) for g in code.split("-")]
    return "(" + ")[- ]?(".join(groups) + ")"


_PLATE = re.compile(
    r"(?<![\w-])(?:" + "|".join(_sidecode_pattern(c) for c in _SIDECODES) + r")(?![\w-])"
)


def _mask_email(match: re.Match[str]) -> str:
    local = match.group(0).split("@", 1)[0]
    return f"{local[:1]}{MASK * 3}@{MASK * 3}.{match.group(2)}"


def _mask_phone(match: re.Match[str]) -> str:
    """The last four digits hidden, separators kept: 06-12345678 -> 06-1234****."""
    text = match.group(0)
    out = list(text)
    hidden = 0
    for i in range(len(out) - 1, -1, -1):
        if hidden == 4:
            break
        if out[i].isdigit():
            out[i] = MASK
            hidden += 1
    return "".join(out)


def _mask_plate(match: re.Match[str]) -> str:
    """The first group kept, the rest hidden: AB-12-CD -> AB-**-**."""
    text = match.group(0)
    groups = [g for g in match.groups() if g is not None]
    separators = [c for c in text if not c.isalnum()]
    if separators and (len(separators) != len(groups) - 1 or len(set(separators)) != 1):
        return text  # "1234 AB" is a postcode, not a plate: plates separate every group
    keep = len(groups[0])
    return text[:keep] + "".join(MASK if c.isalnum() else c for c in text[keep:])


def mask(text: str, pseudonyms: tuple[str, ...] = ()) -> str:
    """The alert text with identifiers partly hidden and the given pseudonyms
    (the reporter's) removed."""
    for pseudonym in pseudonyms:
        if pseudonym:
            text = re.sub(re.escape(pseudonym), REMOVED, text, flags=re.IGNORECASE)
    text = _EMAIL.sub(_mask_email, text)
    text = _PHONE.sub(_mask_phone, text)
    return _PLATE.sub(_mask_plate, text)
