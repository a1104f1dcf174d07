"""Accounts: the service, `helpline user add`, and the admin routes."""

from __future__ import annotations

import io
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.cli import main
from helpline.config import Settings
from helpline.console import accounts, auth
from helpline.console.auth import PasswordRejected
from helpline.errors import Conflict
from helpline.store.models import User
from tests.conftest import post_whatsapp, wa_text_payload
from tests.console.helpers import (
    DEFAULT_PASSWORD,
    fresh_code,
    login,
    make_user,
    services_of,
    sign_in_as,
    user_id,
)


def test_a_new_account_gets_a_random_neutral_alias_not_its_username(app: FastAPI) -> None:
    user, secret = accounts.create_user(services_of(app), "sam", "volunteer", DEFAULT_PASSWORD)
    assert user.alias.split("-")[0] in accounts.BIRDS
    assert "sam" not in user.alias.lower()
    assert len(secret) >= 32


def test_a_given_totp_secret_is_kept(app: FastAPI, client: TestClient) -> None:
    secret = pyotp.random_base32()
    user, returned = accounts.create_user(services_of(app), "kim", "coordinator",
                                          DEFAULT_PASSWORD, totp_secret=secret)
    assert returned == secret
    login(client, "kim", DEFAULT_PASSWORD, secret)


@pytest.mark.parametrize(
    ("role", "partner", "message"),
    [
        ("partner", None, "partner"),
        ("partner", "no-such-partner", "partner"),
        ("volunteer", "__first__", "only partner accounts"),
        ("superuser", None, "role must be"),
    ],
)
def test_roles_and_partners_are_checked(
    app: FastAPI, role: str, partner: str | None, message: str
) -> None:
    services = services_of(app)
    if partner == "__first__":
        partner = services.policy.partners[0].id
    with pytest.raises(accounts.AccountInvalid, match=message):
        accounts.create_user(services, "pat", role, DEFAULT_PASSWORD, partner_id=partner)


def test_a_partner_account_is_bound_to_its_partner(app: FastAPI, client: TestClient) -> None:
    partner = services_of(app).policy.partners[0].id
    sign_in_as(client, app, "partner", partner_id=partner)
    assert client.get("/api/auth/me").json()["partner"] == partner


@pytest.mark.parametrize("password", ["x" * 11, "x" * 129, ""])
def test_passwords_outside_12_to_128_characters_are_refused(
    app: FastAPI, password: str
) -> None:
    with pytest.raises(PasswordRejected):
        accounts.create_user(services_of(app), "lee", "volunteer", password)


def test_usernames_are_unique(app: FastAPI) -> None:
    make_user(app, "volunteer", username="alex")
    with pytest.raises(Conflict):
        make_user(app, "admin", username="ALEX")


# ------------------------------------------------------------------ CLI


