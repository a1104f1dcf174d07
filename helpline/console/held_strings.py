"""Console texts for the coordinator's held-conversations page
(`helpline.console.held_pages`), merged into the page strings by
`helpline.console.pages.strings` (same keys in both languages)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "nav_held": "Bij collega's",
        "held_title": "Gesprekken bij collega's",
        "held_intro": (
            "Welke gesprekken een vrijwilliger vasthoudt en sinds wanneer. Is iemand ziek "
            "of weg, geef het gesprek dan terug aan de wachtrij of aan een collega. Je ziet "
            "hier geen inhoud en geen schuilnaam van de texter; elke overdracht komt in het "
            "auditlog."
        ),
        "held_none": "Geen enkel gesprek wordt nu vastgehouden.",
        "held_holder": "Bij",
        "held_since": "Opgepakt",
        "held_waiting": "Texter wacht sinds",
        "held_channel": "Kanaal",
        "held_action": "Overdragen",
        "held_to_queue": "Terug naar de wachtrij",
        "held_to": "Aan",
        "held_go": "Overdragen",
        "held_done": "Overgedragen.",
    },
    "en": {
        "nav_held": "With colleagues",
        "held_title": "Conversations with colleagues",
        "held_intro": (
            "Which conversations a volunteer holds, and since when. When someone is ill or "
            "away, hand the conversation back to the queue or to a colleague. This page shows "
            "no content and no texter pseudonym; every hand-over goes into the audit log."
        ),
        "held_none": "No conversation is held right now.",
        "held_holder": "With",
        "held_since": "Claimed",
        "held_waiting": "Texter waiting since",
        "held_channel": "Channel",
        "held_action": "Hand over",
        "held_to_queue": "Back to the queue",
        "held_to": "To",
        "held_go": "Hand over",
        "held_done": "Handed over.",
    },
}
