"""The audit log: the right events, pseudonymous objects, no content, append-only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

import helpline
from helpline.console import audit
from tests.console.helpers import (
    DEFAULT_PASSWORD,
    fresh_code,
    make_user,
    services_of,
    sign_in_as,
    user_id,
)


def audit_rows(app: FastAPI) -> list[Any]:
    with services_of(app).db.session() as session:
        return list(session.execute(
            text("SELECT actor_id, action, object_ref FROM audit_log ORDER BY id")))


def test_sign_in_success_and_failure_are_recorded_without_the_typed_username(
    app: FastAPI, client: TestClient
) -> None:
    username, password, secret = make_user(app, "volunteer")
    uid = user_id(app, username)
    headers = {"Origin": "http://testserver"}
    client.post("/api/auth/login", headers=headers, json={
        "username": "someone-unknown", "password": "a typed secret", "totp": "123456"})
    client.post("/api/auth/login", headers=headers, json={
        "username": username, "password": "not the password", "totp": "123456"})
    client.post("/api/auth/login", headers=headers, json={
        "username": username, "password": password, "totp": fresh_code(app, username, secret)})
    rows = [tuple(r) for r in audit_rows(app)]
    assert (None, audit.LOGIN_FAILURE, None) in rows
    assert (uid, audit.LOGIN_FAILURE, None) in rows
    assert (uid, audit.LOGIN_SUCCESS, uid) in rows
    dump = repr(rows)
    assert "someone-unknown" not in dump
    assert "a typed secret" not in dump


def test_account_and_role_changes_are_recorded_with_the_acting_admin(
    app: FastAPI, client: TestClient
) -> None:
    admin, _ = sign_in_as(client, app, "admin")
    admin_id = user_id(app, admin)
    made = client.post("/api/admin/users", json={
        "username": "audited", "role": "volunteer", "password": DEFAULT_PASSWORD})
    target = made.json()["user"]["id"]
    client.post(f"/api/admin/users/{target}/disable")
    client.post(f"/api/admin/users/{target}/enable")
    client.post(f"/api/admin/users/{target}/role", json={"role": "coordinator"})
    client.post(f"/api/admin/users/{target}/reset-totp")
    rows = {tuple(r) for r in audit_rows(app)}
    for action in (audit.USER_CREATE, audit.USER_DISABLE, audit.USER_ENABLE,
                   audit.USER_ROLE, audit.USER_RESET_TOTP):
        assert (admin_id, action, target) in rows, action


def test_password_change_and_sign_out_are_recorded(app: FastAPI, client: TestClient) -> None:
    username, _ = sign_in_as(client, app, "volunteer")
    uid = user_id(app, username)
    client.post("/api/auth/password",
                json={"current_password": DEFAULT_PASSWORD, "new_password": "another long one"})
    client.post("/api/auth/logout")
    rows = {tuple(r) for r in audit_rows(app)}
    assert (uid, audit.PASSWORD_CHANGE, uid) in rows
    assert (uid, audit.LOGOUT, uid) in rows


def test_admins_page_through_the_audit_log_newest_first(
    app: FastAPI, client: TestClient
) -> None:
    sign_in_as(client, app, "admin")
    for _ in range(3):
        client.post("/api/admin/saved-replies",
                    json={"language": "nl", "title": "t", "body": "b"})
    first = client.get("/api/admin/audit", params={"limit": 2}).json()
    assert [i["action"] for i in first["items"]] == [audit.SAVED_REPLY_CREATE] * 2
    ids = [i["id"] for i in first["items"]]
    assert ids == sorted(ids, reverse=True)
    rest = client.get("/api/admin/audit",
                      params={"limit": 50, "before": first["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    assert {i["action"] for i in rest["items"]} >= {audit.SAVED_REPLY_CREATE,
                                                    audit.LOGIN_SUCCESS}
    assert all(i["id"] < min(ids) for i in rest["items"])


def test_no_code_updates_or_deletes_audit_rows() -> None:
    root = Path(helpline.__file__).parent
    forbidden = re.compile(
        r"(update|delete)\(\s*AuditEntry|(?i:update\s+audit_log|delete\s+from\s+audit_log)"
        r"|AuditEntry\.__table__\.(update|delete)"
    )
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "migrations" not in path.parts and forbidden.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
