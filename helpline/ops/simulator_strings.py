"""The simulator page's texts in the console's languages (nl, en).

The simulator follows the language the user chose: `?lang=` on the page
(kept in a session cookie), else the signed-in console account's language,
else Dutch, the console's default. Times are shown on a 24-hour clock in
both, as in the console.
"""

from __future__ import annotations

LANGUAGES = ("nl", "en")
COOKIE = "helpline_sim_lang"

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Hulplijn-simulator",
        "hint_before": "Jij bent de texter. Antwoord als vrijwilliger in de",
        "console": "console",
        "hint_after": "(een ander tabblad). Niets hier is een echt gesprek.",
        "looks_like": "Ziet eruit als",
        "write_to": "Schrijf naar",
        "number_whatsapp": "WhatsApp-nummer-id",
        "number_signal": "Signal-nummer",
        "mode": "Soort",
        "chat": "Gesprek",
        "practice": "Oefenen",
        "new_texter": "Nieuwe texter",
        "practice_title": "Oefentexters",
        "practice_intro": (
            "Elk is een texter met een vast script uit het dagelijkse werk van de "
            "peergroep. Hun gesprek komt in de oefenwachtrij, nooit in de echte wachtrij "
            "of de statistieken. Na elk antwoord van een vrijwilliger gaat de volgende "
            "regel vanzelf; met Volgende regel gaat het sneller."
        ),
        "language": "Taal",
        "next_line": "Volgende regel",
        "phone": "Gesimuleerde telefoon",
        "helpline": "Hulplijn",
        "simulator": "simulator",
        "message": "Bericht",
        "send": "Versturen",
        "by_bot": "Hulplijn (automatisch)",
        "by_volunteer": "Hulplijn (vrijwilliger)",
        "not_sent": "Niet verstuurd",
        "offline": "Offline, opnieuw proberen",
        "practice_texter": "oefentexter",
        "in_console_as": "in de console als",
        "line_of": "Regel {n} van {total} verstuurd.",
        "choose_script": "Kies een oefentexter.",
        "other_language": "English",
    },
    "en": {
        "title": "Helpline simulator",
        "hint_before": "You are the texter. Answer as a volunteer in the",
        "console": "console",
        "hint_after": "(another tab). Nothing here is a real conversation.",
        "looks_like": "Looks like",
        "write_to": "Write to",
        "number_whatsapp": "WhatsApp phone number id",
        "number_signal": "Signal number",
        "mode": "Mode",
        "chat": "Chat",
        "practice": "Practice",
        "new_texter": "New texter",
        "practice_title": "Practice texters",
        "practice_intro": (
            "Each one is a scripted texter from the peer group's daily work. Their "
            "conversation goes to the practice queue, never to the real queue or the "
            "statistics. After each volunteer answer the next line is sent by itself; "
            "use Next line to go faster."
        ),
        "language": "Language",
        "next_line": "Next line",
        "phone": "Simulated phone",
        "helpline": "Helpline",
        "simulator": "simulator",
        "message": "Message",
        "send": "Send",
        "by_bot": "Helpline (automatic)",
        "by_volunteer": "Helpline (volunteer)",
        "not_sent": "Not sent",
        "offline": "Offline, retrying",
        "practice_texter": "practice texter",
        "in_console_as": "in the console as",
        "line_of": "Line {n} of {total} sent.",
        "choose_script": "Choose a practice texter.",
        "other_language": "Nederlands",
    },
}


def page_language(asked: str | None, remembered: str | None, account: str | None) -> str:
    for choice in (asked, remembered, account):
        if choice in LANGUAGES:
            return choice
    return LANGUAGES[0]
