"""Choosing the helpline to work in, and the installation's helplines.

`/api/auth/helplines` and `/api/auth/helpline`: an account with roles in
several helplines picks one after sign-in (until then it has no role, see
`helpline.console.sessions`); the header shows which one is active and links
here to switch. `/api/admin/helplines` and `/console/helplines`: the admins
of the default helpline, who run the installation, list and add helplines
(the same service as `helpline helpline add`). Admins of any other helpline
manage their own region only and get 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from helpline.console import memberships, navigation, pages
from helpline.console.deps import ADMIN, CurrentAdmin, CurrentUser, OptionalUser
from helpline.errors import Forbidden, NotFound
from helpline.http import ServicesDep
from helpline.logs import event
from helpline.ops.helplines import HelplineSpec, add_helpline, list_helplines
from helpline.services import Services
from helpline.store.models import DEFAULT_HELPLINE_ID, User
from helpline.text_input import UserText

router = APIRouter()


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    helpline: UserText = Field(max_length=32)


class HelplineIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    slug: UserText = Field(max_length=32)
    name: UserText = Field(max_length=120)
    whatsapp_phone_number_id: UserText | None = Field(default=None, max_length=32)
    signal_number: UserText | None = Field(default=None, max_length=20)
    policy: UserText | None = Field(default=None, max_length=200000)  # the policy file's text


def choices(services: Services, user_id: str, active: str | None) -> list[dict[str, Any]]:
    with services.db.read_session() as session:
        account = session.get(User, user_id)
        roles = memberships.roles_of(session, account) if account is not None else []
    out = []
    for role in roles:
        helpline = services.helpline(role.helpline_id)
        out.append({"slug": helpline.slug, "name": helpline.name, "role": role.role,
                    "active": role.helpline_id == active})
    return out


@router.get("/api/auth/helplines", tags=["auth"])
def my_helplines(user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    active = None if user.choosing else user.helpline_id
    return {"items": choices(services, user.user_id, active), "choosing": user.choosing}


@router.post("/api/auth/helpline", tags=["auth"])
def choose_helpline(body: ChoiceIn, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    target = services.helplines.by_slug(body.helpline)
    if target is None:
        raise NotFound()
    with services.db.session() as session:
        account = session.get(User, user.user_id)
        if account is None:
            raise NotFound()
        role = memberships.choose(session, user.session_id, account, target.id)
    event("console.helpline_chosen", user=user.user_id, helpline=target.slug)
    return {"helpline": target.slug, "role": role.role, "home": navigation.home_for(role.role)}


@router.get("/console/helpline", response_class=HTMLResponse, include_in_schema=False)
def choice_page(request: Request, user: OptionalUser, services: ServicesDep) -> Response:
    if user is None:
        return pages.to_sign_in(request)
    active = None if user.choosing else user.helpline_id
    return pages.render(request, "helpline_choice.html", user,
                        items=choices(services, user.user_id, active))


def _installation_admin(user: Any) -> None:
    if user.helpline_id != DEFAULT_HELPLINE_ID:
        raise Forbidden()


@router.get("/api/admin/helplines", tags=["admin"])
def helplines(admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    _installation_admin(admin)
    return {"items": list_helplines(services)}


@router.post("/api/admin/helplines", status_code=201, tags=["admin"])
async def create_helpline(
    body: HelplineIn, admin: CurrentAdmin, services: ServicesDep
) -> dict[str, Any]:
    _installation_admin(admin)
    spec = HelplineSpec(slug=body.slug, name=body.name,
                        whatsapp_phone_number_id=body.whatsapp_phone_number_id or None,
                        signal_number=body.signal_number or None, policy=body.policy or None)
    row = await run_in_threadpool(add_helpline, services, spec, actor_id=admin.user_id)
    return {"id": row.id, "slug": row.slug, "name": row.name}


@router.get("/console/helplines", response_class=HTMLResponse, include_in_schema=False)
def helplines_page(request: Request, user: OptionalUser, services: ServicesDep) -> Response:
    if user is None:
        return pages.to_sign_in(request)
    if user.role != ADMIN or user.helpline_id != DEFAULT_HELPLINE_ID:
        return pages.not_for_role(request, user)
    return pages.render(request, "helplines.html", user, items=list_helplines(services))
