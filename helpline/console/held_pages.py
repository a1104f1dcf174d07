"""The coordinator's "covering for a colleague" page, `/console/held`: which
peer conversations are held, by whom and since when, with a hand-over back to
the queue or to a named volunteer.

It renders `handover.held` (aliases, times, channel, urgency: never a
pseudonym, a language or a word of content, privacy.md §7.3) and
`helpline/static/held.js` posts the hand-over to `/api/held/{id}/handover`,
which is audited as `conversation.handover`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helpline.console import handover, pages
from helpline.console.deps import COORDINATOR, OptionalUser
from helpline.http import ServicesDep

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/held", response_class=HTMLResponse)
def held_page(request: Request, user: OptionalUser, services: ServicesDep) -> Response:
    if user is None:
        return pages.to_sign_in(request)
    if user.role != COORDINATOR:
        return pages.not_for_role(request, user)
    rows = handover.held(services, user)
    return pages.render(request, "held.html", user, rows=rows,
                        volunteers=handover.volunteers(services, user))
