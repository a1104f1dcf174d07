"""Console texts for the role homes: navigation, the admin's accounts page,
the page a role may not open, and sign-in notices. Merged into the page
strings by `helpline.console.pages.strings` (same keys in both languages)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
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
