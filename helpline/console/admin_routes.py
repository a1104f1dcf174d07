"""Admin JSON routes: accounts, saved replies, the audit log.

Admins manage configuration; nothing here returns a message body, a note or a
texter's anything. The audit log shows actions on ids and pseudonyms only.
"""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from helpline.console import accounts, audit, auth
from helpline.console.deps import CurrentAdmin
from helpline.errors import HelplineError, NotFound
from helpline.http import ServicesDep
from helpline.store.models import SavedReply, User
from helpline.text_input import UserText

router = APIRouter(tags=["admin"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: UserText = Field(max_length=64)
    role: UserText = Field(max_length=16)
    password: UserText = Field(max_length=auth.PASSWORD_MAX)
    alias: UserText | None = Field(default=None, max_length=64)
    partner: UserText | None = Field(default=None, max_length=64)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: UserText = Field(max_length=16)
    partner: UserText | None = Field(default=None, max_length=64)


class SavedReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: UserText = Field(min_length=2, max_length=8)
    title: UserText = Field(min_length=1, max_length=120)
    body: UserText = Field(min_length=1, max_length=4000)


class LanguageUnknown(HelplineError):
    status_code = 400
    public_message = "language not offered by the policy"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "alias": user.alias,
        "role": user.role,
        "partner": user.partner_id,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


def secret_json(user: User, secret: str) -> dict[str, Any]:
    """The new TOTP secret as a provisioning URI and as a QR code (an SVG
    data: URI, so the page draws it without a script library or another
    origin). Shown this once, never again."""
    uri = auth.provisioning_uri(secret, user.username)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
    return {"user": user_json(user), "totp_uri": uri, "totp_qr": qr}


def reply_json(reply: SavedReply) -> dict[str, Any]:
    return {"id": reply.id, "language": reply.language, "title": reply.title,
            "body": reply.body, "updated_at": reply.updated_at.isoformat()}


# ------------------------------------------------------------------ accounts


@router.get("/api/admin/users")
def list_users(admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    return {"items": [user_json(u) for u in accounts.list_users(services, admin.helpline_id)]}


@router.post("/api/admin/users", status_code=201)
async def create_user(body: NewUser, admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    user, secret = await run_in_threadpool(
        accounts.create_user, services, body.username, body.role, body.password,
        body.alias, body.partner, None, actor_id=admin.user_id, helpline_id=admin.helpline_id,
    )
    return secret_json(user, secret)


@router.post("/api/admin/users/{user_id}/disable")
def disable_user(user_id: str, admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    return {"user": user_json(accounts.set_disabled(services, admin.user_id, user_id, True,
                                                         admin.helpline_id))}


@router.post("/api/admin/users/{user_id}/enable")
def enable_user(user_id: str, admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    return {"user": user_json(accounts.set_disabled(services, admin.user_id, user_id, False,
                                                         admin.helpline_id))}


@router.post("/api/admin/users/{user_id}/reset-totp")
def reset_totp(user_id: str, admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    user, secret = accounts.reset_totp(services, admin.user_id, user_id, admin.helpline_id)
    return secret_json(user, secret)


@router.post("/api/admin/users/{user_id}/role")
def change_role(
    user_id: str, body: RoleChange, admin: CurrentAdmin, services: ServicesDep
) -> dict[str, Any]:
    user = accounts.change_role(services, admin.user_id, user_id, body.role, body.partner,
                                admin.helpline_id)
    return {"user": user_json(user)}


# ------------------------------------------------------------------ saved replies


def _check_language(services: ServicesDep, language: str, helpline_id: str) -> None:
    if language not in services.policy_for(helpline_id).languages:
        raise LanguageUnknown()


def _own_reply(session: Session, reply_id: str, helpline_id: str) -> SavedReply:
    reply = session.get(SavedReply, reply_id)
    if reply is None or reply.helpline_id != helpline_id:
        raise NotFound()
    return reply


@router.get("/api/admin/saved-replies")
def list_saved_replies(admin: CurrentAdmin, services: ServicesDep) -> dict[str, Any]:
    with services.db.session() as session:
        rows = session.exec(
            select(SavedReply).where(SavedReply.helpline_id == admin.helpline_id)
            .order_by(col(SavedReply.language), col(SavedReply.title))
        )
        return {"items": [reply_json(r) for r in rows]}


@router.post("/api/admin/saved-replies", status_code=201)
def create_saved_reply(
    body: SavedReplyIn, admin: CurrentAdmin, services: ServicesDep
) -> dict[str, Any]:
    _check_language(services, body.language, admin.helpline_id)
    now = services.now()
    with services.db.session() as session:
        reply = SavedReply(helpline_id=admin.helpline_id, language=body.language,
                           title=body.title, body=body.body, created_at=now, updated_at=now)
        session.add(reply)
        session.flush()
        audit.record(session, admin.user_id, audit.SAVED_REPLY_CREATE, reply.id, now,
                     helpline_id=admin.helpline_id)
        return reply_json(reply)


@router.put("/api/admin/saved-replies/{reply_id}")
def update_saved_reply(
    reply_id: str, body: SavedReplyIn, admin: CurrentAdmin, services: ServicesDep
) -> dict[str, Any]:
    _check_language(services, body.language, admin.helpline_id)
    now = services.now()
    with services.db.session() as session:
        reply = _own_reply(session, reply_id, admin.helpline_id)
        reply.language, reply.title, reply.body = body.language, body.title, body.body
        reply.updated_at = now
        session.add(reply)
        audit.record(session, admin.user_id, audit.SAVED_REPLY_UPDATE, reply.id, now,
                     helpline_id=admin.helpline_id)
        return reply_json(reply)


@router.delete("/api/admin/saved-replies/{reply_id}")
def delete_saved_reply(
    reply_id: str, admin: CurrentAdmin, services: ServicesDep
) -> dict[str, str]:
    now = services.now()
    with services.db.session() as session:
        reply = _own_reply(session, reply_id, admin.helpline_id)
        session.delete(reply)
        audit.record(session, admin.user_id, audit.SAVED_REPLY_DELETE, reply_id, now,
                     helpline_id=admin.helpline_id)
    return {"status": "deleted"}


# ------------------------------------------------------------------ audit log


@router.get("/api/admin/audit")
def audit_log(
    admin: CurrentAdmin,
    services: ServicesDep,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    with services.db.session() as session:
        rows, cursor = audit.page(session, before_id=before, limit=limit,
                                  helpline_id=admin.helpline_id)
        return {
            "items": [
                {"id": r.id, "at": r.at.isoformat(), "actor": r.actor_id, "action": r.action,
                 "object": r.object_ref}
                for r in rows
            ],
            "next_cursor": str(cursor) if cursor is not None else None,
        }
