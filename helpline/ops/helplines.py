"""Adding and listing helplines (`helpline helpline add|list`, the admin
console's helplines page). A helpline's numbers and policy are checked
before anything is stored: a wrong policy file or a number another helpline
already has is an error that says so, never a half-made region."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from helpline.console import audit
from helpline.errors import Conflict, HelplineError
from helpline.services import Services
from helpline.store.models import Helpline
from routing.policy_file import PolicyFileError, load_policy

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
# Graph API phone number ids are digits; Signal numbers E.164.
PHONE_NUMBER_ID = re.compile(r"^[0-9]{5,32}$")
SIGNAL_NUMBER = re.compile(r"^\+[1-9][0-9]{6,16}$")


RESERVED_SLUGS = frozenset({"api", "static"})


class HelplineInvalid(HelplineError):
    status_code = 400
    public_message = "invalid helpline data"
    explains = True  # the rule broken, for the installation admin's form


class HelplineConflict(Conflict):
    explains = True


@dataclass(frozen=True)
class HelplineSpec:
    slug: str
    name: str
    whatsapp_phone_number_id: str | None = None
    signal_number: str | None = None
    policy: str | None = None  # the policy file's text


def check(spec: HelplineSpec) -> None:
    if not SLUG.match(spec.slug):
        raise HelplineInvalid(
            "a slug has 2 to 32 characters: lowercase letters, digits and dashes, "
            "starting with a letter"
        )
    if spec.slug in RESERVED_SLUGS:
        # /chat/{slug} is the helpline's chat page; /chat/api is the default's API.
        raise HelplineInvalid(f"the slug {spec.slug!r} is reserved; choose another")
    if not 1 <= len(spec.name.strip()) <= 120:
        raise HelplineInvalid("a helpline's name has 1 to 120 characters")
    if spec.whatsapp_phone_number_id is not None and not PHONE_NUMBER_ID.match(
        spec.whatsapp_phone_number_id
    ):
        raise HelplineInvalid(
            "the WhatsApp phone number id is the digits Meta shows for the number "
            "(WhatsApp Manager, API setup), not the phone number itself"
        )
    if spec.signal_number is not None and not SIGNAL_NUMBER.match(spec.signal_number):
        raise HelplineInvalid("the Signal number must be in international form, like +31612345678")
    if spec.policy is not None:
        try:
            load_policy(spec.policy)
        except PolicyFileError as exc:
            raise HelplineInvalid(f"policy file: {exc}") from None


def add_helpline(
    services: Services, spec: HelplineSpec, *, actor_id: str | None = None
) -> Helpline:
    check(spec)
    taken = {h.account("whatsapp") for h in services.helplines.all()} | {
        h.account("signal") for h in services.helplines.all()
    }
    # The default helpline's numbers may live in settings only: a second
    # helpline must not take them either.
    wanted = {spec.whatsapp_phone_number_id, spec.signal_number} - {None}
    if wanted & taken:
        raise HelplineConflict("another helpline already has this number")
    try:
        with services.db.session() as session:
            if session.exec(select(Helpline.id).where(Helpline.slug == spec.slug)).first():
                raise HelplineConflict("a helpline with this slug exists")
            row = Helpline(
                slug=spec.slug, name=spec.name.strip(),
                whatsapp_phone_number_id=spec.whatsapp_phone_number_id,
                signal_number=spec.signal_number, policy=spec.policy,
                created_at=services.now(),
            )
            session.add(row)
            session.flush()
            # In the installation's (the default helpline's) log: who runs it.
            audit.record(session, actor_id, audit.HELPLINE_CREATE, row.id, services.now())
            session.expunge(row)
    except IntegrityError:
        raise HelplineConflict("a helpline with this slug or number exists") from None
    services.helplines.reload()
    return row


def helpline_json(services: Services, helpline_id: str) -> dict[str, object]:
    h = services.helpline(helpline_id)
    return {
        "id": h.id, "slug": h.slug, "name": h.name,
        "whatsapp_phone_number_id": h.whatsapp_phone_number_id,
        "signal_number": h.signal_number,
        "stats_threshold": h.policy.stats_threshold,
        "languages": list(h.policy.languages),
        "partners": [p.id for p in h.policy.partners],
    }


def list_helplines(services: Services) -> list[dict[str, object]]:
    services.helplines.reload()
    return [helpline_json(services, h.id) for h in services.helplines.all()]
