"""Issue 21.7: the database, the inbox and the key store are created 0600
whatever the umask, and `helpline doctor` warns about wider modes."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from helpline.config import Settings
from helpline.ingest.inbox import Inbox
from helpline.lifecycle.keystore import KeyStore, key_store_path
from helpline.ops.doctor import Report, check_file_modes
from helpline.services import build_services
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.conftest import PG_URL, make_settings


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(bool(PG_URL), reason="SQLite files; PostgreSQL keeps its own")
def test_database_inbox_and_their_wal_files_are_0600(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "helpline.db"
    settings = make_settings(f"sqlite:///{db}", key_store=str(tmp_path / "helpline.keystore"))
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    services = build_services(settings)
    inbox = Inbox(services)
    try:
        with services.db.session() as session:
            session.execute(text("SELECT count(*) FROM users"))
        KeyStore(key_store_path(settings), {"key1": b"share"}).save()
        created = [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")]
        names = {p.name for p in created}
        assert {"helpline.db", "helpline.db-inbox", "helpline.keystore"} <= names
        assert any(n.endswith("-wal") for n in names)
        for path in created:
            assert mode(path) == 0o600, f"{path.name} is {mode(path):o}"
    finally:
        inbox.dispose()
        services.db.dispose()


def test_doctor_warns_about_a_world_readable_file(tmp_path: Path, settings: Settings) -> None:
    store = tmp_path / "wide.keystore"
    store.write_text("{}")
    store.chmod(0o644)
    report = Report()
    check_file_modes(settings.model_copy(update={"key_store": str(store)}), report)
    assert any(level == "warn" and "wide.keystore (644)" in text
               for level, _, text in report.lines)
    store.chmod(0o600)
    report = Report()
    check_file_modes(settings.model_copy(update={"key_store": str(store)}), report)
    out = io.StringIO()
    report.print(out)
    assert "warn" not in out.getvalue().split("\n")[0]
    assert key_store_path(settings.model_copy(update={"key_store": str(store)})) == store
