"""What a volunteer reads for a message that is not plain text.

Photos, voice notes, locations, contact cards, orders and kinds WhatsApp or Signal
add later arrive without a body (or with a caption only). Rather than an empty
bubble, every such message carries its kind and a readable placeholder, so a
volunteer knows the texter sent something and can ask about it. Locations and
contact cards are never carried at all (a helpline must not become a way to find
people); media fetching (the media issue) will replace the placeholder for media.
The console pages translate these by `kind_<kind>` (helpline/console/pages.py);
the API gives the English text.
"""

from __future__ import annotations

from typing import Final

PLACEHOLDERS: Final[dict[str, str]] = {
    "image": "[photo]",
    "audio": "[voice message or audio]",
    "video": "[video]",
    "document": "[document]",
    "sticker": "[sticker]",
    "location": "[location: not shown, so that nobody can be found through the helpline]",
    "contacts": "[contact card: not shown, it holds other people's numbers]",
    "unsupported": "[a kind of message the helpline cannot show: ask the texter to type it]",
}


def placeholder(kind: str, direction: str = "in") -> str | None:
    """The readable stand-in for a non-text message; None for text, choices and
    reactions (their body says it all) and for what we sent."""
    if direction != "in":
        return None
    return PLACEHOLDERS.get(kind)
