"""Safety alerts over HTTP: the JSON API (`/api/alerts`, and drafting from a
conversation) and the page `/console/alerts` where drafts are approved and
past alerts are listed with delivery counts (helpline.console.safety_alerts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from helpline.console import pages, safety_alerts
from helpline.console.deps import CurrentUser, CurrentVolunteer, OptionalUser
from helpline.http import ServicesDep
from helpline.text_input import UserText

router = APIRouter(prefix="/api")
page_router = APIRouter(prefix="/console", include_in_schema=False)


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: UserText


@router.post("/conversations/{conversation_id}/alerts", status_code=201)
def draft_alert(
    conversation_id: str, body: AlertIn, user: CurrentVolunteer, services: ServicesDep
) -> JSONResponse:
    # The role is checked before the body is read (permission before validation).
    return JSONResponse(safety_alerts.draft(services, user, conversation_id, body.text),
                        status_code=201)


@router.get("/alerts")
def list_alerts(user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    return safety_alerts.list_alerts(services, user)


@router.post("/alerts/{alert_id}/approve")
def approve_alert(alert_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    return safety_alerts.approve(services, user, alert_id)


@router.post("/alerts/{alert_id}/discard")
def discard_alert(alert_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    return safety_alerts.discard(services, user, alert_id)


@page_router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: OptionalUser, services: ServicesDep) -> Response:
    if user is None:
        return pages.to_sign_in(request)
    if user.role not in safety_alerts.APPROVERS:
        return pages.not_for_role(request, user)
    listing = safety_alerts.list_alerts(services, user)
    return pages.render(request, "alerts.html", user, alerts=listing["items"],
                        subscribers=listing["subscribers"],
                        per_week=services.policy_for(user.helpline_id).alerts_per_week)
