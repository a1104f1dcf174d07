"""Every role has a home: sign-in lands there, the header lists what the role
may open, and every page a role may open answers 200 (issue 22, parts 2 and 8)."""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.console.helpers import fresh_code, make_user, origin_of, sign_in_as, user_id
from tests.console.test_auth import post_login

HOMES = {"volunteer": "/console", "partner": "/console", "coordinator": "/console/stats",
         "admin": "/console/accounts"}


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="top-nav".*?</nav>', html, re.S)
    assert nav is not None
    return re.findall(r'href="([^"]+)"', nav.group(0))


@pytest.mark.parametrize("role", list(HOMES))
def test_sign_in_names_the_roles_home_and_every_listed_page_answers_200(
    app: FastAPI, client: TestClient, role: str
) -> None:
    username, password, secret = make_user(app, role)
    response = post_login(client, {"username": username, "password": password,
                                   "totp": fresh_code(app, username, secret)})
    assert response.status_code == 200
    assert response.json()["home"] == HOMES[role]
    client.headers["Origin"] = origin_of(client)
    landing = client.get("/console", follow_redirects=False)
    if role in ("volunteer", "partner"):
        assert landing.status_code == 200
    else:
        assert landing.status_code == 303
        assert landing.headers["location"] == HOMES[role]
    home = client.get(HOMES[role])
    assert home.status_code == 200
    links = nav_links(home.text)
    assert HOMES[role] in links
    for link in links:
        assert client.get(link).status_code == 200, link
    # The sign-in page of a signed-in user is a way home, not an error.
    again = client.get("/console/login", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, HOMES[role])


def test_the_header_shows_each_role_only_what_it_may_open(
    app: FastAPI, client: TestClient
) -> None:
    expected = {"volunteer": ["/console", "/console/alerts", "/console/notifications"],
                "coordinator": ["/console/stats", "/console/held", "/console/alerts"],
                "admin": ["/console/accounts", "/console/stats"]}
    for role, links in expected.items():
        with TestClient(app) as own:
            sign_in_as(own, app, role)
            assert nav_links(own.get(HOMES[role]).text) == links, role


def test_a_page_of_another_role_is_403_with_a_way_home(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "volunteer")
    for path in ("/console/stats", "/console/accounts"):
        page = client.get(path)
        assert page.status_code == 403
        assert 'href="/console"' in page.text
        assert "Niet voor jouw rol" in page.text


# ------------------------------------------------------------------ the admin's accounts page


def test_the_accounts_page_lists_accounts_and_the_audit_log(
    app: FastAPI, client: TestClient
) -> None:
    make_user(app, "volunteer", username="noor", alias="Vink-12")
    make_user(app, "partner", username="pmw-anna", alias="Anna")
    admin, _ = sign_in_as(client, app, "admin", alias="Beheer")
    page = client.get("/console/accounts")
    assert page.status_code == 200
    html = page.text
    for text in ("noor", "Vink-12", "pmw-anna", "partnermedewerker", 'id="new-account"',
                 "Auditlog", "login.success", "/static/accounts.js"):
        assert text in html, text
    # The admin's own card has no buttons that would lock them out.
    own = re.search(rf'<li class="person"[^>]*data-username="{admin}".*?</li>', html, re.S)
    assert own is not None
    assert "data-action" not in own.group(0)
    # Audit entries name accounts by alias, not by internal id.
    assert user_id(app, admin) not in html.split('id="audit-title"', 1)[1]


def test_the_audit_log_pages_backwards(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "admin")
    for n in range(55):
        client.post("/api/admin/saved-replies", json={
            "language": "nl", "title": f"Groet {n}", "body": "Hoi!"})
    first = client.get("/console/accounts").text
    older = re.search(r'href="/console/accounts\?before=(\d+)"', first)
    assert older is not None
    second = client.get(f"/console/accounts?before={older.group(1)}")
    assert second.status_code == 200
    assert 'href="/console/accounts"' in second.text
    assert client.get("/console/accounts?before=abc").status_code == 422


def test_a_new_accounts_secret_comes_as_a_qr_code_and_signs_in(
    app: FastAPI, client: TestClient
) -> None:
    sign_in_as(client, app, "admin")
    made = client.post("/api/admin/users", json={
        "username": "new-coord", "role": "coordinator", "password": "a long enough password"})
    assert made.status_code == 201
    body = made.json()
    assert body["totp_qr"].startswith("data:image/svg+xml")
    secret = pyotp.parse_uri(body["totp_uri"]).secret
    reset = client.post(f"/api/admin/users/{body['user']['id']}/reset-totp")
    assert reset.json()["totp_qr"].startswith("data:image/svg+xml")
    new_secret = pyotp.parse_uri(reset.json()["totp_uri"]).secret
    assert new_secret != secret
    with TestClient(app) as newcomer:
        response = post_login(newcomer, {"username": "new-coord",
                                         "password": "a long enough password",
                                         "totp": fresh_code(app, "new-coord", new_secret)})
        assert response.status_code == 200
        assert response.json()["home"] == "/console/stats"
