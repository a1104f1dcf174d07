"""Sign-in: password, TOTP, answers that reveal nothing, headers on every answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpline.config import Settings
from helpline.console.auth import TOTP_STEP
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.conftest import FakeClock
from tests.console.helpers import (
    DEFAULT_PASSWORD,
    fresh_code,
    login,
    make_user,
    origin_of,
    services_of,
    totp_code,
)


def post_login(client: TestClient, body: Any, **headers: str) -> Any:
    headers.setdefault("Origin", origin_of(client))
    return client.post("/api/auth/login", json=body, headers=headers)


def test_sign_in_returns_csrf_token_and_user_and_sets_a_strict_cookie(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer", alias="Merel-11")
    response = post_login(client, {"username": username, "password": password,
                                   "totp": fresh_code(app, username, secret)})
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"username": username, "role": "volunteer", "alias": "Merel-11"}
    assert len(body["csrf_token"]) == 64
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("helpline_session=")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/" in lowered
    assert "secure" not in lowered  # the test settings are the plain-http demo's
    assert client.get("/api/auth/me").json()["alias"] == "Merel-11"


def test_secure_settings_use_the_host_prefixed_secure_cookie(
    settings_factory: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = settings_factory(secure_cookies=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    app = create_app(settings, clock=clock, run_worker=False)
    with TestClient(app, base_url="https://testserver") as client:
        username, password, secret = make_user(app, "volunteer")
        response = post_login(client, {"username": username, "password": password,
                                       "totp": fresh_code(app, username, secret)})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-helpline=")
        assert "; secure" in cookie.lower()
        assert "domain=" not in cookie.lower()
        assert client.get("/api/auth/me").status_code == 200


@pytest.mark.parametrize("case", ["unknown_user", "wrong_password", "wrong_totp", "disabled"])
def test_every_failed_sign_in_answers_the_same_401(
    app: FastAPI, client: TestClient, case: str
) -> None:
    username, password, secret = make_user(app, "volunteer", disabled=case == "disabled")
    code = fresh_code(app, username, secret)
    body = {"username": username, "password": password, "totp": code}
    if case == "unknown_user":
        body["username"] = "nobody-here"
    elif case == "wrong_password":
        body["password"] = "not the right password"
    elif case == "wrong_totp":
        body["totp"] = f"{(int(code) + 1) % 1_000_000:06d}"
    response = post_login(client, body)
    assert response.status_code == 401
    assert response.json() == {"error": "sign-in failed"}
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "x"}, {"username": "x", "password": "y" * 12}, [], "text", 42,
     {"username": 1, "password": ["a"], "totp": None}],
)
def test_missing_or_malformed_credentials_are_401(client: TestClient, body: Any) -> None:
    assert post_login(client, body).status_code == 401


def test_a_body_that_is_not_json_is_422(client: TestClient) -> None:
    response = client.post("/api/auth/login", content=b"username=a&password=b",
                           headers={"Origin": origin_of(client),
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_overlong_password_is_refused(app: FastAPI, client: TestClient) -> None:
    username, _, secret = make_user(app, "volunteer")
    code = fresh_code(app, username, secret)
    response = post_login(client, {"username": username, "password": "a" * 129, "totp": code})
    assert response.status_code == 401
    huge = post_login(client, {"username": username, "password": "a" * 100_000, "totp": code})
    assert huge.status_code == 413


def test_a_totp_code_is_accepted_only_once(app: FastAPI, client: TestClient) -> None:
    username, password, secret = make_user(app, "volunteer")
    code = totp_code(app, secret)
    body = {"username": username, "password": password, "totp": code}
    assert post_login(client, body).status_code == 200
    with TestClient(app) as other:
        assert post_login(other, body).status_code == 401


def test_a_code_from_one_step_ago_is_accepted_but_not_two(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    now_step = int(services_of(app).now().timestamp()) // TOTP_STEP
    two_ago = totp_code(app, secret, now_step - 2)
    one_ago = totp_code(app, secret, now_step - 1)
    if two_ago != one_ago:
        assert post_login(client, {"username": username, "password": password,
                                   "totp": two_ago}).status_code == 401
    assert post_login(client, {"username": username, "password": password,
                               "totp": one_ago}).status_code == 200


def test_username_is_case_insensitive(app: FastAPI, client: TestClient) -> None:
    username, password, secret = make_user(app, "volunteer", username="Robin.K")
    assert username == "robin.k"
    response = post_login(client, {"username": " ROBIN.K ", "password": password,
                                   "totp": fresh_code(app, username, secret)})
    assert response.status_code == 200


def test_password_is_stored_as_argon2id_and_totp_secret_sealed(app: FastAPI) -> None:
    username, _, secret = make_user(app, "volunteer")
    with services_of(app).db.session() as session:
        row = session.execute(
            text("SELECT password_hash, totp_secret FROM users WHERE username = :u"),
            {"u": username},
        ).one()
    assert row[0].startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in row[0]
    assert secret.encode() not in bytes(row[1])


def test_me_without_a_session_is_401_with_security_headers(client: TestClient) -> None:
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json() == {"error": "not signed in"}
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


def test_changing_the_password_ends_other_sessions_but_not_this_one(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    with TestClient(app) as phone:
        login(phone, username, password, secret)
        login(client, username, password, secret)
        new = "a brand new passphrase"
        response = client.post("/api/auth/password",
                               json={"current_password": password, "new_password": new})
        assert response.status_code == 200
        assert client.get("/api/auth/me").status_code == 200
        assert phone.get("/api/auth/me").status_code == 401
    with TestClient(app) as again:
        login(again, username, new, secret)
        assert again.get("/api/auth/me").status_code == 200


def test_password_change_needs_the_current_password_and_a_valid_new_one(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    login(client, username, password, secret)
    wrong = client.post("/api/auth/password",
                        json={"current_password": "not it at all", "new_password": "x" * 20})
    assert wrong.status_code == 400
    short = client.post("/api/auth/password",
                        json={"current_password": password, "new_password": "x" * 11})
    assert short.status_code == 400
    long = client.post("/api/auth/password",
                       json={"current_password": password, "new_password": "x" * 129})
    assert long.status_code == 400


def test_a_used_code_after_the_right_password_says_so(app: FastAPI, client: TestClient) -> None:
    username, password, secret = make_user(app, "volunteer")
    code = totp_code(app, secret)
    body = {"username": username, "password": password, "totp": code}
    assert post_login(client, body).status_code == 200
    with TestClient(app) as other:
        again = post_login(other, body)
        assert again.status_code == 401
        assert again.json() == {"error": "code already used, wait for the next one"}
        assert "set-cookie" not in again.headers
        # With a wrong password the same used code says nothing more than any failure.
        stranger = post_login(other, {**body, "password": "not the right password"})
        assert stranger.json() == {"error": "sign-in failed"}


def test_the_sign_in_page_explains_a_used_code_in_the_pages_language(
    client: TestClient,
) -> None:
    assert "net al gebruikt" in client.get("/console/login").text
    assert "was just used" in client.get("/console/login?lang=en").text


def test_the_language_of_the_sign_in_page_is_kept_for_the_account(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    assert "Sign in" in client.get("/console/login?lang=en").text
    body = {"username": username, "password": password, "lang": "en",
            "totp": fresh_code(app, username, secret)}
    assert post_login(client, body).status_code == 200
    assert "Queue" in client.get("/console").text
    assert client.get("/api/auth/me").json()["ui_language"] == "en"
    # A later sign-in from the plain (Dutch) page keeps the saved choice.
    with TestClient(app) as later:
        assert post_login(later, {"username": username, "password": password,
                                  "totp": fresh_code(app, username, secret)}).status_code == 200
        assert "Queue" in later.get("/console").text
        # An unknown language is ignored, not an error.
        with TestClient(app) as third:
            odd = {"username": username, "password": password, "lang": "xx",
                   "totp": fresh_code(app, username, secret)}
            assert post_login(third, odd).status_code == 200
            assert third.get("/api/auth/me").json()["ui_language"] == "en"
