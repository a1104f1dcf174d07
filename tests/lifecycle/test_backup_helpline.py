"""Backup and restore of one helpline: `helpline backup --helpline zeeland`
holds only Zeeland's rows (texters, conversations, messages, media files,
accounts, memberships, saved replies, audit) and keys, readable by nobody
without the key store and master key; `helpline restore` brings Zeeland back
into an installation that does not hold it, where its texter is found again
and everything decrypts; over an existing helpline it is refused. Real app,
real CLI, real SQLite or PostgreSQL; only the Graph API is faked."""

from __future__ import annotations

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
from sqlalchemy import create_engine, text
from sqlmodel import select

from helpline.config import Settings
from helpline.console import memberships
from helpline.lifecycle import backup_helpline
from helpline.lifecycle.retention import erase_conversation_texter
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from helpline.store.models import Conversation, Texter, User
from tests.conftest import GRAPH, PG_URL, FakeClock, key, leaks, make_settings
from tests.media import samples
from tests.media.helpers import graph_media, post_media, run_fetcher, wa_media_payload
from tests.two_helplines import TILBURG_WA, ZEELAND_WA, add_zeeland, agent_in, post_wa, wa_to

_ids = count(1)


@pytest.fixture
def second_url(tmp_path: Path) -> Iterator[str]:
    """Another installation's (empty) database, on the same backend."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'other' / 'helpline.db'}"
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def installation(url: str, tmp: Path, name: str, **overrides: Any) -> Settings:
    (tmp / name).mkdir(exist_ok=True)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    settings = make_settings(url, media_dir=tmp / name / "media", media_inline_max_bytes=4096,
                             key_store=tmp / name / "helpline.keystore", **overrides)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return settings


def media_to(number_id: str, media_id: str) -> dict[str, Any]:
    payload = wa_media_payload("image", media_id, mime_type="image/jpeg")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number_id
    return payload


def cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *argv: str) -> int:
    from helpline import cli as command

    for name, value in (("DATABASE_URL", settings.database_url), ("INDEX_KEY", key("index")),
                        ("MASTER_KEY", key("master")), ("MEDIA_DIR", str(settings.media_dir)),
                        ("KEY_STORE", str(settings.key_store))):
        monkeypatch.setenv(f"HELPLINE_{name}", value)
    return command.main(list(argv))


@pytest.fixture
def populated(database_url: str, tmp_path: Path, clock: FakeClock,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FastAPI, str]]:
    """Installation A: Tilburg (default) and Zeeland, each with a texter
    (the same number); Zeeland's with photos inline and in a file, a
    volunteer, an admin, a saved reply and a Tilburg coordinator's membership."""
    monkeypatch.chdir(tmp_path)
    settings = installation(database_url, tmp_path, "a")
    app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)
    zeeland = add_zeeland(app)
    with respx.mock:
        respx.post(url__startswith=GRAPH).mock(return_value=httpx.Response(
            200, json={"messages": [{"id": f"wamid.OUT{next(_ids)}"}]}))
        with TestClient(app) as client:
            assert post_wa(client, wa_to(TILBURG_WA, "hallo tilburg",
                                         message_id="wamid.T1")) == 200
            assert post_wa(client, wa_to(ZEELAND_WA, "hallo zeeland",
                                         message_id="wamid.Z1")) == 200
            for photo, media_id in ((samples.jpeg_with_gps(), "9201"),
                                    (samples.big_jpeg(0.05), "9202")):
                graph_media(respx.mock, media_id, photo, mime_type="image/jpeg")
                post_media(client, media_to(ZEELAND_WA, media_id))
            while run_fetcher(app):
                pass
            agent_in(client, "volunteer", zeeland, "Zeevol")
            admin = agent_in(client, "admin", zeeland, "Zeeadmin")
            assert admin.post("/api/admin/saved-replies", {
                "language": "nl", "title": "Welkom", "body": "Fijn dat je schrijft"},
            ).status_code == 201
            coordinator = agent_in(client, "coordinator", "default", "Tilcoord")
            services = app.state.services
            with services.db.session() as session:
                user = session.get(User, coordinator.user_id)
                assert user is not None
                memberships.grant(session, user, zeeland, "coordinator", None, clock.now)
    yield app, zeeland
    app.state.services.db.dispose()


