"""Sign-in helpers for console tests (shared by every console test module).

    username, password, secret = make_user(app, "volunteer")
    csrf = login(client, username, password, secret)   # client now sends cookie,
                                                       # Origin and X-CSRF-Token
    sign_in_as(client, app, "admin")                   # both steps at once

TOTP codes are computed for the app's clock (`services.now()`, a FakeClock in
tests), never the wall clock, and each code is single-use: `login` picks a step
newer than the last one accepted and advances the FakeClock by 30 s when the
usable steps are spent.
"""

from __future__ import annotations

import itertools
from typing import Any

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.console import accounts
from helpline.console.auth import TOTP_STEP
from helpline.services import Services
from helpline.store.models import User

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def make_user(
    app: FastAPI,
    role: str = "volunteer",
    *,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    alias: str | None = None,
    partner_id: str | None = None,
    disabled: bool = False,
) -> tuple[str, str, str]:
    """Create an account directly through the service; returns (username, password, secret).
    A partner account defaults to the policy's first partner."""
    services = services_of(app)
    if role == "partner" and partner_id is None:
        partner_id = services.policy.partners[0].id
    username = username or f"{role}{next(_counter)}"
    user, secret = accounts.create_user(
        services, username, role, password, alias=alias, partner_id=partner_id
    )
    if disabled:
        accounts.set_disabled(services, "test", user.id, True)
    return user.username, password, secret


def user_id(app: FastAPI, username: str) -> str:
    with services_of(app).db.session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return user.id


def totp_code(app: FastAPI, secret: str, step: int | None = None) -> str:
    now = services_of(app).now()
    if step is None:
        step = int(now.timestamp()) // TOTP_STEP
    return pyotp.TOTP(secret).at(step * TOTP_STEP)


def fresh_code(app: FastAPI, username: str, secret: str) -> str:
    """A code the server will accept now (not yet used for this account)."""
    services = services_of(app)
    with services.db.session() as session:
        last = session.exec(select(User.totp_last_step).where(User.username == username)).one()
    clock: Any = services.clock
    while True:
        current = int(services.now().timestamp()) // TOTP_STEP
        for step in (current, current + 1):
            if step > last:
                return totp_code(app, secret, step)
        clock.advance(seconds=TOTP_STEP)


def origin_of(client: TestClient) -> str:
    return str(client.base_url).rstrip("/")


def login(client: TestClient, username: str, password: str, totp_secret: str) -> str:
    """Sign in through the real route; sets Origin and X-CSRF-Token as default
    headers of `client` and returns the CSRF token."""
    app: Any = client.app
    code = fresh_code(app, username, totp_secret)
    client.headers["Origin"] = origin_of(client)
    response = client.post(
        "/api/auth/login", json={"username": username, "password": password, "totp": code}
    )
    if response.status_code != 200:
        raise AssertionError(f"login failed: {response.status_code} {response.text}")
    csrf: str = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf


def sign_in_as(client: TestClient, app: FastAPI, role: str, **kwargs: Any) -> tuple[str, str]:
    """Create an account in `role` and sign `client` in; returns (username, csrf)."""
    username, password, secret = make_user(app, role, **kwargs)
    return username, login(client, username, password, secret)
