"""Backup and restore round trips (SQLite, and PostgreSQL when the suite runs
there), what a stolen backup reveals, and what erasure does to a backup taken
before it."""

from __future__ import annotations

import io
import json
import secrets
import tarfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from helpline.config import Settings
from helpline.lifecycle import backup
from helpline.lifecycle import retention as lifecycle
from helpline.main import create_app
from helpline.services import Services, build_services
from helpline.store.models import Message, Texter
from tests.conftest import (
    FAKE_NAME,
    GRAPH,
    PG_URL,
    FakeClock,
    key,
    post_whatsapp,
    wa_text_payload,
)
from tests.ingest.test_inbox import post_unprocessed

_ids = count(1)
SECRET_A = "Geheim-verhaal-van-A-zeldzaam-71"
SECRET_B = "Geheim-verhaal-van-B-zeldzaam-72"
NUMBER_A = "31611110001"
NUMBER_B = "31611110002"


def say(client: TestClient, body: str, number: str) -> None:
    payload = wa_text_payload(body, message_id=f"wamid.BK{next(_ids)}", wa_id=number)
    assert post_whatsapp(client, payload).status_code == 200


@pytest.fixture
def target_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    """An empty database to restore into: a new SQLite file, or a new
    PostgreSQL database with the same schema name as the source."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored' / 'helpline.db'}"
        return
    name = f"restore_{secrets.token_hex(5)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    base = PG_URL.rsplit("/", 1)[0]
    schema = database_url.split("search_path%3D")[1]
    fresh = create_engine(f"{base}/{name}")
    with fresh.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    fresh.dispose()
    yield f"{base}/{name}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def texts(services: Services) -> dict[str, list[str]]:
    """Every message body, decrypted, per pseudonym."""
    out: dict[str, list[str]] = {}
    with services.db.session() as session:
        for texter in session.exec(select(Texter)).scalars():  # type: ignore[call-overload]
            data_key = services.vault.key(session, texter.data_key_id)
            rows = session.exec(
                select(Message).where(Message.texter_id == texter.id)  # type: ignore[call-overload]
                .order_by(Message.created_at)
            ).scalars()
            out[texter.pseudonym] = [
                services.vault.open(data_key, m.body, "messages", "body", m.id)
                for m in rows if m.body is not None
            ]
    return out


@pytest.fixture
def two_texters(app: FastAPI, client: TestClient) -> Services:
    respx.post(f"{GRAPH}/1000000001/messages").mock(
        return_value=httpx.Response(200, json={"messages": [{"id": "wamid.OUT"}]})
    )
    say(client, SECRET_A, NUMBER_A)
    say(client, SECRET_B, NUMBER_B)
    services: Services = app.state.services
    return services


def restored(url: str, settings: Settings, clock: FakeClock) -> Services:
    target = settings.model_copy(update={"database_url": url})
    return build_services(target, clock=clock)


@respx.mock
def test_backup_round_trip_restores_everything_into_an_empty_instance(
    two_texters: Services, settings: Settings, target_url: str, tmp_path: Path,
    clock: FakeClock,
) -> None:
    settings = settings.model_copy(update={"key_store": tmp_path / "helpline.keystore"})
    two_texters.settings = settings
    before = texts(two_texters)
    file = tmp_path / "backup.tar"
    result = backup.backup(two_texters, file)
    assert result.data_keys == 2
    assert file.stat().st_mode & 0o777 == 0o600

    target = settings.model_copy(update={"database_url": target_url})
    restored_result = backup.restore(target, file)
    assert restored_result.data_keys == 2
    assert restored_result.erased_since == 0
    services = restored(target_url, settings, clock)
    assert texts(services) == before
    assert SECRET_A in sum(before.values(), [])
    # The restored instance works: the app starts and takes new messages.
    app = create_app(target, clock=clock, run_worker=False)
    with TestClient(app) as client:
        say(client, "na de restore", NUMBER_A)
    assert "na de restore" in sum(texts(services).values(), [])
    services.db.dispose()


@respx.mock
def test_a_backup_taken_while_deliveries_wait_restores_them(
    two_texters: Services, app: FastAPI, client: TestClient, settings: Settings,
    target_url: str, tmp_path: Path, clock: FakeClock,
) -> None:
    settings = settings.model_copy(update={"key_store": tmp_path / "helpline.keystore"})
    two_texters.settings = settings
    waiting = "Nog-in-de-inbox-zeldzaam-73"
    payload = wa_text_payload(waiting, message_id="wamid.BKWAIT", wa_id=NUMBER_A)
    assert post_unprocessed(client, json.dumps(payload).encode()) == 200
    assert app.state.inbox.pending() == 1
    file = tmp_path / "backup.tar"
    backup.backup(two_texters, file)
    with tarfile.open(file) as tar:
        assert ("inbox.sqlite" in tar.getnames()) == (not PG_URL)

    target = settings.model_copy(update={"database_url": target_url})
    backup.restore(target, file)
    restored_app = create_app(target, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(restored_app):
        assert restored_app.state.inbox.pending() == 1
        restored_app.state.inbox.drain()
        assert restored_app.state.inbox.pending() == 0
    services = restored(target_url, settings, clock)
    assert waiting in sum(texts(services).values(), [])
    services.db.dispose()


@respx.mock
def test_restore_refuses_an_instance_that_holds_data(
    two_texters: Services, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"key_store": tmp_path / "ks"})
    two_texters.settings = settings
    file = tmp_path / "backup.tar"
    backup.backup(two_texters, file)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(settings, file)
    assert len(texts(two_texters)) == 2  # untouched


@respx.mock
def test_a_stolen_backup_holds_no_readable_content_or_key(
    two_texters: Services, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"key_store": tmp_path / "ks"})
    two_texters.settings = settings
    file = tmp_path / "backup.tar"
    backup.backup(two_texters, file)
    raw = file.read_bytes()
    for needle in (SECRET_A, SECRET_B, NUMBER_A, NUMBER_B, FAKE_NAME, "zeldzaam"):
        assert needle.encode() not in raw
        assert needle.encode("utf-16-le") not in raw
    # No master-wrapped key in it: the database part has them blanked or left out.
    with two_texters.db.session() as session:
        wrapped = [w for (w,) in session.execute(text("SELECT wrapped FROM data_keys"))]
    assert wrapped
    for value in wrapped:
        assert bytes(value) not in raw
    # Even with the master key, the keys need the key store's shares.
    with tarfile.open(file) as tar:
        member = tar.extractfile("keys.json")
        assert member is not None
        entries = json.load(io.TextIOWrapper(member))
    opened, erased = backup.recover_keys(entries, backup.KeyStore(tmp_path / "missing"))
    assert opened == {}
    assert len(erased) == 2


@respx.mock
def test_a_texter_erased_after_the_backup_cannot_be_read_from_it_with_current_keys(
    two_texters: Services, settings: Settings, target_url: str, tmp_path: Path,
    clock: FakeClock,
) -> None:
    store = tmp_path / "helpline.keystore"
    settings = settings.model_copy(update={"key_store": store})
    services = two_texters
    services.settings = settings
    file = tmp_path / "monday.tar"
    backup.backup(services, file)

    with services.db.session() as session:
        texter_a = next(
            t for t in session.exec(select(Texter)).scalars()  # type: ignore[call-overload]
            if SECRET_A in _texter_texts(services, session, t)
        )
        lifecycle.erase_texter(services, session, texter_a, clock.now)
    # The worker's next tick removes the erased key's share from the key store.
    lifecycle.periodic(services)
    keystore = backup.KeyStore.load(store)
    assert texter_a.data_key_id not in keystore.shares
    assert len(keystore.shares) == 1

    # Whoever holds Monday's backup, the master key and today's key store:
    with tarfile.open(file) as tar:
        member = tar.extractfile("keys.json")
        assert member is not None
        entries = json.load(io.TextIOWrapper(member))
    opened, erased = backup.recover_keys(entries, keystore)
    assert erased == {texter_a.data_key_id}
    assert texter_a.data_key_id not in opened

    # An honest restore of Monday's backup does not bring A back.
    target = settings.model_copy(update={"database_url": target_url})
    result = backup.restore(target, file)
    assert result.erased_since == 1
    assert result.texters_dropped == 1
    after = restored(target_url, settings, clock)
    bodies = sum(texts(after).values(), [])
    assert SECRET_B in bodies
    assert SECRET_A not in bodies
    with after.db.session() as session:
        assert len(session.exec(select(Texter)).all()) == 1  # type: ignore[call-overload]
        assert session.execute(
            text("SELECT count(*) FROM messages WHERE texter_id = :t"), {"t": texter_a.id}
        ).scalar_one() == 0
    after.db.dispose()


def _texter_texts(services: Services, session: Any, texter: Texter) -> list[str]:
    data_key = services.vault.key(session, texter.data_key_id)
    rows = session.exec(select(Message).where(Message.texter_id == texter.id)).scalars()
    return [services.vault.open(data_key, m.body, "messages", "body", m.id)
            for m in rows if m.body is not None]


def test_backup_and_restore_commands_print_counts_only(
    migrated: Settings, tmp_path: Path, target_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from helpline import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPLINE_DATABASE_URL", migrated.database_url)
    monkeypatch.setenv("HELPLINE_MASTER_KEY", key("master"))
    monkeypatch.setenv("HELPLINE_INDEX_KEY", key("index"))
    assert cli.main(["backup", str(tmp_path / "b.tar")]) == 0
    out = capsys.readouterr().out
    assert "data keys: 0" in out
    assert (tmp_path / "helpline.keystore").exists()
    assert cli.main(["backup", str(tmp_path / "b.tar")]) == 1  # never overwrites
    capsys.readouterr()
    monkeypatch.setenv("HELPLINE_DATABASE_URL", target_url)
    assert cli.main(["restore", str(tmp_path / "b.tar")]) == 0
    assert "data keys restored: 0" in capsys.readouterr().out

