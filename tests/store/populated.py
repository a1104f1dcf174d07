"""A populated database for the migration tests: the real app (at head)
takes in texters by signed webhooks, a volunteer claims, answers, labels and
notes, an admin creates an account, the outbox pauses a number; then every
row is copied, as it is, into a fresh schema at the revision before the
migration under test (the columns that schema has), which is upgraded. So the
rows are the app's own (real encryption, real blind indexes)."""

from __future__ import annotations

from typing import Any

from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, delete, insert, select

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import alembic_config
from helpline.store.models import Alert, ChannelPause
from tests.conftest import FakeClock
from tests.console.conv_helpers import make_agent, texter_writes
from tests.console.helpers import make_user


def revision_before(migration: str) -> str:
    """Whatever main's migrations before `migration` are: the revision it revises."""
    script = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    return str(script.get_revision(migration).down_revision)


def populate(settings: Settings, clock: FakeClock) -> dict[str, Any]:
    app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as client:
        texter_writes(client, "Hallo, ik heb een vraag over huur", wa_id="31600000001")
        texter_writes(client, "Nog iemand hier", wa_id="31600000002")
        volunteer = make_agent(client, alias="Mira")
        queue = volunteer.get("/api/conversations").json()["items"]
        first = queue[0]["id"]
        assert volunteer.post(f"/api/conversations/{first}/claim").status_code == 200
        assert volunteer.post(f"/api/conversations/{first}/messages",
                              {"body": "Hoi, ik ben er"}).status_code == 201
        assert volunteer.put(f"/api/conversations/{first}/labels",
                             {"labels": ["health"]}).status_code == 200
        assert volunteer.post(f"/api/conversations/{first}/notes",
                              {"body": "Belt terug morgen"}).status_code == 201
        make_user(app, "coordinator", username="coord")
        admin = make_agent(client, "admin", alias="Beheer")
        assert admin.post("/api/admin/saved-replies", {
            "language": "nl", "title": "Welkom", "body": "Fijn dat je schrijft"}).status_code == 201
        services = app.state.services
        from helpline.stats import publishing

        assert publishing.refresh(services) >= 1
        with services.db.session() as session:
            # What the outbox writes when WhatsApp rate-limits the number.
            session.add(Alert(kind="whatsapp:130429", channel="whatsapp",
                              created_at=services.now()))
            session.add(ChannelPause(channel="whatsapp", until=services.now(),
                                     reason="whatsapp:130429"))
        detail = volunteer.get(f"/api/conversations/{first}").json()
    return {"conversation": first, "messages": [m.get("body") for m in detail["messages"]],
            "queue": sorted(c["id"] for c in queue)}


def rows_of(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    out: dict[str, list[dict[str, Any]]] = {}
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        for name, table in metadata.tables.items():
            if name != "alembic_version":
                out[name] = [dict(r._mapping) for r in conn.execute(select(table))]
    engine.dispose()
    return out


def rebuild_before(url: str, rows: dict[str, list[dict[str, Any]]], before: str) -> None:
    from alembic import command

    engine = make_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, before)
    old = MetaData()
    old.reflect(engine)
    # Parents first, so foreign keys hold on PostgreSQL; rows a migration
    # seeds (the default helpline) make way for the copied ones.
    with engine.begin() as conn:
        for table in reversed(old.sorted_tables):
            if table.name != "alembic_version":
                conn.execute(delete(table))
        for table in old.sorted_tables:
            if table.name == "alembic_version" or not rows.get(table.name):
                continue
            names = {c.name for c in table.columns}
            conn.execute(insert(table), [{k: v for k, v in r.items() if k in names}
                                         for r in rows[table.name]])
    engine.dispose()
