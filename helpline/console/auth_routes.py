"""`/api/auth/*`: sign in, sign out, who am I, change password."""

from __future__ import annotations

import functools
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from helpline.console import audit, auth, navigation, sessions, wellbeing
from helpline.console.deps import CurrentUser, SessionToken
from helpline.errors import HelplineError
from helpline.http import ServicesDep, read_capped

router = APIRouter(prefix="/api/auth", tags=["auth"])
UI_LANGUAGES = ("nl", "en")  # the console's own languages (not the texters')
BODY_LIMIT = 8 * 1024


class BodyNotJson(HelplineError):
    status_code = 422
    public_message = "body must be JSON"


async def json_object(request: Request) -> dict[str, Any] | None:
    """The JSON body if it is an object, None for other JSON; 422 if not JSON."""
    raw = await read_capped(request, BODY_LIMIT)
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyNotJson() from None
    return value if isinstance(value, dict) else None


def _text(body: dict[str, Any] | None, name: str) -> str:
    value = (body or {}).get(name)
    return value if isinstance(value, str) else ""


def _client_address(request: Request) -> str | None:
    # Only ever passed through the keyed hash for throttling; never stored or logged.
    return request.client.host if request.client else None


def _user_json(user: sessions.SessionUser) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "alias": user.alias}


@router.post("/login")
async def login(request: Request, response: Response, services: ServicesDep) -> dict[str, Any]:
    body = await json_object(request)
    username, password, code = _text(body, "username"), _text(body, "password"), \
        _text(body, "totp")
    if not username or not password or not code or len(username) > 256:
        raise auth.SignInFailed()
    # The language of the sign-in page (?lang=), kept for the account; anything
    # else (absent, unknown) leaves the account's saved choice as it is.
    language = _text(body, "lang")
    signed_in = await run_in_threadpool(
        functools.partial(
            auth.sign_in, services, username, password, code, _client_address(request),
            ui_language=language if language in UI_LANGUAGES else None,
        )
    )
    response.set_cookie(
        sessions.cookie_name(services.settings),
        signed_in.token,
        max_age=int(sessions.ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        secure=services.settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return {
        "csrf_token": signed_in.user.csrf_token,
        "user": _user_json(signed_in.user),
        "home": navigation.home_for(signed_in.user.role),
    }


@router.post("/logout")
def logout(response: Response, services: ServicesDep, token: SessionToken) -> dict[str, str]:
    user = None
    if token:
        user = sessions.load(services, token)
        with services.db.session() as session:
            sessions.revoke(session, sessions.session_id_for(token))
            if user is not None:
                audit.record(session, user.user_id, audit.LOGOUT, user.user_id, services.now())
    response.delete_cookie(
        sessions.cookie_name(services.settings),
        path="/",
        secure=services.settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    # Readers land on the end-of-shift page with where to get support.
    after = wellbeing.after_sign_out(user.role if user else None,
                                     user.ui_language if user else "nl")
    return {"status": "signed out", "next": after}


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return {
        **_user_json(user),
        "partner": user.partner_id,
        "ui_language": user.ui_language,
        "csrf_token": user.csrf_token,
    }


@router.post("/password")
async def change_password(
    request: Request, user: CurrentUser, services: ServicesDep
) -> dict[str, str]:
    body = await json_object(request)
    current, new = _text(body, "current_password"), _text(body, "new_password")
    if not current:
        raise auth.WrongPassword()
    await run_in_threadpool(
        auth.change_password, services, user, current, new, _client_address(request)
    )
    return {"status": "password changed"}
