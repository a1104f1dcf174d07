"""The inbox is part of the data: its backlog is visible to monitors (/readyz),
operators (`helpline doctor`) and coordinators (the statistics page), and the
SQLite inbox file is migrated in versioned steps."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpline.config import Settings
from helpline.ingest import inbox_schema
from helpline.ingest.inbox import inbox_url
from helpline.main import create_app
from helpline.ops import doctor
from helpline.store.db import utcnow
from helpline.store.models import Message
from tests.conftest import PG_URL, FakeClock
from tests.console.helpers import sign_in_as
from tests.ingest.test_inbox import body, inbox_of, post_unprocessed, raw_rows

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="the inbox file exists on SQLite only")


def test_readyz_reports_the_backlog_and_fails_once_the_oldest_is_too_old(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    empty = client.get("/readyz")
    assert empty.status_code == 200
    assert empty.json()["inbox"] == {"backlog": 0, "oldest_seconds": None}
    assert post_unprocessed(client, body(1)) == 200
    assert post_unprocessed(client, body(2)) == 200
    clock.advance(seconds=120)
    waiting = client.get("/readyz")
    assert waiting.status_code == 200
    assert waiting.json()["inbox"] == {"backlog": 2, "oldest_seconds": 120.0}
    # The default limit is 300 s: a processor that stopped is noticed.
    clock.advance(seconds=181)
    stalled = client.get("/readyz")
    assert stalled.status_code == 503
    assert stalled.json() == {"status": "inbox stalled", "database": True,
                              "inbox": {"backlog": 2, "oldest_seconds": 301.0}}
    inbox_of(app).drain()
    assert client.get("/readyz").status_code == 200


def test_the_readiness_limit_is_a_setting(
    settings_factory: Callable[..., Settings], migrated: Settings, clock: FakeClock
) -> None:
    app = create_app(settings_factory(inbox_max_age_seconds=5), clock=clock,
                     run_worker=False, run_inbox=False)
    with TestClient(app) as client:
        assert post_unprocessed(client, body(1)) == 200
        clock.advance(seconds=5)
        assert client.get("/readyz").status_code == 200
        clock.advance(seconds=1)
        assert client.get("/readyz").status_code == 503


def run_doctor(settings: Settings) -> str:
    out = io.StringIO()
    doctor.main(settings, out)
    return out.getvalue()


def inbox_line(text: str) -> str:
    return next(line for line in text.splitlines() if " inbox: " in line)


def test_doctor_reports_the_backlog_and_a_stalled_one_as_a_problem(
    settings_factory: Callable[..., Settings], migrated: Settings, clock: FakeClock
) -> None:
    clock.now = utcnow() - timedelta(minutes=10)
    app = create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app) as client:
        assert post_unprocessed(client, body(1)) == 200
        assert post_unprocessed(client, body(2)) == 200
    patient = inbox_line(run_doctor(settings_factory(inbox_max_age_seconds=3600)))
    assert patient.startswith("ok")
    assert "2 deliveries waiting, the oldest for 6" in patient
    stalled = inbox_line(run_doctor(settings_factory(inbox_max_age_seconds=300)))
    assert stalled.startswith("FAIL")
    assert "HELPLINE_INBOX_MAX_AGE_SECONDS" in stalled


@sqlite_only
def test_doctor_creates_no_inbox_file(migrated: Settings) -> None:
    path = Path(str(inbox_url(migrated.database_url)).removeprefix("sqlite:///"))
    assert not path.exists()
    assert inbox_line(run_doctor(migrated)).startswith("ok")
    assert not path.exists()


def test_the_statistics_page_shows_the_backlog_to_coordinators(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    assert post_unprocessed(client, body(1)) == 200
    clock.advance(seconds=400)
    sign_in_as(client, app, "coordinator")
    page = client.get("/console/stats")
    assert page.status_code == 200
    assert '<td id="inbox-backlog">1</td>' in page.text
    assert '<td id="inbox-oldest">400</td>' in page.text
    assert "Het verwerken loopt achter" in page.text


# -- the SQLite inbox file's schema ---------------------------------------------


def inbox_file(settings: Settings) -> Path:
    return Path(str(inbox_url(settings.database_url)).removeprefix("sqlite:///"))


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


@sqlite_only
def test_a_new_inbox_file_starts_at_the_current_version(
    app: FastAPI, migrated: Settings
) -> None:
    assert user_version(inbox_file(migrated)) == inbox_schema.CURRENT


@sqlite_only
def test_an_inbox_file_from_before_versioning_is_migrated_with_its_deliveries(
    migrated: Settings, clock: FakeClock
) -> None:
    # A file as helpline wrote it before versioning: the same table, created
    # if missing, user_version left at 0, and an acknowledged delivery waiting.
    old = create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(old) as client:
        assert post_unprocessed(client, body(1, "Van voor de versies")) == 200
    path = inbox_file(migrated)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    assert user_version(path) == 0

    app = create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    assert user_version(path) == inbox_schema.CURRENT
    assert len(raw_rows(app)) == 1
    inbox_of(app).drain()
    services = app.state.services
    with services.db.session() as session:
        assert len(session.execute(select(Message)).all()) >= 1
    assert raw_rows(app) == []


@sqlite_only
def test_an_inbox_file_from_a_newer_helpline_is_refused(
    migrated: Settings, clock: FakeClock
) -> None:
    path = inbox_file(migrated)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {inbox_schema.CURRENT + 1}")
    conn.close()
    with pytest.raises(inbox_schema.InboxSchemaError, match="newer"):
        create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    assert "newer than this helpline" in inbox_line(run_doctor(migrated))
