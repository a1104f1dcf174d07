"""`/openapi.json` and `/docs` exist only when HELPLINE_API_DOCS is on, and
then only for admins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.config import Settings
from helpline.main import create_app
from tests.conftest import FakeClock
from tests.console.helpers import sign_in_as


def test_the_api_description_is_off_by_default(app: FastAPI, client: TestClient) -> None:
    sign_in_as(client, app, "admin")
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        response = client.get(path)
        assert response.status_code in (401, 404), path
        assert "openapi" not in response.text


@pytest.fixture
def documented(migrated: Settings, clock: FakeClock) -> Iterator[tuple[FastAPI, TestClient]]:
    app = create_app(migrated.model_copy(update={"api_docs": True}), clock=clock,
                     run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as client:
        yield app, client


def test_with_the_setting_admins_get_the_description_and_a_page(
    documented: tuple[FastAPI, TestClient],
) -> None:
    app, client = documented
    sign_in_as(client, app, "admin")
    described = client.get("/openapi.json")
    assert described.status_code == 200
    paths = described.json()["paths"]
    assert "/api/conversations" in paths
    assert "/openapi.json" not in paths
    page = client.get("/docs")
    assert page.status_code == 200
    assert "<code>/api/conversations/{conversation_id}/claim</code>" in page.text
    # Nothing from other origins (Swagger UI would load a CDN script).
    assert "http" not in page.text.replace('href="/openapi.json"', "")
    assert "default-src 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("role", ["anonymous", "volunteer", "partner", "coordinator"])
def test_with_the_setting_nobody_else_gets_them(
    documented: tuple[FastAPI, TestClient], role: str
) -> None:
    app, client = documented
    if role != "anonymous":
        sign_in_as(client, app, role)
    for path in ("/openapi.json", "/docs"):
        response = client.get(path)
        assert response.status_code == (401 if role == "anonymous" else 403), (role, path)
        assert "/api/conversations" not in response.text