@pytest.fixture
def cli_env(migrated: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPLINE_DATABASE_URL", migrated.database_url)
    for name in ("master_key", "index_key"):
        value = getattr(migrated, name)
        monkeypatch.setenv(f"HELPLINE_{name.upper()}", value.get_secret_value())


def test_cli_user_add_reads_the_password_from_stdin_and_prints_the_totp_uri(
    cli_env: None, app: FastAPI, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], client: TestClient,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    code = main(["user", "add", "--username", "noor", "--role", "volunteer",
                 "--alias", "Vink-12", "--password-stdin"])
    out = capsys.readouterr().out
    assert code == 0
    assert "created role=volunteer username=noor alias=Vink-12" in out
    uri = next(line for line in out.splitlines() if line.startswith("totp_uri="))
    secret = pyotp.parse_uri(uri.removeprefix("totp_uri=")).secret
    login(client, "noor", DEFAULT_PASSWORD, secret)


def test_cli_user_add_with_a_given_secret_prints_no_uri(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    secret = pyotp.random_base32()
    code = main(["user", "add", "--username", "jojo", "--role", "admin", "--password-stdin",
                 "--totp-secret", secret])
    out = capsys.readouterr().out
    assert code == 0
    assert "totp_uri" not in out
    assert secret not in out


def test_cli_partner_role_needs_a_known_partner(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    code = main(["user", "add", "--username", "pmw1", "--role", "partner", "--password-stdin"])
    assert code == 2
    assert "--partner" in capsys.readouterr().err


# ------------------------------------------------------------------ admin routes


def test_admin_creates_an_account_that_can_sign_in(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "admin")
    response = client.post("/api/admin/users", json={
        "username": "new-vol", "role": "volunteer", "password": DEFAULT_PASSWORD})
    assert response.status_code == 201
    secret = pyotp.parse_uri(response.json()["totp_uri"]).secret
    assert "password" not in response.json()["user"]
    listed = client.get("/api/admin/users").json()["items"]
    assert "new-vol" in {u["username"] for u in listed}
    assert all("password_hash" not in u and "totp_secret" not in u for u in listed)
    with TestClient(app) as vol:
        login(vol, "new-vol", DEFAULT_PASSWORD, secret)


def test_admin_disables_enables_and_changes_roles(app: FastAPI, client: TestClient) -> None:
    username, password, secret = make_user(app, "volunteer")
    uid = user_id(app, username)
    sign_in_as(client, app, "admin")
    assert client.post(f"/api/admin/users/{uid}/disable").json()["user"]["disabled"] is True
    with TestClient(app) as vol:
        body = {"username": username, "password": password,
                "totp": fresh_code(app, username, secret)}
        headers = {"Origin": "http://testserver"}
        assert vol.post("/api/auth/login", json=body, headers=headers).status_code == 401
        assert client.post(f"/api/admin/users/{uid}/enable").status_code == 200
        role = client.post(f"/api/admin/users/{uid}/role", json={"role": "coordinator"})
        assert role.json()["user"]["role"] == "coordinator"
        login(vol, username, password, secret)
        assert vol.get("/api/auth/me").json()["role"] == "coordinator"
    bad = client.post(f"/api/admin/users/{uid}/role", json={"role": "partner"})
    assert bad.status_code == 400
    assert client.post("/api/admin/users/nope/disable").status_code == 404


def test_admin_cannot_lock_themself_out(app: FastAPI, client: TestClient) -> None:
    username, _ = sign_in_as(client, app, "admin")
    uid = user_id(app, username)
    assert client.post(f"/api/admin/users/{uid}/disable").status_code == 409
    assert client.post(f"/api/admin/users/{uid}/role",
                       json={"role": "volunteer"}).status_code == 409


def test_reset_totp_replaces_the_secret_and_ends_sessions(
    app: FastAPI, client: TestClient
) -> None:
    username, password, old_secret = make_user(app, "volunteer")
    with TestClient(app) as vol:
        login(vol, username, password, old_secret)
        sign_in_as(client, app, "admin")
        response = client.post(f"/api/admin/users/{user_id(app, username)}/reset-totp")
        assert response.status_code == 200
        new_secret = pyotp.parse_uri(response.json()["totp_uri"]).secret
        assert new_secret != old_secret
        assert vol.get("/api/auth/me").status_code == 401
        body = {"username": username, "password": password,
                "totp": fresh_code(app, username, old_secret)}
        assert vol.post("/api/auth/login", json=body).status_code == 401
        login(vol, username, password, new_secret)


def test_saved_replies_are_kept_by_admins_and_read_by_volunteers(
    app: FastAPI, client: TestClient
) -> None:
    sign_in_as(client, app, "admin")
    made = client.post("/api/admin/saved-replies",
                       json={"language": "nl", "title": "Groet", "body": "Hoi, fijn!"})
    assert made.status_code == 201
    rid = made.json()["id"]
    client.post("/api/admin/saved-replies",
                json={"language": "en", "title": "Hello", "body": "Hi, good that you write."})
    assert client.post("/api/admin/saved-replies", json={
        "language": "xx", "title": "t", "body": "b"}).status_code == 400
    edited = client.put(f"/api/admin/saved-replies/{rid}",
                        json={"language": "nl", "title": "Welkom", "body": "Hoi!"})
    assert edited.json()["title"] == "Welkom"
    with TestClient(app) as vol:
        sign_in_as(vol, app, "volunteer")
        items = vol.get("/api/saved-replies", params={"language": "nl"}).json()["items"]
        assert [i["title"] for i in items] == ["Welkom"]
        assert vol.get("/api/admin/saved-replies").status_code == 403
    assert client.delete(f"/api/admin/saved-replies/{rid}").status_code == 200
    assert client.delete(f"/api/admin/saved-replies/{rid}").status_code == 404


def test_admin_routes_never_show_message_text(app: FastAPI, client: TestClient) -> None:
    assert post_whatsapp(client, wa_text_payload("mijn geheime zin")).status_code == 200
    sign_in_as(client, app, "admin")
    for path in ("/api/admin/users", "/api/admin/saved-replies", "/api/admin/audit"):
        response = client.get(path)
        assert response.status_code == 200
        assert "geheime" not in response.text
    assert client.get("/api/conversations").status_code in (403, 404)


# ---------------------------------------------------------------- issue 21.5


@pytest.mark.parametrize("bad", ["JBSWY3DPEHPK3PXPVOL", "JBSWY3DP", "JBSWY3DPEHPK3PX1",
                                 "JBSWY3DPEHPK3PXP!"])
def test_cli_refuses_a_totp_secret_that_does_not_decode_or_is_short(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    bad: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    code = main(["user", "add", "--username", "jojo", "--role", "admin", "--password-stdin",
                 "--totp-secret", bad])
    captured = capsys.readouterr()
    assert code != 0
    assert "base32" in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_a_stored_secret_that_does_not_decode_fails_sign_in_closed(
    app: FastAPI, client: TestClient
) -> None:
    services = services_of(app)
    user, _ = accounts.create_user(services, "lex", "volunteer", DEFAULT_PASSWORD)
    with services.db.session() as session:
        row = session.get(User, user.id)
        assert row is not None
        # As an account made before validation existed would hold it.
        row.totp_secret = auth.seal_totp(services, session, row, "JBSWY3DPEHPK3PXPVOL")
    right = client.post("/api/auth/login", json={"username": "lex",
                        "password": DEFAULT_PASSWORD, "totp": "123456"},
                        headers={"Origin": "http://testserver"})
    wrong = client.post("/api/auth/login", json={"username": "lex",
                        "password": "not the password at all", "totp": "123456"},
                        headers={"Origin": "http://testserver"})
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json()
