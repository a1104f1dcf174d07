"""Server-side sessions: lifetimes, revocation, fresh ids, nothing usable stored."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpline.console.sessions import PLAIN_COOKIE, session_id_for
from tests.conftest import FakeClock
from tests.console.helpers import fresh_code, login, make_user, services_of, sign_in_as, user_id


def test_a_session_ends_after_30_idle_minutes(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    sign_in_as(client, app, "volunteer")
    clock.advance(minutes=29)
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/api/auth/me").status_code == 401


def test_a_session_ends_after_12_hours_even_when_active(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    sign_in_as(client, app, "volunteer")
    for _ in range(11 * 4 + 3):  # every 15 minutes for 11 h 45 min
        clock.advance(minutes=15)
        assert client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=16)
    assert client.get("/api/auth/me").status_code == 401


def test_sign_out_revokes_the_session_server_side(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "volunteer")
    token = client.cookies[PLAIN_COOKIE]
    assert client.post("/api/auth/logout").status_code == 200
    # Replaying the old cookie (e.g. copied before sign-out) no longer works.
    client.cookies.set(PLAIN_COOKIE, token)
    assert client.get("/api/auth/me").status_code == 401


def test_each_sign_in_gets_a_new_session_id_and_a_planted_one_is_ignored(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    body = {"username": username, "password": password,
            "totp": fresh_code(app, username, secret)}
    response = client.post("/api/auth/login", json=body, headers={
        "Origin": "http://testserver", "Cookie": f"{PLAIN_COOKIE}=planted-by-an-attacker"})
    assert response.status_code == 200
    first = client.cookies[PLAIN_COOKIE]
    assert first != "planted-by-an-attacker"
    login(client, username, password, secret)
    assert client.cookies[PLAIN_COOKIE] != first


def test_disabling_an_account_ends_its_sessions(app: FastAPI, client: TestClient) -> None:
    username, _ = sign_in_as(client, app, "volunteer")
    with TestClient(app) as admin:
        sign_in_as(admin, app, "admin")
        response = admin.post(f"/api/admin/users/{user_id(app, username)}/disable")
        assert response.status_code == 200
    assert client.get("/api/auth/me").status_code == 401
    with services_of(app).db.session() as session:
        left = session.execute(text("SELECT count(*) FROM sessions WHERE user_id = :u"),
                               {"u": user_id(app, username)}).scalar_one()
    assert left == 0


def test_the_database_holds_only_a_hash_of_the_session_token(
    app: FastAPI, client: TestClient
) -> None:
    _, csrf = sign_in_as(client, app, "volunteer")
    token = client.cookies[PLAIN_COOKIE]
    with services_of(app).db.session() as session:
        ids = [r[0] for r in session.execute(text("SELECT id FROM sessions"))]
    assert ids == [session_id_for(token)]
    assert token not in ids
    assert csrf not in ids
