"""Peer safety over HTTP: the safety-alert JSON API (`/api/alerts`, and
drafting from a conversation), the page `/console/alerts` where drafts are
approved and past alerts are listed with delivery counts
(helpline.console.safety_alerts), and a volunteer's own notification
settings (`/api/me/notifications`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from helpline.console import notification_settings, pages, safety_alerts
from helpline.console.deps import (
    COORDINATOR,
    VOLUNTEER,
    CurrentVolunteer,
    OptionalUser,
    require_roles,
)
from helpline.console.sessions import SessionUser
from helpline.http import ServicesDep
from helpline.text_input import UserText

router = APIRouter(prefix="/api")
# The role is checked before the body is read, so a wrong role is 403 whatever it sent.
AlertHandler = Annotated[SessionUser, Depends(require_roles(VOLUNTEER, COORDINATOR))]
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
def list_alerts(user: AlertHandler, services: ServicesDep) -> dict[str, Any]:
    return safety_alerts.list_alerts(services, user)


@router.post("/alerts/{alert_id}/approve")
def approve_alert(alert_id: str, user: AlertHandler, services: ServicesDep) -> dict[str, Any]:
    return safety_alerts.approve(services, user, alert_id)


@router.post("/alerts/{alert_id}/discard")
def discard_alert(alert_id: str, user: AlertHandler, services: ServicesDep) -> dict[str, Any]:
    return safety_alerts.discard(services, user, alert_id)


class NotificationsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    signal: UserText | None = None
    quiet_from: UserText | None = None
    quiet_until: UserText | None = None


@router.get("/me/notifications")
def my_notifications(user: CurrentVolunteer, services: ServicesDep) -> dict[str, Any]:
    return notification_settings.get(services, user)


@router.put("/me/notifications")
def set_my_notifications(
    body: NotificationsIn, user: CurrentVolunteer, services: ServicesDep
) -> dict[str, Any]:
    return notification_settings.put(services, user, body.signal, body.quiet_from,
                                     body.quiet_until)


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


@page_router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, user: OptionalUser, services: ServicesDep) -> Response:
    """A volunteer's own notification settings (the number shown masked)."""
    if user is None:
        return pages.to_sign_in(request)
    if user.role != "volunteer":
        return pages.not_for_role(request, user)
    return pages.render(request, "notifications.html", user,
                        current=notification_settings.get(services, user))
