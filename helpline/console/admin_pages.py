"""The admin's home, `/console/accounts`: accounts and the audit log.

Rendered on the server from the same service calls as `/api/admin/*`;
`helpline/static/accounts.js` performs the changes through that JSON API
(create, disable, enable, new TOTP secret, role). Nothing here reads a
conversation: the audit log shows actions on internal ids, and accounts by
username and alias.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from helpline.console import accounts, audit, pages
from helpline.console.admin_routes import user_json
from helpline.console.deps import ADMIN, NATIONAL, ROLES, OptionalUser
from helpline.http import ServicesDep
from helpline.store.models import DEFAULT_HELPLINE_ID

router = APIRouter(prefix="/console", include_in_schema=False)
AUDIT_PAGE = 50


def account_view(user: Any, me: str) -> dict[str, Any]:
    return {**user_json(user), "me": user.id == me}


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request,
    user: OptionalUser,
    services: ServicesDep,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    if user is None:
        return pages.to_sign_in(request)
    if user.role != ADMIN:
        return pages.not_for_role(request, user)
    people = accounts.list_users(services, user.helpline_id)
    alias_of = {p.id: p.alias for p in people}
    with services.db.session() as session:
        rows, cursor = audit.page(session, before_id=before, limit=AUDIT_PAGE,
                                  helpline_id=user.helpline_id)
        entries = [
            {
                "at": row.at.isoformat(),
                "actor": alias_of.get(row.actor_id or "", row.actor_id),
                "action": row.action,
                # An account's id reads better as its alias; other objects
                # (conversations, saved replies) keep their internal id.
                "object": alias_of.get(row.object_ref or "", row.object_ref),
            }
            for row in rows
        ]
    lang = pages.page_language(user, request)
    policy = services.policy_for(user.helpline_id)
    return pages.render(
        request,
        "accounts.html",
        user,
        people=[account_view(p, user.user_id) for p in people],
        # The national role spans helplines: only the installation grants it.
        roles=[r for r in ROLES if r != NATIONAL or user.helpline_id == DEFAULT_HELPLINE_ID],
        partners=[(p.id, p.name.get(lang) or p.name.get(policy.default_language)
                   or p.id) for p in policy.partners],
        entries=entries,
        older=cursor,
        paged=before is not None,
    )
