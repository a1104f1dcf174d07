"""Shared fixtures: a fresh database per test (SQLite file, or a fresh
PostgreSQL schema when HELPLINE_TEST_DATABASE_URL is set), real keys, the real
app through FastAPI's test client, and a controllable clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade

PG_URL = os.environ.get("HELPLINE_TEST_DATABASE_URL")

WHATSAPP_SECRET = "test-app-secret-0123456789"
WHATSAPP_VERIFY = "test-verify-token"
SIGNAL_TOKEN = "test-signal-token-abcdef"
GRAPH = "https://graph.test/v23.0"
SIGNAL_API = "http://signal-api.test"

# The fake texter used across the suite; the privacy sweep looks for these.
FAKE_NUMBER = "31612345678"
FAKE_NAME = "Jane Doe"


def privacy_needles() -> list[bytes]:
    """The fake texter's number in every common form (and base64, hex) and name."""
    forms = [FAKE_NUMBER, "+" + FAKE_NUMBER, "0612345678", "06-12345678", "6 1234 5678",
             "+31 6 12345678", "612345678"]
    out = [f.encode() for f in forms]
    out += [base64.b64encode(f.encode()) for f in forms[:2]]
    out += [FAKE_NUMBER.encode().hex().encode(), FAKE_NAME.encode(),
            FAKE_NAME.encode("utf-16-le")]
    return out


NEEDLES = privacy_needles()


def leaks(blob: bytes) -> list[bytes]:
    return [n for n in NEEDLES if n in blob]


class PrivacySweep:
    """Invariants 1 and 6 over the whole suite: every test's database (SQLite
    file and WAL, or the PostgreSQL schema's rows), every log line and every
    HTTP response of the test client is scanned for the fake number and name."""

    def __init__(self) -> None:
        self.findings: list[str] = []
        self.log = io.BytesIO()
        self.responses_scanned = 0
        self.databases_scanned = 0

    def scan(self, blob: bytes, where: str) -> None:
        for needle in leaks(blob):
            self.findings.append(f"{needle!r} in {where}")


SWEEP = PrivacySweep()


@pytest.fixture(scope="session", autouse=True)
def privacy_sweep() -> Iterator[PrivacySweep]:
    handler = logging.StreamHandler(io.TextIOWrapper(SWEEP.log, encoding="utf-8",
                                                     write_through=True))
    handler.setLevel(logging.DEBUG)
    for name in ("helpline", ""):
        logging.getLogger(name).addHandler(handler)
    original = TestClient.request

    def recording(self: TestClient, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        SWEEP.responses_scanned += 1
        SWEEP.scan(response.content + str(response.headers).encode(),
                   f"response to {args[:2]!r}")
        return response

    TestClient.request = recording  # type: ignore[method-assign]
    yield SWEEP
    TestClient.request = original  # type: ignore[method-assign]
    for name in ("helpline", ""):
        logging.getLogger(name).removeHandler(handler)
    SWEEP.scan(SWEEP.log.getvalue(), "logs")
    assert not SWEEP.findings, "privacy sweep: " + "; ".join(SWEEP.findings[:20])


@pytest.fixture(scope="session", autouse=True)
def webhooks_processed() -> Iterator[None]:
    """A test-client webhook returns once its delivery is processed, as on a
    quiet server milliseconds after the 200: tests then assert on what intake
    stored. The inbox's own tests (tests/ingest/test_inbox.py) look at the rows
    before processing through `post_unprocessed`."""
    original = TestClient.request

    def processed(self: TestClient, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, method, url, *args, **kwargs)
        path = str(url).removeprefix(str(self.base_url))
        delivered = ((path.startswith("/webhooks/") and response.status_code == 200)
                     or (path.startswith("/chat") and path.split("?")[0].endswith("/api/messages")
                         and response.status_code == 202))
        if (method.upper() == "POST" and delivered
                and not getattr(self, "unprocessed", False)):
            inbox = getattr(getattr(self.app, "state", None), "inbox", None)
            if inbox is not None:
                inbox.drain()
        return response

    TestClient.request = processed  # type: ignore[method-assign]
    yield
    TestClient.request = original  # type: ignore[method-assign]


def scan_sqlite(path: Path) -> None:
    for file in path.parent.glob(path.name + "*"):
        SWEEP.scan(file.read_bytes(), file.name)
    SWEEP.databases_scanned += 1


def scan_postgres_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
        ), {"s": schema}).scalars().all()
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{schema}"."{table}"')):  # noqa: S608
                blob = b"".join(
                    bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                    for v in row
                )
                SWEEP.scan(blob, f"{schema}.{table}")
    engine.dispose()
    SWEEP.databases_scanned += 1


def key(seed: str) -> str:
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday, open

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture(autouse=True)
def dispose_databases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every connection pool a test opened (apps built without a lifespan
    included), so a pool garbage-collected later cannot warn in another test."""
    from helpline.store.db import Database

    opened: list[Database] = []
    original = Database.__init__

    def tracking(self: Database, url: str) -> None:
        original(self, url)
        opened.append(self)

    monkeypatch.setattr(Database, "__init__", tracking)
    yield
    for database in opened:
        database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'helpline.db'}"
        scan_sqlite(tmp_path / "helpline.db")
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    scan_postgres_schema(PG_URL, schema)
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "master_key": key("master"),
        "index_key": key("index"),
        "whatsapp_app_secret": WHATSAPP_SECRET,
        "whatsapp_verify_token": WHATSAPP_VERIFY,
        "whatsapp_access_token": "test-access-token",
        "whatsapp_phone_number_id": "1000000001",
        "whatsapp_api_url": GRAPH,
        "whatsapp_template": "helpline_reconnect",
        "signal_api_url": SIGNAL_API,
        "signal_number": "+31600000099",
        "signal_webhook_token": SIGNAL_TOKEN,
        "log_level": "DEBUG",
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "secure_cookies": False,
        "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings_factory(database_url: str) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return make_settings(database_url, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per run; each test starts from a copy (same schema, ms not s)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def migrated(settings: Settings, sqlite_template: Path) -> Settings:
    url = settings.database_url
    if url.startswith("sqlite:///") and not PG_URL:
        shutil.copyfile(sqlite_template, url.removeprefix("sqlite:///"))
        return settings
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return settings


@pytest.fixture
def app(migrated: Settings, clock: FakeClock) -> FastAPI:
    # No background inbox processor: webhooks are processed by the test
    # client itself (webhooks_processed), so tests see no race.
    return create_app(migrated, clock=clock, run_worker=False, run_inbox=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def sign(body: bytes, secret: str = WHATSAPP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wa_text_payload(
    text: str,
    *,
    message_id: str = "wamid.TEST1",
    wa_id: str = FAKE_NUMBER,
    name: str = FAKE_NAME,
    timestamp: int = 1764072000,
) -> dict[str, Any]:
    """Shaped like Meta's documented `messages` webhook for a text message."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "1000000001",
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": message_id,
                                    "timestamp": str(timestamp),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def post_whatsapp(client: TestClient, payload: dict[str, Any] | bytes) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"},
    )
