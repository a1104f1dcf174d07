"""Throttling: per handle and per address, keyed hashes only, alike for unknown users."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpline.console.auth import ACCOUNT_LIMIT, ADDRESS_LIMIT
from tests.conftest import FakeClock
from tests.console.helpers import fresh_code, make_user, services_of


def attempt(client: TestClient, username: str, password: str, code: str) -> int:
    response = client.post(
        "/api/auth/login",
        json={"username": username, "password": password, "totp": code},
        headers={"Origin": "http://testserver"},
    )
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return response.status_code


def test_the_sixth_failure_in_a_minute_is_refused_even_with_the_right_password(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    username, password, secret = make_user(app, "volunteer")
    for _ in range(ACCOUNT_LIMIT):
        assert attempt(client, username, "wrong password!", "000000") == 401
    assert attempt(client, username, password, fresh_code(app, username, secret)) == 429
    clock.advance(seconds=61)
    assert attempt(client, username, password, fresh_code(app, username, secret)) == 200


def test_an_unknown_username_is_throttled_exactly_like_a_real_one(
    app: FastAPI, client: TestClient
) -> None:
    make_user(app, "volunteer", username="real-one")
    for name in ("real-one", "made-up-one"):
        codes = [attempt(client, name, "wrong password!", "000000") for _ in range(7)]
        assert codes == [401] * ACCOUNT_LIMIT + [429] * (7 - ACCOUNT_LIMIT)


def test_a_success_before_the_limit_clears_the_account_count(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    for _ in range(ACCOUNT_LIMIT - 1):
        assert attempt(client, username, "wrong password!", "000000") == 401
    assert attempt(client, username, password, fresh_code(app, username, secret)) == 200
    for _ in range(ACCOUNT_LIMIT - 1):
        assert attempt(client, username, "wrong password!", "000000") == 401
    assert attempt(client, username, password, fresh_code(app, username, secret)) == 200


def test_one_address_spraying_many_accounts_is_throttled(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    for i in range(ADDRESS_LIMIT):
        assert attempt(client, f"guess{i}", "wrong password!", "000000") == 401
    assert attempt(client, username, password, fresh_code(app, username, secret)) == 429


def test_failures_store_neither_the_address_nor_the_typed_username(
    app: FastAPI, client: TestClient
) -> None:
    attempt(client, "typed-secret-handle", "wrong password!", "000000")
    with services_of(app).db.session() as session:
        rows = session.execute(text("SELECT scope, key FROM login_failures")).all()
        audit_rows = session.execute(text("SELECT * FROM audit_log")).all()
    assert {r[0] for r in rows} == {"account", "address"}
    dump = repr(rows) + repr(audit_rows)
    assert "typed-secret-handle" not in dump
    assert "testclient" not in dump  # TestClient's client address
    assert all(len(r[1]) == 64 for r in rows)
