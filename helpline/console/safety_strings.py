"""Console texts for peer safety and volunteer wellbeing (issue 18): the
content-warning flag, the conversation cap, the end-of-shift prompt. Merged
into the page strings by `helpline.console.pages.strings` (same keys in both
languages; `{limit}` is filled in by the page script)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "cw_badge": "Zware inhoud",
        "cw_notice": (
            "Een collega heeft dit gesprek gemarkeerd als zware inhoud (bijvoorbeeld geweld, "
            "misbruik of gedachten aan zelfdoding). Neem even de tijd voordat je het leest."
        ),
        "cw_show": "Berichten tonen",
        "cw_set": "Markeren als zware inhoud",
        "cw_clear": "Markering zware inhoud weghalen",
        "error_too_many_conversations": (
            "Je hebt al {limit} gesprekken, het maximum voor één persoon tegelijk. "
            "Sluit er een of geef er een terug voordat je een nieuw gesprek oppakt."
        ),
        "error_too_many_conversations_colleague": (
            "Die collega heeft al {limit} gesprekken, het maximum voor één persoon tegelijk."
        ),
        "shift_title": "Tijd voor een pauze?",
        "shift_intro": "Je bent al een tijd ingelogd. Zorg ook voor jezelf.",
        "shift_end_title": "Bedankt voor je dienst",
        "shift_end_intro": "Je bent uitgelogd.",
        "sign_in_again": "Opnieuw inloggen",
    },
    "en": {
        "cw_badge": "Heavy content",
        "cw_notice": (
            "A colleague marked this conversation as heavy content (for example violence, "
            "abuse or thoughts of suicide). Take a moment before you read it."
        ),
        "cw_show": "Show messages",
        "cw_set": "Mark as heavy content",
        "cw_clear": "Remove the heavy-content mark",
        "error_too_many_conversations": (
            "You already hold {limit} conversations, the most one person may hold at once. "
            "Close or release one before you claim another."
        ),
        "error_too_many_conversations_colleague": (
            "That colleague already holds {limit} conversations, the most one person may "
            "hold at once."
        ),
        "shift_title": "Time for a break?",
        "shift_intro": "You have been signed in for a while. Look after yourself too.",
        "shift_end_title": "Thank you for your shift",
        "shift_end_intro": "You are signed out.",
        "sign_in_again": "Sign in again",
    },
}
