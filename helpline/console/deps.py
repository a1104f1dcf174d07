"""FastAPI dependencies for console routes: who is signed in, and in what role.

Use the `Annotated` aliases in route signatures:

    @router.get("/api/things")
    def things(user: CurrentVolunteer, services: ServicesDep) -> ...

Anonymous (no cookie, unknown, expired or revoked session, disabled account)
is 401 JSON; a signed-in user in the wrong role is 403. Roles do not nest:
an admin is not a volunteer and reads no conversations (DESIGN: admins manage
configuration, not content). CSRF and Origin checks for unsafe methods are
app-wide (`helpline.console.csrf.CsrfMiddleware`), so a new route cannot
forget them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from helpline.console import sessions
from helpline.console.sessions import SessionUser
from helpline.errors import Forbidden, HelplineError
from helpline.http import ServicesDep

VOLUNTEER = "volunteer"
PARTNER = "partner"
COORDINATOR = "coordinator"
ADMIN = "admin"
# Sees the combined, suppressed statistics of every helpline and nothing
# else: no helpline's own figures, accounts or conversations (issue 17).
NATIONAL = "national"
ROLES = (VOLUNTEER, PARTNER, COORDINATOR, ADMIN, NATIONAL)


class NotSignedIn(HelplineError):
    status_code = 401
    public_message = "not signed in"


class ChooseHelpline(Forbidden):
    public_message = "choose a helpline first"


def session_token(request: Request, services: ServicesDep) -> str | None:
    """The raw cookie token (for sign-out and SSE re-checks)."""
    return request.cookies.get(sessions.cookie_name(services.settings))


def optional_user(request: Request, services: ServicesDep) -> SessionUser | None:
    """The signed-in user or None; for pages that redirect to sign-in instead of 401."""
    cached = getattr(request.state, "user", None)
    if isinstance(cached, SessionUser):
        return cached
    user = sessions.load(services, session_token(request, services))
    request.state.user = user
    return user


def current_user(
    user: Annotated[SessionUser | None, Depends(optional_user)],
) -> SessionUser:
    if user is None:
        raise NotSignedIn()
    return user


def require_roles(*roles: str) -> Callable[[SessionUser], SessionUser]:
    """Dependency factory: the signed-in user, if their role is one of `roles`."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def dependency(user: Annotated[SessionUser, Depends(current_user)]) -> SessionUser:
        if user.choosing:
            raise ChooseHelpline()
        if user.role not in roles:
            raise Forbidden()
        return user

    dependency.__name__ = "require_" + "_or_".join(roles)
    return dependency


OptionalUser = Annotated[SessionUser | None, Depends(optional_user)]
CurrentUser = Annotated[SessionUser, Depends(current_user)]
CurrentVolunteer = Annotated[SessionUser, Depends(require_roles(VOLUNTEER))]
CurrentPartner = Annotated[SessionUser, Depends(require_roles(PARTNER))]
# Volunteers and partner workers both answer texters through the same relay;
# what each may see is then decided per conversation.
CurrentResponder = Annotated[SessionUser, Depends(require_roles(VOLUNTEER, PARTNER))]
CurrentCoordinator = Annotated[SessionUser, Depends(require_roles(COORDINATOR))]
CurrentStatsReader = Annotated[SessionUser, Depends(require_roles(COORDINATOR, ADMIN))]
CurrentAdmin = Annotated[SessionUser, Depends(require_roles(ADMIN))]
CurrentNational = Annotated[SessionUser, Depends(require_roles(NATIONAL))]
SessionToken = Annotated[str | None, Depends(session_token)]

__all__ = [
    "ADMIN",
    "COORDINATOR",
    "NATIONAL",
    "PARTNER",
    "ROLES",
    "VOLUNTEER",
    "CurrentAdmin",
    "CurrentCoordinator",
    "CurrentNational",
    "CurrentPartner",
    "CurrentResponder",
    "CurrentStatsReader",
    "CurrentUser",
    "CurrentVolunteer",
    "NotSignedIn",
    "OptionalUser",
    "SessionToken",
    "SessionUser",
    "current_user",
    "optional_user",
    "require_roles",
]
