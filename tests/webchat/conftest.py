"""Web chat fixtures: the app with HELPLINE_WEBCHAT on, and a test client on
https://testserver: the chat cookie is always `Secure`, and the test client's
cookie jar (like a browser) sends a Secure cookie over https only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpline.config import Settings
from helpline.main import create_app
from tests.conftest import FakeClock


@pytest.fixture
def app(migrated: Settings, clock: FakeClock) -> FastAPI:
    settings = migrated.model_copy(update={"webchat": True})
    return create_app(settings, clock=clock, run_worker=False, run_inbox=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c
