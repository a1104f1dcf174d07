"""CSRF token and Origin check on every unsafe console route, found by enumeration."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from helpline.config import Settings
from helpline.console.csrf import normalise_origin
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.conftest import FakeClock, post_whatsapp, wa_text_payload
from tests.console.helpers import fresh_code, make_user, sign_in_as

SAFE = {"GET", "HEAD", "OPTIONS"}
LOGIN = "/api/auth/login"
# Not console routes: webhooks are authenticated by signatures; the simulator
# plays a texter (no session, off in production); the web chat's visitor has a
# SameSite=Strict cookie and must send X-Helpline-Chat (tests/webchat/).
NOT_CONSOLE = re.compile(r"^/(webhooks|simulator|chat)(/|$)")


def unsafe_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    for route in iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) - SAFE):
            path = route.path
            if path and path != LOGIN and not NOT_CONSOLE.match(path):
                yield method, path


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-id", path)


def test_there_are_unsafe_console_routes_to_check(app: FastAPI) -> None:
    routes = list(unsafe_routes(app))
    assert ("POST", "/api/auth/logout") in routes
    assert len(routes) >= 10


def test_every_unsafe_route_refuses_a_request_without_the_csrf_token(
    app: FastAPI, client: TestClient
) -> None:
    sign_in_as(client, app, "admin")
    del client.headers["X-CSRF-Token"]
    with TestClient(app) as volunteer:
        sign_in_as(volunteer, app, "volunteer")
        del volunteer.headers["X-CSRF-Token"]
        for method, path in unsafe_routes(app):
            for who in (client, volunteer):
                response = who.request(method, concrete(path), json={})
                assert response.status_code == 403, (method, path)
                assert response.json() == {"error": "missing or wrong CSRF token"}
                assert "default-src 'none'" in response.headers["content-security-policy"]


def test_every_unsafe_route_refuses_a_wrong_token_or_a_foreign_origin(
    app: FastAPI, client: TestClient
) -> None:
    _, csrf = sign_in_as(client, app, "volunteer")
    # Change the last character for sure (a token may already end in "0").
    wrong_token = csrf[:-1] + ("1" if csrf.endswith("0") else "0")
    for method, path in unsafe_routes(app):
        wrong = client.request(method, concrete(path), json={},
                               headers={"X-CSRF-Token": wrong_token})
        assert wrong.status_code == 403, (method, path)
        foreign = client.request(method, concrete(path), json={},
                                 headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403, (method, path)
        assert foreign.json() == {"error": "origin not allowed"}


def test_a_missing_origin_is_refused(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "volunteer")
    del client.headers["Origin"]
    assert client.post("/api/auth/logout").status_code == 403


def test_the_right_token_and_origin_pass(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "volunteer")
    assert client.post("/api/auth/logout").status_code == 200


def test_an_anonymous_unsafe_request_is_401(client: TestClient) -> None:
    response = client.post("/api/auth/logout", headers={"Origin": "http://testserver"})
    assert response.status_code == 401


def test_sign_in_from_another_origin_is_refused(app: FastAPI, client: TestClient) -> None:
    username, password, secret = make_user(app, "volunteer")
    body = {"username": username, "password": password,
            "totp": fresh_code(app, username, secret)}
    assert client.post(LOGIN, json=body,
                       headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(LOGIN, json=body).status_code == 403  # no Origin at all
    assert client.post(LOGIN, json=body,
                       headers={"Origin": "http://testserver"}).status_code == 200


@pytest.fixture
def public_app(settings_factory: Callable[..., Settings], clock: FakeClock) -> FastAPI:
    settings = settings_factory(public_url="https://helpline.example.org/")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return create_app(settings, clock=clock, run_worker=False)


def test_with_a_public_url_only_that_origin_is_accepted(public_app: FastAPI) -> None:
    with TestClient(public_app, base_url="http://internal:8000") as client:
        username, password, secret = make_user(public_app, "volunteer")
        body = {"username": username, "password": password,
                "totp": fresh_code(public_app, username, secret)}
        own = client.post(LOGIN, json=body, headers={"Origin": "http://internal:8000"})
        assert own.status_code == 403
        ok = client.post(LOGIN, json=body,
                         headers={"Origin": "https://helpline.example.org"})
        assert ok.status_code == 200


def test_webhooks_need_no_csrf_token(client: TestClient) -> None:
    assert post_whatsapp(client, wa_text_payload("hallo")).status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Example.org", "https://example.org"),
        ("https://example.org:443", "https://example.org"),
        ("http://example.org:8080/", "http://example.org:8080"),
        ("null", None),
        ("", None),
        ("ftp://example.org", None),
        ("https://example.org:99999", None),
    ],
)
def test_origins_are_compared_in_normal_form(value: str, expected: str | None) -> None:
    assert normalise_origin(value) == expected
