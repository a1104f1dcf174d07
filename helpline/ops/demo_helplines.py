"""The two helplines of `helpline demo`: Tilburg (the installation's default
helpline) and Zeeland, so training shows the separation (issue 17): each has
its own fake WhatsApp phone number id and Signal number, its own policy and
its own people, and a texter in the simulator chooses whose number to write
to. The numbers are made up and reach no platform (the demo talks to none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import select

from helpline.ops.helplines import HelplineSpec, add_helpline
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, Helpline
from routing.policy_file import default_policy_text


@dataclass(frozen=True)
class DemoHelpline:
    slug: str
    name: str
    whatsapp_phone_number_id: str
    signal_number: str


TILBURG = DemoHelpline("tilburg", "Tilburg", "1010101010", "+31600000010")
ZEELAND = DemoHelpline("zeeland", "Zeeland", "2020202020", "+31600000020")
HELPLINES = (TILBURG, ZEELAND)


def zeeland_policy() -> str:
    """Tilburg's policy with what differs in Zeeland: opening hours (the
    afternoon line and a Saturday), the place the welcome names, a higher
    statistics threshold (a smaller region) and the web chat's neutral look.
    A trainee sees the difference in the welcome and after-hours replies and
    on the statistics page."""
    text = default_policy_text()
    text = text.replace("# Helpline policy: Tilburg.", "# Helpline policy: Zeeland (demo).", 1)
    text = re.sub(r"(?m)^stats_threshold = \d+$", "stats_threshold = 10", text, count=1)
    hours = re.search(r"(?ms)^\[hours\]\n(.*?)^closed = ", text)
    if hours is None:  # the built-in policy changed shape: fail loudly in tests
        raise RuntimeError("no [hours] table in the built-in policy")
    zeeland_hours = (
        'mon = ["13:00-17:00"]\ntue = ["13:00-17:00"]\nwed = ["13:00-17:00"]\n'
        'thu = ["13:00-17:00", "19:00-22:00"]\nfri = ["13:00-17:00"]\n'
        'sat = ["12:00-16:00"]\nsun = []\n# Public holidays the line is closed.\n'
    )
    text = text[: hours.start(1)] + zeeland_hours + text[hours.end(1):]
    place = re.search(r"(?ms)^\[place\]\n(.*?)\n\n", text)
    if place is None:
        raise RuntimeError("no [place] table in the built-in policy")
    text = text[: place.start(1)] + ZEELAND_PLACE + text[place.end(1):]
    return text.replace('title = "Notes"', 'title = "Weather"', 1).replace(
        'favicon = "notes"', 'favicon = "cloud"', 1)


# How the welcome says where Zeeland's peer group is, in each language.
ZEELAND_PLACE = (
    'nl = "in Zeeland"\nen = "in Zeeland"\nes = "de Zelanda"\nro = "din Zeelanda"\n'
    'bg = "в Зеландия"\npl = "w Zelandii"'
)


def ensure_helplines(services: Services) -> dict[str, str]:
    """Slug -> helpline id for Tilburg and Zeeland, made the first time. The
    default helpline becomes Tilburg (its slug, name and fake numbers); its
    policy stays the installation's (the built-in one is Tilburg's)."""
    with services.db.session() as session:
        default = session.get(Helpline, DEFAULT_HELPLINE_ID)
        if default is not None and default.slug != TILBURG.slug:
            default.slug, default.name = TILBURG.slug, TILBURG.name
            default.whatsapp_phone_number_id = TILBURG.whatsapp_phone_number_id
            default.signal_number = TILBURG.signal_number
        zeeland = session.exec(select(Helpline.id).where(Helpline.slug == ZEELAND.slug)).first()
    services.helplines.reload()
    if zeeland is None:
        zeeland = add_helpline(services, HelplineSpec(
            slug=ZEELAND.slug, name=ZEELAND.name,
            whatsapp_phone_number_id=ZEELAND.whatsapp_phone_number_id,
            signal_number=ZEELAND.signal_number, policy=zeeland_policy(),
        )).id
    return {TILBURG.slug: DEFAULT_HELPLINE_ID, ZEELAND.slug: zeeland}
