"""Migration 0009_helplines (issue 17) on a populated one-helpline database, SQLite and
PostgreSQL: nothing is lost and everything lands in the default helpline.

How the database before the migration is populated: the real app (at head) takes
in texters by signed webhooks, a volunteer claims, answers, labels and notes,
an admin creates an account; then every row is copied, as it is, into a
fresh schema at the revision before it (the columns that schema has), and that
schema is upgraded. So the rows are the app's own (real encryption, real
blind indexes), and afterwards the app at head must read all of them.
"""

from __future__ import annotations

from typing import Any

from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, insert, inspect, select, text

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import alembic_config, upgrade
from helpline.store.models import Alert
from tests.conftest import FakeClock, make_settings
from tests.console.conv_helpers import make_agent, texter_writes
from tests.console.helpers import make_user

MIGRATION = "0009_helplines"
# Whatever main's migrations before this one are: the revision it revises.
BEFORE = str(ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
             .get_revision(MIGRATION).down_revision)
OWNED = ("texters", "conversations", "users", "saved_replies", "alerts", "audit_log")


def _populate(settings: Settings, clock: FakeClock) -> dict[str, Any]:
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
        detail = volunteer.get(f"/api/conversations/{first}").json()
    return {"conversation": first, "messages": [m.get("body") for m in detail["messages"]],
            "queue": sorted(c["id"] for c in queue)}


def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
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


def _rebuild_before(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    from alembic import command

    engine = make_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BEFORE)
    old = MetaData()
    old.reflect(engine)
    # Parents first, so foreign keys hold on PostgreSQL.
    with engine.begin() as conn:
        for table in old.sorted_tables:
            if table.name == "alembic_version" or not rows.get(table.name):
                continue
            names = {c.name for c in table.columns}
            conn.execute(insert(table), [{k: v for k, v in r.items() if k in names}
                                         for r in rows[table.name]])
    engine.dispose()


def test_a_populated_one_helpline_database_moves_into_the_default_helpline(
    database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url)
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    seen = _populate(settings, clock)
    before = _rows(database_url)
    _rebuild_before(database_url, before)
    check = create_engine(database_url)
    assert "helplines" not in inspect(check).get_table_names()
    assert "helpline_id" not in {c["name"] for c in inspect(check).get_columns("texters")}
    check.dispose()

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()

    after = _rows(database_url)
    for table, old_rows in before.items():
        if table in ("helplines", "memberships"):
            continue
        assert len(after[table]) == len(old_rows), table
    for table in (*OWNED, "stat_counts", "stat_published", "stat_partitions"):
        assert after[table], f"{table} was empty: the test populated too little"
        assert {r["helpline_id"] for r in after[table]} == {"default"}, table
    assert [h["id"] for h in after["helplines"]] == ["default"]
    assert sum(r["count"] for r in after["stat_counts"]) == sum(
        r["count"] for r in before["stat_counts"])

    # The app at head reads every conversation and message as before.
    app = create_app(settings, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as client:
        engine = create_engine(database_url)
        with engine.connect() as conn:
            mira = conn.execute(text("SELECT id FROM users WHERE alias = 'Mira'")).scalar_one()
        engine.dispose()
        from helpline.console import sessions
        from tests.console.conv_helpers import Agent

        services = app.state.services
        with services.db.session() as session:
            from helpline.store.models import User

            user = session.get(User, mira)
            assert user is not None
            assert user.helpline_id == "default"
            token = sessions.start_session(services, session, user, services.now())
        agent = Agent(client=client, token=token, csrf=sessions.csrf_token_for(services, token),
                      cookie=sessions.cookie_name(settings), user_id=mira, alias="Mira")
        mine = agent.get("/api/conversations?view=mine").json()["items"]
        queue = agent.get("/api/conversations").json()["items"]
        assert seen["conversation"] in {c["id"] for c in mine + queue}
        detail = agent.get(f"/api/conversations/{seen['conversation']}").json()
        assert [m.get("body") for m in detail["messages"]] == seen["messages"]
        # The same texter writing again finds their old texter (same blind index).
        texter_writes(client, "Ik ben het weer", wa_id="31600000002")
        services = app.state.services
        with services.db.session() as session:
            from helpline.store.models import Texter

            assert len(session.exec(select(Texter)).all()) == 2  # type: ignore[call-overload]


def test_a_fresh_installation_has_the_default_helpline(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, slug FROM helplines")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("default", "default")]

