"""Console texts for the role homes: navigation, the admin's accounts page,
the page a role may not open, and sign-in notices. Merged into the page
strings by `helpline.console.pages.strings` (same keys in both languages)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "nav_helpline": "Kies je hulplijn",
        "nav_national": "Landelijke cijfers",
        "helpline_choice_title": "Kies je hulplijn",
        "helpline_choice_intro": (
            "Je account werkt voor meer dan één hulplijn. Kies waar je nu werkt: je ziet "
            "alleen de gesprekken, mensen en cijfers van die hulplijn."
        ),
        "helpline_active": "actieve hulplijn",
        "switch_helpline": "Wissel van hulplijn",
        "helplines_title": "Hulplijnen",
        "helplines_intro": (
            "Elke regio is een eigen hulplijn: eigen nummers, beleid, mensen en gesprekken. "
            "Niemand van de ene hulplijn ziet iets van een andere."
        ),
        "helpline_name": "Naam",
        "helpline_slug": "Korte naam (slug)",
        "helpline_threshold": "Drempel statistieken",
        "helpline_new": "Nieuwe hulplijn",
        "helpline_whatsapp": "WhatsApp phone number id (leeg: geen)",
        "helpline_signal": "Signal-nummer (leeg: geen)",
        "helpline_policy": "Beleidsbestand (TOML; leeg: dat van de installatie)",
        "helpline_add": "Hulplijn toevoegen",
        "role_national": "landelijk coördinator",
        "national_title": "Landelijke cijfers",
        "national_intro": (
            "Alle hulplijnen samen. Een regio met minder dan de drempel telt niet mee in "
            "het landelijke cijfer, zodat niemand een klein aantal kan terugrekenen."
        ),
        "nav_label": "Pagina's",
        "nav_stats": "Statistieken",
        "nav_accounts": "Accounts",
        "no_access_title": "Niet voor jouw rol",
        "no_access_text": (
            "Deze pagina hoort bij een andere rol. Gesprekken lezen alleen vrijwilligers "
            "en partnermedewerkers; statistieken zien coördinatoren en beheerders; "
            "accounts beheren beheerders."
        ),
        "go_home": "Naar je eigen startpagina",
        "code_used": (
            "Deze code is net al gebruikt. Wacht op de volgende code in je app "
            "(hooguit een halve minuut) en vul die in."
        ),
        "accounts_title": "Accounts",
        "accounts_intro": (
            "Wie in de console mag, en met welke rol. Uitzetten, een nieuwe "
            "authenticator-code of een andere rol beëindigt de sessies van dat account."
        ),
        "new_account": "Nieuw account",
        "role": "Rol",
        "alias": "Schuilnaam (leeg: een vogelnaam)",
        "alias_short": "Schuilnaam",
        "new_password": "Wachtwoord (12 tot 128 tekens)",
        "create": "Account aanmaken",
        "role_volunteer": "vrijwilliger",
        "role_partner": "partnermedewerker",
        "role_coordinator": "coördinator",
        "role_admin": "beheerder",
        "active": "actief",
        "disabled": "uitgezet",
        "created": "aangemaakt",
        "you": "jij",
        "disable": "Uitzetten",
        "enable": "Aanzetten",
        "reset_totp": "Nieuwe authenticator-code",
        "confirm_reset": "Nieuwe authenticator-code voor {user}? De oude werkt dan niet meer.",
        "confirm_disable": "{user} uitzetten? De sessies van dit account stoppen meteen.",
        "change_role": "Rol wijzigen",
        "totp_title": "Authenticator voor {user}",
        "totp_help": (
            "Laat de persoon deze QR-code scannen met een authenticator-app, of de sleutel "
            "overtypen. Hij wordt maar één keer getoond: sluit dit venster daarna."
        ),
        "totp_key": "Sleutel",
        "done": "Klaar",
        "audit_title": "Auditlog",
        "audit_intro": "Wie wat deed, met interne nummers; nooit berichttekst.",
        "audit_when": "Wanneer",
        "audit_who": "Wie",
        "audit_what": "Wat",
        "audit_object": "Waarop",
        "audit_older": "Oudere regels",
        "audit_newest": "Nieuwste regels",
        "nobody": "niemand (niet ingelogd)",
        "saved": "Opgeslagen",
    },
    "en": {
        "nav_helpline": "Choose your helpline",
        "nav_national": "National figures",
        "helpline_choice_title": "Choose your helpline",
        "helpline_choice_intro": (
            "Your account works for more than one helpline. Choose where you work now: you "
            "see only that helpline's conversations, people and figures."
        ),
        "helpline_active": "active helpline",
        "switch_helpline": "Switch helpline",
        "helplines_title": "Helplines",
        "helplines_intro": (
            "Every region is a helpline of its own: its own numbers, policy, people and "
            "conversations. Nobody of one helpline sees anything of another."
        ),
        "helpline_name": "Name",
        "helpline_slug": "Short name (slug)",
        "helpline_threshold": "Statistics threshold",
        "helpline_new": "New helpline",
        "helpline_whatsapp": "WhatsApp phone number id (empty: none)",
        "helpline_signal": "Signal number (empty: none)",
        "helpline_policy": "Policy file (TOML; empty: the installation's)",
        "helpline_add": "Add helpline",
        "role_national": "national coordinator",
        "national_title": "National figures",
        "national_intro": (
            "All helplines together. A region below the threshold is left out of the "
            "national figure, so nobody can work a small count back out."
        ),
        "nav_label": "Pages",
        "nav_stats": "Statistics",
        "nav_accounts": "Accounts",
        "no_access_title": "Not for your role",
        "no_access_text": (
            "This page belongs to another role. Only volunteers and partner workers read "
            "conversations; coordinators and admins see statistics; admins manage accounts."
        ),
        "go_home": "Go to your own start page",
        "code_used": (
            "That code was just used. Wait for the next code in your app (half a minute "
            "at most) and enter that one."
        ),
        "accounts_title": "Accounts",
        "accounts_intro": (
            "Who may use the console, and in which role. Disabling, a new authenticator "
            "code or another role ends that account's sessions."
        ),
        "new_account": "New account",
        "role": "Role",
        "alias": "Alias (empty: a bird name)",
        "alias_short": "Alias",
        "new_password": "Password (12 to 128 characters)",
        "create": "Create account",
        "role_volunteer": "volunteer",
        "role_partner": "partner worker",
        "role_coordinator": "coordinator",
        "role_admin": "admin",
        "active": "active",
        "disabled": "disabled",
        "created": "created",
        "you": "you",
        "disable": "Disable",
        "enable": "Enable",
        "reset_totp": "New authenticator code",
        "confirm_reset": "New authenticator code for {user}? The old one stops working.",
        "confirm_disable": "Disable {user}? This account's sessions end at once.",
        "change_role": "Change role",
        "totp_title": "Authenticator for {user}",
        "totp_help": (
            "Let the person scan this QR code with an authenticator app, or type the key. "
            "It is shown only once: close this box afterwards."
        ),
        "totp_key": "Key",
        "done": "Done",
        "audit_title": "Audit log",
        "audit_intro": "Who did what, with internal ids; never message text.",
        "audit_when": "When",
        "audit_who": "Who",
        "audit_what": "What",
        "audit_object": "On",
        "audit_older": "Older entries",
        "audit_newest": "Newest entries",
        "nobody": "nobody (not signed in)",
        "saved": "Saved",
    },
}
