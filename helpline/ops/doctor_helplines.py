"""`helpline doctor`, one section per helpline: what would leave a region's
texters unanswered or its figures unsafe (issue 17).

Per helpline: its policy file parses; it has a number (WhatsApp phone
number id and/or Signal number) and no other helpline has the same one; its
Signal number is registered with the bridge and its WhatsApp number id is
accepted by the Graph API; every partner a texter can be referred to (menu
slots, policy partners) has an active partner account; it has an active
volunteer; its statistics threshold suppresses small counts. Read only, like
the rest of the doctor: nothing is created, nothing decrypted, and a Signal
number is compared, never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
from sqlmodel import Session, col, select

from helpline.config import Settings
from helpline.helplines import own_numbers
from helpline.store.db import make_engine
from helpline.store.models import DEFAULT_HELPLINE_ID, Helpline, Membership, User
from routing.model import Policy
from routing.policy_file import load_policy

# Below this a published count of 1 (or 2 and 1 from a total) names someone.
MIN_THRESHOLD = 2
# The default; lower is allowed but is the coordinator's deliberate choice.
ADVISED_THRESHOLD = 5

Level = Literal["ok", "warn", "FAIL"]
Add = Callable[[Level, str, str], None]  # (level, topic, text)


@dataclass(frozen=True)
class People:
    """Active accounts of one helpline, by role (counts) and partner ids."""

    roles: dict[str, int]
    partner_ids: frozenset[str]


def check_every_helpline(
    settings: Settings,
    section: Callable[[str], Add],
    client: httpx.Client,
    signal_registered: set[str] | None,
) -> None:
    """Adds one section per helpline through `section(title)`."""
    from helpline.services import load_policy as installation_policy

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            rows = sorted(session.exec(select(Helpline)).all(),
                          key=lambda h: (h.id != DEFAULT_HELPLINE_ID, h.slug))
            people = {row.id: _people(session, row.id) for row in rows}
    finally:
        engine.dispose()
    try:
        shared: Policy | None = installation_policy(settings)
    except Exception:  # noqa: BLE001 - check_policy already reported it
        shared = None
    numbers = {row.id: own_numbers(settings, row) for row in rows}
    for row in rows:
        add = section(f"helpline {row.slug} ({row.name})")
        policy = _check_policy(settings, row, shared, add)
        _check_numbers(settings, row, numbers, rows, add, client, signal_registered)
        if policy is not None:
            _check_partners(policy, people[row.id], add)
            _check_threshold(policy, add)
        _check_volunteers(people[row.id], add)


def _people(session: Session, helpline_id: str) -> People:
    roles: dict[str, int] = {}
    partners: set[str] = set()
    own = session.exec(select(User.role, User.partner_id).where(
        col(User.helpline_id) == helpline_id, col(User.disabled).is_(False))).all()
    granted = session.exec(
        select(Membership.role, Membership.partner_id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(col(Membership.helpline_id) == helpline_id, col(User.disabled).is_(False))
    ).all()
    for role, partner_id in [*own, *granted]:
        roles[role] = roles.get(role, 0) + 1
        if role == "partner" and partner_id:
            partners.add(partner_id)
    return People(roles=roles, partner_ids=frozenset(partners))


def unreviewed(policy: Policy) -> list[str]:
    """The policy's tables whose texts reach texters or volunteers and still
    say REVIEW: the example policy marks what must be checked with comments,
    and a copied older example may still carry the mark inside a text, where
    a texter in danger would read it next to a phone number."""
    texts: list[tuple[str, dict[str, str]]] = [
        ("emergency", policy.emergency), ("support", policy.support), ("place", policy.place)]
    for partner in policy.partners:
        texts += [(f"partners.{partner.id}.{name}", table) for name, table in
                  (("name", partner.name), ("description", partner.description),
                   ("hours", partner.hours))]
    return [where for where, table in texts if any("REVIEW" in t for t in table.values())]


def review_warning(policy: Policy, where: str = "") -> str | None:
    """The doctor's line for `unreviewed`, or None when nothing is marked."""
    marked = unreviewed(policy)
    if not marked:
        return None
    return (f"texters would read REVIEW in {', '.join(marked)}{where}: check those texts "
            "and take the mark out.")


def _check_policy(
    settings: Settings, row: Helpline, shared: Policy | None, add: Add
) -> Policy | None:
    if row.policy is None:
        where = ("the installation's policy file (HELPLINE_POLICY_FILE)"
                 if settings.policy_file else "the built-in default policy")
        if shared is None:
            add("FAIL", "policy", f"uses {where}, which is not valid (see 'policy' above).")
        else:
            add("ok", "policy", f"{where}, retention {shared.retention_days} days")
        return shared
    try:
        policy = load_policy(row.policy)
    except Exception as exc:  # noqa: BLE001 - the policy parser explains itself
        add("FAIL", "policy", f"its own policy file is not valid: {exc}; fix it and store "
            "it again from the admin console's Helplines page.")
        return None
    add("ok", "policy", f"its own policy file, valid ({len(policy.languages)} languages, "
        f"retention {policy.retention_days} days)")
    if warning := review_warning(policy):
        add("warn", "policy", warning)
    return policy


