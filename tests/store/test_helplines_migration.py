"""Migration 0009_helplines (issue 17) on a populated one-helpline database, SQLite and
PostgreSQL: nothing is lost and everything lands in the default helpline.

How the database before the migration is populated: tests/store/populated.py.
Afterwards the app at head must read all of its rows.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from helpline.main import create_app
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.conftest import FakeClock, make_settings
from tests.console.conv_helpers import texter_writes
from tests.store.populated import populate, rebuild_before, revision_before, rows_of

MIGRATION = "0009_helplines"
BEFORE = revision_before(MIGRATION)
OWNED = ("texters", "conversations", "users", "saved_replies", "alerts", "audit_log")


def test_a_populated_one_helpline_database_moves_into_the_default_helpline(
    database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url)
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    seen = populate(settings, clock)
    before = rows_of(database_url)
    rebuild_before(database_url, before, BEFORE)
    check = create_engine(database_url)
    assert "helplines" not in inspect(check).get_table_names()
    assert "helpline_id" not in {c["name"] for c in inspect(check).get_columns("texters")}
    check.dispose()

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()

    after = rows_of(database_url)
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

