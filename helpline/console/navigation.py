"""Where each role lands after sign-in, and what the header offers it.

Roles do not nest (helpline.console.deps), so every role has a home of its
own: volunteers and partner workers the queue, coordinators the statistics,
admins the accounts; coordinators also cover for colleagues on
`/console/held`. The header lists exactly the pages a role may open, so
nobody is shown a link that answers 403.
"""

from __future__ import annotations

from helpline.console.deps import ADMIN, COORDINATOR, NATIONAL, PARTNER, VOLUNTEER

QUEUE = "/console"
STATS = "/console/stats"
ACCOUNTS = "/console/accounts"
HELD = "/console/held"
ALERTS = "/console/alerts"
NOTIFICATIONS = "/console/notifications"
SIGN_IN = "/console/login"
CHOOSE_HELPLINE = "/console/helpline"
NATIONAL_STATS = "/console/national"
HELPLINES = "/console/helplines"

# (string key in the page strings, path), in the order the header shows them.
NAV: dict[str, tuple[tuple[str, str], ...]] = {
    VOLUNTEER: (("queue", QUEUE), ("nav_alerts", ALERTS), ("nav_notifications", NOTIFICATIONS)),
    PARTNER: (("queue", QUEUE),),
    COORDINATOR: (("nav_stats", STATS), ("nav_held", HELD), ("nav_alerts", ALERTS)),
    ADMIN: (("nav_accounts", ACCOUNTS), ("nav_stats", STATS)),
    NATIONAL: (("nav_national", NATIONAL_STATS),),
    # Signed in with roles in several helplines, none chosen yet: no role.
    "": (("nav_helpline", CHOOSE_HELPLINE),),
}


def home_for(role: str) -> str:
    """The first page of a role; an unknown role (none exist) gets sign-in."""
    links = NAV.get(role)
    return links[0][1] if links else SIGN_IN


def nav_for(role: str | None) -> tuple[tuple[str, str], ...]:
    if role is None:
        return ()
    return NAV.get(role, ())