def _check_numbers(
    settings: Settings, row: Helpline, numbers: dict[str, tuple[str | None, str | None]],
    rows: list[Helpline], add: Add, client: httpx.Client, signal_registered: set[str] | None,
) -> None:
    whatsapp, signal = numbers[row.id]
    if whatsapp is None and signal is None:
        if settings.webchat:
            add("warn", "numbers", "no WhatsApp phone number id and no Signal number: "
                "texters reach it by web chat only.")
        else:
            add("FAIL", "numbers", "no WhatsApp phone number id and no Signal number: no "
                "texter can reach it. Give it its own number (docs/operating.md, "
                "'Adding a region').")
        return
    clash = False
    for other in rows:
        if other.id == row.id:
            continue
        other_whatsapp, other_signal = numbers[other.id]
        for channel, mine, theirs in (("WhatsApp phone number id", whatsapp, other_whatsapp),
                                      ("Signal number", signal, other_signal)):
            if mine is not None and mine == theirs:
                clash = True
                add("FAIL", "numbers", f"its {channel} is also helpline {other.slug}'s: "
                    "a delivery to it cannot be told apart. Each helpline needs its own.")
    if not clash:
        channels = [name for name, value in (("WhatsApp", whatsapp), ("Signal", signal))
                    if value is not None]
        add("ok", "numbers", f"{' and '.join(channels)}, not shared with another helpline")
    if whatsapp is not None:
        _check_whatsapp_number(settings, whatsapp, add, client)
    if signal is not None:
        _check_signal_number(settings, signal, add, signal_registered)


def _check_whatsapp_number(settings: Settings, number_id: str, add: Add,
                           client: httpx.Client) -> None:
    token = settings.whatsapp_access_token
    if not settings.whatsapp_enabled or token is None:
        add("warn", "whatsapp", f"phone number id {number_id} is set but WhatsApp is off "
            "or has no access token: nothing arrives on it.")
        return
    if number_id == settings.whatsapp_phone_number_id:
        return  # the installation's own number: checked in 'whatsapp' above
    # The same harmless read as the installation's check, for this number.
    try:
        response = client.get(f"{settings.whatsapp_api_url}/{number_id}",
                              headers={"Authorization": f"Bearer {token.get_secret_value()}"})
    except httpx.HTTPError as exc:
        add("FAIL", "whatsapp", f"cannot reach {settings.whatsapp_api_url} "
            f"({type(exc).__name__}).")
        return
    if response.status_code == 200:
        add("ok", "whatsapp", f"phone number id {number_id} accepted for the access token")
    else:
        add("FAIL", "whatsapp", f"phone number id {number_id} refused (HTTP "
            f"{response.status_code}): add the number to the same Meta app (WhatsApp "
            "Manager > Phone numbers) or correct the id.")


def _check_signal_number(settings: Settings, number: str, add: Add,
                         registered: set[str] | None) -> None:
    if not settings.signal_enabled:
        add("warn", "signal", "a Signal number is set but Signal is off "
            "(HELPLINE_SIGNAL_API_URL not set): nothing arrives on it.")
    elif registered is None:
        add("warn", "signal", "could not check the Signal number (see 'signal' above).")
    elif number in registered:
        add("ok", "signal", "its Signal number is registered with signal-cli-rest-api")
    else:
        add("FAIL", "signal", "its Signal number is not registered with signal-cli-rest-api; "
            "register or link it (docs/operating.md, 'Signal').")


def _check_partners(policy: Policy, people: People, add: Add) -> None:
    menu = {partner_id: slot for slot, partner_id in policy.menu.items()}
    missing_menu = [f"{p} (menu {menu[p]})" for p in sorted(menu)
                    if p not in people.partner_ids]
    missing = [p.id for p in policy.partners if p.id not in menu
               and p.id not in people.partner_ids]
    unknown = sorted(people.partner_ids - {p.id for p in policy.partners})
    if missing_menu:
        add("FAIL", "partners", "no active partner account for " + ", ".join(missing_menu)
            + ": a texter who picks it and consents is referred to nobody. Create one "
            "(admin console, Accounts, role partner).")
    if missing:
        add("warn", "partners", "no active partner account for " + ", ".join(missing)
            + ": a referral to it reaches nobody.")
    if unknown:
        add("warn", "partners", "partner accounts for " + ", ".join(unknown)
            + ", which the policy file does not list: they see no referrals.")
    if not (missing_menu or missing or unknown):
        add("ok", "partners", f"{len(policy.partners)} partner(s), each with an account")


def _check_threshold(policy: Policy, add: Add) -> None:
    k = policy.stats_threshold
    if k < MIN_THRESHOLD:
        add("FAIL", "statistics", f"stats_threshold is {k}: counts of one person are "
            f"published. Set it to {ADVISED_THRESHOLD} (at least {MIN_THRESHOLD}).")
    elif k < ADVISED_THRESHOLD:
        add("warn", "statistics", f"stats_threshold is {k}, below the advised "
            f"{ADVISED_THRESHOLD}: small groups are easier to recognise.")
    else:
        add("ok", "statistics", f"stats_threshold {k}")


def _check_volunteers(people: People, add: Add) -> None:
    volunteers = people.roles.get("volunteer", 0)
    if volunteers == 0:
        add("FAIL", "volunteers", "no active volunteer account: texters wait in a queue "
            "nobody reads. Create one (admin console, Accounts).")
    else:
        add("ok", "volunteers", f"{volunteers} active volunteer account(s)")
