"""The conversation JSON API (`/api/conversations...`), as fixed in docs/contract.md.

Thin: parse, call `conversation_service`, answer. Routes are plain `def`
(run in the thread pool) because the service does blocking database work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, StrictBool

from helpline.console import conversation_service as svc
from helpline.console import handover
from helpline.console.auth_routes import UI_LANGUAGES
from helpline.console.deps import CurrentCoordinator, CurrentResponder, CurrentUser
from helpline.errors import HelplineError
from helpline.http import ServicesDep
from helpline.store.models import User
from helpline.text_input import UserText

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(prefix="/api")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MessageIn(_Body):
    body: UserText


class NoteIn(_Body):
    body: UserText


class ReferralIn(_Body):
    partner: UserText
    note: UserText | None = None


class TransferIn(_Body):
    to: UserText


class HandOverIn(_Body):
    to: UserText | None = None


class LabelsIn(_Body):
    labels: list[UserText]


class ContentWarningIn(_Body):
    on: StrictBool


class LanguageIn(_Body):
    language: UserText


@router.get("/conversations")
def list_conversations(
    user: CurrentResponder,
    services: ServicesDep,
    view: str = Query(default="queue", max_length=16),
    cursor: str | None = Query(default=None, max_length=512),
    limit: int = Query(default=svc.PAGE_SIZE, ge=1, le=200),
) -> dict[str, Any]:
    page = svc.list_conversations(services, user, view, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/conversations/{conversation_id}")
def get_conversation(
    conversation_id: str, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    detail = svc.get_conversation(services, user, conversation_id)
    svc.record_open(services, user, conversation_id)
    return detail


@router.post("/conversations/{conversation_id}/claim")
def claim(conversation_id: str, user: CurrentResponder, services: ServicesDep) -> dict[str, Any]:
    return svc.claim(services, user, conversation_id)


@router.post("/conversations/{conversation_id}/release")
def release(
    conversation_id: str, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.release(services, user, conversation_id)


@router.post("/conversations/{conversation_id}/transfer")
def transfer(
    conversation_id: str, body: TransferIn, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.transfer(services, user, conversation_id, body.to)


@router.get("/held")
def held(user: CurrentCoordinator, services: ServicesDep) -> dict[str, Any]:
    return {"items": handover.held(services, user)}


@router.post("/held/{conversation_id}/handover")
def hand_over(
    conversation_id: str, body: HandOverIn, user: CurrentCoordinator, services: ServicesDep
) -> dict[str, Any]:
    return handover.hand_over(services, user, conversation_id, body.to)


@router.post("/conversations/{conversation_id}/messages", status_code=201)
def send_message(
    conversation_id: str, body: MessageIn, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.send_message(services, user, conversation_id, body.body)


@router.post("/conversations/{conversation_id}/messages/{message_id}/retry")
def retry_message(
    conversation_id: str, message_id: str, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.retry_message(services, user, conversation_id, message_id)


@router.post("/conversations/{conversation_id}/close")
def close(conversation_id: str, user: CurrentResponder, services: ServicesDep) -> dict[str, Any]:
    return svc.close(services, user, conversation_id)


@router.post("/conversations/{conversation_id}/referrals", status_code=201)
def propose_referral(
    conversation_id: str, body: ReferralIn, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.propose_referral(services, user, conversation_id, body.partner, body.note)


@router.post("/conversations/{conversation_id}/notes", status_code=201)
def add_note(
    conversation_id: str, body: NoteIn, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.add_note(services, user, conversation_id, body.body)


@router.put("/conversations/{conversation_id}/labels")
def set_labels(
    conversation_id: str, body: LabelsIn, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.set_labels(services, user, conversation_id, body.labels)


@router.put("/conversations/{conversation_id}/content-warning")
def set_content_warning(
    conversation_id: str, body: ContentWarningIn, user: CurrentResponder, services: ServicesDep
) -> dict[str, Any]:
    return svc.set_content_warning(services, user, conversation_id, body.on)


@router.get("/saved-replies")
def saved_replies(
    user: CurrentResponder,
    services: ServicesDep,
    language: str | None = Query(default=None, max_length=8),
) -> dict[str, Any]:
    return {"items": svc.saved_replies(services, language, user.helpline_id)}


@router.get("/colleagues")
def colleagues(user: CurrentResponder, services: ServicesDep) -> dict[str, Any]:
    return {"items": svc.colleagues(services, user)}


class UnknownLanguage(HelplineError):
    status_code = 400
    public_message = "unsupported interface language"


@router.put("/me/language")
def set_language(body: LanguageIn, user: CurrentUser, services: ServicesDep) -> JSONResponse:
    """The console's own language (Dutch by default, English on request)."""
    if body.language not in UI_LANGUAGES:
        raise UnknownLanguage()
    with services.db.session() as session:
        account = session.get(User, user.user_id)
        if account is not None:
            account.ui_language = body.language
    return JSONResponse({"language": body.language})


def install(app: FastAPI) -> None:
    """Conversation API, live events, HTML pages, static files and the
    PostgreSQL live fan-out (called from `helpline.console.routes.install`)."""
    from helpline.console import events, pages
    from helpline.live import postgres as live_pg
    from helpline.media import routes as media_routes

    app.include_router(router)
    app.include_router(media_routes.router)
    app.include_router(events.router)
    app.include_router(pages.router)
    if not any(getattr(r, "path", None) == "/static" for r in app.routes):
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.startup_hooks.append(live_pg.start)