def texters_of(app: FastAPI) -> list[tuple[str, str]]:
    with app.state.services.db.session() as session:
        return [(t.helpline_id, t.id) for t in session.exec(select(Texter)).all()]


def test_a_helpline_backup_holds_only_its_rows_and_nothing_readable(
    populated: tuple[FastAPI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, zeeland = populated
    settings = app.state.services.settings
    file = tmp_path / "zeeland.bak"
    assert cli(monkeypatch, settings, "backup", str(file), "--helpline", "zeeland") == 0
    assert file.stat().st_mode & 0o777 == 0o600
    blob = file.read_bytes()
    assert leaks(blob) == []
    for plain in (b"hallo zeeland", b"hallo tilburg"):
        assert plain not in blob
    with tarfile.open(file) as tar:
        names = sorted(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        rows = [json.loads(line) for line in tar.extractfile("rows.jsonl")]  # type: ignore[union-attr]
    assert [n for n in names if n.startswith("media/")] != []
    assert {"manifest.json", "keys.json", "rows.jsonl"} <= set(names)
    assert manifest["helpline"] == {"id": zeeland, "slug": "zeeland", "name": "Zeeland"}
    counts = manifest["rows"]
    assert counts["texters"] == 1
    assert counts["conversations"] == 1
    assert counts["media"] == 2
    assert counts["memberships"] == 1
    assert counts["users"] == 2
    assert counts["saved_replies"] == 1
    assert counts["audit_log"] >= 3  # two accounts and the saved reply
    assert counts["messages"] >= 3
    # Nothing of Tilburg: no row of the default helpline, nor of its texter.
    (tilburg_texter,) = [t for h, t in texters_of(app) if h == "default"]
    for row in rows:
        assert row["r"].get("helpline_id") in (None, zeeland)
        assert tilburg_texter not in json.dumps(row)
    assert not any(r["t"] in ("sessions", "data_keys", "dedup_keys", "inbox") for r in rows)


def test_restore_brings_the_helpline_back_into_another_installation(
    populated: tuple[FastAPI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    second_url: str, clock: FakeClock, capsys: pytest.CaptureFixture[str],
) -> None:
    app, zeeland = populated
    source = app.state.services.settings
    file = tmp_path / "zeeland.bak"
    assert cli(monkeypatch, source, "backup", str(file), "--helpline", "zeeland") == 0
    with app.state.services.db.session() as session:
        (before,) = session.exec(select(Conversation.id).where(
            Conversation.helpline_id == zeeland)).all()

    # Installation B: same master and index keys; the key store is A's.
    target = installation(second_url, tmp_path, "b")
    target = target.model_copy(update={"key_store": source.key_store})
    capsys.readouterr()
    assert cli(monkeypatch, target, "restore", str(file)) == 0
    out = capsys.readouterr().out.splitlines()
    assert "helpline restored: zeeland" in out
    assert "texters left out (erased since the backup): 0" in out
    assert "media files restored: 1" in out
    # The Tilburg coordinator's membership names an account B does not have.
    assert "memberships left out (they name someone this installation does not have): 1" in out

    restored = create_app(target, clock=clock, run_worker=False, run_inbox=False)
    with respx.mock:
        respx.post(url__startswith=GRAPH).mock(return_value=httpx.Response(
            200, json={"messages": [{"id": f"wamid.OUT{next(_ids)}"}]}))
        with TestClient(restored) as client:
            assert [h for h, _ in texters_of(restored)] == [zeeland]
            clock.advance(minutes=5)
            assert post_wa(client, wa_to(ZEELAND_WA, "weer zeeland",
                                         message_id="wamid.Z2")) == 200
            with restored.state.services.db.session() as session:
                assert session.exec(select(Conversation.id).where(
                    Conversation.helpline_id == zeeland)).all() == [before]
            reader = agent_in(client, "volunteer", zeeland, "Zeevol2")
            view = reader.get(f"/api/conversations/{before}")
            assert view.status_code == 200, view.text
            messages = view.json()["messages"]
            assert [m["body"] for m in messages if m["direction"] == "in" and m["body"]] == [
                "hallo zeeland", "weer zeeland"]
            media = [item for m in messages for item in m["media"]]
            assert len(media) == 2
            for item in media:
                served = reader.get(item["url"])
                assert served.status_code == 200
                assert served.content[:2] == b"\xff\xd8"
            admin = agent_in(client, "admin", zeeland, "Zeeadmin2")
            replies = admin.get("/api/admin/saved-replies").json()["items"]
            assert [r["title"] for r in replies] == ["Welkom"]
    restored.state.services.db.dispose()

    # Again: B now holds Zeeland, and restoring over it is refused.
    assert cli(monkeypatch, target, "restore", str(file)) == 1
    assert "already has the helpline 'zeeland'" in capsys.readouterr().out


def test_restore_over_an_existing_helpline_is_refused_and_changes_nothing(
    populated: tuple[FastAPI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, _zeeland = populated
    settings = app.state.services.settings
    file = tmp_path / "zeeland.bak"
    assert cli(monkeypatch, settings, "backup", str(file), "--helpline", "zeeland") == 0
    before = texters_of(app)
    capsys.readouterr()
    assert cli(monkeypatch, settings, "restore", str(file)) == 1
    assert ("restore failed: this installation already has the helpline 'zeeland': restoring "
            "over an existing helpline is refused") in capsys.readouterr().out
    assert texters_of(app) == before


def test_a_texter_erased_after_the_backup_is_not_restored(
    populated: tuple[FastAPI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    second_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    from helpline.lifecycle.keystore import apply_tombstones

    app, zeeland = populated
    services = app.state.services
    file = tmp_path / "zeeland.bak"
    assert cli(monkeypatch, services.settings, "backup", str(file), "--helpline", "zeeland") == 0
    with services.db.session() as session:
        (conversation,) = session.exec(select(Conversation.id).where(
            Conversation.helpline_id == zeeland)).all()
    with respx.mock:
        respx.post(url__startswith=GRAPH).mock(return_value=httpx.Response(
            200, json={"messages": [{"id": "wamid.BYE"}]}))
        erase_conversation_texter(services, conversation, "admin-1", zeeland)
    apply_tombstones(services, create=False)
    target = installation(second_url, tmp_path, "b").model_copy(
        update={"key_store": services.settings.key_store})
    capsys.readouterr()
    assert cli(monkeypatch, target, "restore", str(file)) == 0
    out = capsys.readouterr().out.splitlines()
    assert "texters left out (erased since the backup): 1" in out
    assert "media files restored: 0" in out
    engine = make_engine(target.database_url)
    with engine.connect() as conn:
        for table in ("texters", "messages", "media", "conversations"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0  # noqa: S608
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 2
    engine.dispose()
    assert not list((tmp_path / "b" / "media").glob("*.sealed"))


def test_the_default_helpline_and_an_unknown_slug_are_refused(
    populated: tuple[FastAPI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = populated[0].state.services.settings
    capsys.readouterr()
    assert cli(monkeypatch, settings, "backup", str(tmp_path / "d.bak"), "--helpline",
               "default") == 1
    assert "back it up with `helpline backup FILE`" in capsys.readouterr().out
    assert cli(monkeypatch, settings, "backup", str(tmp_path / "x.bak"), "--helpline",
               "atlantis") == 1
    assert "no helpline with the slug 'atlantis'" in capsys.readouterr().out
    assert not (tmp_path / "d.bak").exists()
    assert not (tmp_path / "x.bak").exists()


def test_every_table_is_in_a_helplines_backup_or_named_as_installation_wide() -> None:
    """A new table cannot silently stay out of (or leak into) the backup."""
    from sqlmodel import SQLModel

    import helpline.store.models  # noqa: F401

    covered = {t.name for t in backup_helpline.tables()} | backup_helpline.DEFERRED
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= covered
    assert {"texters", "messages", "media", "users", "memberships", "saved_replies",
            "audit_log", "conversations", "helplines"} <= covered - backup_helpline.DEFERRED


