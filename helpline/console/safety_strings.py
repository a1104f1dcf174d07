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
        "nav_notifications": "Seintjes",
        "notify_title": "Seintjes op je telefoon",
        "notify_intro": (
            "Krijg een seintje via Signal als er iemand langer wacht dan de hulplijn "
            "afspreekt, tijdens je eigen uren. Het bericht noemt alleen hoeveel mensen "
            "wachten: nooit een schuilnaam, een bericht of een partner. Je nummer wordt "
            "versleuteld bewaard en hier alleen deels getoond; coördinatoren zien dat er "
            "seintjes gaan, niet naar wie."
        ),
        "notify_current": "Nu ingesteld",
        "notify_none": "Geen seintjes ingesteld.",
        "notify_number": "Je Signal-nummer (met landcode, zoals +316…)",
        "notify_quiet": "Stille uren (geen seintjes)",
        "notify_from": "Van",
        "notify_until": "Tot",
        "notify_save": "Opslaan",
        "notify_off": "Seintjes uitzetten",
        "notify_saved": "Opgeslagen.",
        "nav_alerts": "Veiligheidsmeldingen",
        "alerts_title": "Veiligheidsmeldingen",
        "alerts_intro": (
            "Waarschuwingen over gevaarlijke klanten, voor texters die MELDINGEN aanzetten. "
            "Een vrijwilliger stelt een melding op vanuit een gesprek; nummers, kentekens en "
            "e-mailadressen worden deels onleesbaar gemaakt en de schuilnaam van wie het meldde "
            "weggehaald. Een coördinator of een tweede vrijwilliger keurt goed, pas dan gaat "
            "hij naar alle abonnees. Je ziet hoeveel berichten zijn afgeleverd, nooit aan wie."
        ),
        "alerts_subscribers": "Abonnees",
        "alerts_per_week": "Hoogstens per week",
        "alerts_none": "Nog geen meldingen.",
        "alert_state_draft": "concept, wacht op goedkeuring",
        "alert_state_sent": "verstuurd",
        "alert_state_discarded": "weggegooid",
        "alert_drafted_by": "Opgesteld door",
        "alert_approved_by": "goedgekeurd door",
        "alert_recipients": "ontvangers",
        "alert_approve": "Goedkeuren en versturen",
        "alert_discard": "Weggooien",
        "alert_own_draft": "Jouw concept: een ander moet het goedkeuren.",
        "alert_draft_title": "Veiligheidsmelding opstellen",
        "alert_draft_help": (
            "Beschrijf de klant of de situatie. Nummers, kentekens en e-mailadressen worden "
            "deels verborgen; de schuilnaam van de texter wordt weggehaald."
        ),
        "alert_draft_text": "Tekst van de melding",
        "alert_draft_save": "Concept opslaan",
        "alert_draft_saved": (
            "Concept opgeslagen. Een tweede persoon keurt het goed op de pagina "
            "Veiligheidsmeldingen:"
        ),
        "error_four_eyes": "Een tweede persoon moet goedkeuren: jij hebt deze melding opgesteld.",
        "error_alerts_weekly_limit": (
            "Er zijn de afgelopen 7 dagen al {limit} meldingen verstuurd, het maximum dat "
            "abonnees is beloofd."
        ),
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
        "nav_notifications": "Notifications",
        "notify_title": "Notifications on your phone",
        "notify_intro": (
            "Get a Signal message when someone waits longer than the helpline agreed, "
            "during your own hours. It only says how many people are waiting: never a "
            "pseudonym, a message or a partner. Your number is stored encrypted and shown "
            "here only partly; coordinators see that notifications go out, not to whom."
        ),
        "notify_current": "Set now",
        "notify_none": "No notifications set.",
        "notify_number": "Your Signal number (with the country code, like +316…)",
        "notify_quiet": "Quiet hours (no notifications)",
        "notify_from": "From",
        "notify_until": "Until",
        "notify_save": "Save",
        "notify_off": "Turn notifications off",
        "notify_saved": "Saved.",
        "nav_alerts": "Safety alerts",
        "alerts_title": "Safety alerts",
        "alerts_intro": (
            "Warnings about dangerous clients, for texters who turned on ALERTS. A volunteer "
            "drafts one from a conversation; numbers, licence plates and e-mail addresses are "
            "partly hidden and the reporter's pseudonym removed. A coordinator or a second "
            "volunteer approves, only then does it go to every subscriber. You see how many "
            "were delivered, never to whom."
        ),
        "alerts_subscribers": "Subscribers",
        "alerts_per_week": "At most a week",
        "alerts_none": "No alerts yet.",
        "alert_state_draft": "draft, waiting for approval",
        "alert_state_sent": "sent",
        "alert_state_discarded": "discarded",
        "alert_drafted_by": "Drafted by",
        "alert_approved_by": "approved by",
        "alert_recipients": "recipients",
        "alert_approve": "Approve and send",
        "alert_discard": "Discard",
        "alert_own_draft": "Your draft: someone else must approve it.",
        "alert_draft_title": "Draft a safety alert",
        "alert_draft_help": (
            "Describe the client or the situation. Numbers, plates and e-mail addresses are "
            "partly hidden; the texter's pseudonym is removed."
        ),
        "alert_draft_text": "Text of the alert",
        "alert_draft_save": "Save draft",
        "alert_draft_saved": (
            "Draft saved. A second person approves it on the Safety alerts page:"
        ),
        "error_four_eyes": "A second person must approve: you drafted this alert.",
        "error_alerts_weekly_limit": (
            "{limit} alerts were sent in the last 7 days, the most subscribers were promised."
        ),
    },
}
