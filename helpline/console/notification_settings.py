"""A volunteer's own notification settings: the Signal number (sealed under
the account's data key, shown back only masked) and quiet hours."""

from __future__ import annotations

import re
from typing import Any

from helpline.console.alert_masking import mask
from helpline.console.conversation_access import Actor, BadRequest, audit_action
from helpline.errors import Forbidden, NotFound
from helpline.services import Services
from helpline.store.models import User, VolunteerNotifier

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class NotForVolunteersOnly(Forbidden):
    public_message = "notifications are for volunteers"


class InvalidSignalNumber(BadRequest):
    public_message = "give the Signal number in international form: + and country code first"


class InvalidQuietHours(BadRequest):
    public_message = "quiet hours are two times HH:MM (from and until), or none"


def _require_volunteer(actor: Actor) -> None:
    if actor.role != "volunteer":
        raise NotForVolunteersOnly()


def get(services: Services, actor: Actor) -> dict[str, Any]:
    _require_volunteer(actor)
    with services.db.session() as session:
        notifier = session.get(VolunteerNotifier, actor.user_id)
        if notifier is None:
            return {"signal": None, "quiet_from": None, "quiet_until": None}
        user = session.get(User, actor.user_id)
        if user is None:  # the session's own account: gone means signed out
            raise NotFound()
        key = services.vault.key(session, user.data_key_id)
        number = services.vault.open(key, notifier.signal_target, "volunteer_notifiers",
                                     "signal_target", user.id)
        return {"signal": mask(number), "quiet_from": notifier.quiet_from,
                "quiet_until": notifier.quiet_until}


def put(
    services: Services, actor: Actor, signal: str | None, quiet_from: str | None,
    quiet_until: str | None,
) -> dict[str, Any]:
    """Register (or replace) the number and quiet hours; `signal` None removes both."""
    _require_volunteer(actor)
    if (quiet_from is None) != (quiet_until is None):
        raise InvalidQuietHours()
    for value in (quiet_from, quiet_until):
        if value is not None and not _CLOCK.match(value):
            raise InvalidQuietHours()
    with services.db.session() as session:
        notifier = session.get(VolunteerNotifier, actor.user_id)
        if signal is None:
            if notifier is not None:
                session.delete(notifier)
                audit_action(services, session, actor, "notifications.off", actor.user_id)
            return {"signal": None, "quiet_from": None, "quiet_until": None}
        number = signal.replace(" ", "")
        if not _E164.match(number):
            raise InvalidSignalNumber()
        user = session.get(User, actor.user_id)
        if user is None:
            raise NotFound()
        key = services.vault.key(session, user.data_key_id)
        sealed = services.vault.seal(key, number, "volunteer_notifiers", "signal_target",
                                     user.id)
        if notifier is None:
            notifier = VolunteerNotifier(user_id=user.id, signal_target=sealed)
        notifier.signal_target = sealed
        notifier.quiet_from, notifier.quiet_until = quiet_from, quiet_until
        session.add(notifier)
        audit_action(services, session, actor, "notifications.on", actor.user_id)
    return {"signal": mask(number), "quiet_from": quiet_from, "quiet_until": quiet_until}
