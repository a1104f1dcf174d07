"""The bodies of outgoing Cloud API messages: the address, reply buttons,
lists, and the numbered fallback for when interactive messages cannot be used.

https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages
"""

from __future__ import annotations

from typing import Any, Final

from helpline.channels.base import Button

# Meta's limits for interactive messages; exceeding them makes the whole send fail.
_BUTTON_TITLE_MAX: Final = 20
_ROW_TITLE_MAX: Final = 24
# The list opener needs a label and OutboundMessage carries none; "Menu" reads the
# same in Dutch and English, the two main languages of the line.
_LIST_BUTTON_LABEL: Final = "Menu"


def address(to: str) -> dict[str, str]:
    # Phone numbers go in `to`; a BSUID (e.g. "NL.1234567890") in `recipient`.
    # Meta gives `to` precedence when both are present, so never send both.
    digits = to.removeprefix("+")
    if digits.isdigit():
        return {"to": digits}
    return {"recipient": to}


def reply_buttons(text: str, buttons: tuple[Button, ...]) -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": text},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": b.id, "title": b.title[:_BUTTON_TITLE_MAX]}}
                for b in buttons
            ]
        },
    }


def list_message(text: str, buttons: tuple[Button, ...]) -> dict[str, Any]:
    return {
        "type": "list",
        "body": {"text": text},
        "action": {
            "button": _LIST_BUTTON_LABEL,
            "sections": [
                {"rows": [{"id": b.id, "title": b.title[:_ROW_TITLE_MAX]} for b in buttons]}
            ],
        },
    }


def numbered(text: str, buttons: tuple[Button, ...]) -> str:
    if not buttons:
        return text
    lines = "\n".join(f"{i}. {b.title}" for i, b in enumerate(buttons, start=1))
    return f"{text}\n\n{lines}" if text else lines
