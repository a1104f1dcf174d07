"""Retention and erasure, end to end: real app, real database, real keys.

"Nothing of the texter remains" is checked on the database itself: every
table is scanned for the texter's ids, and every encrypted column of every
row is tried against the texter's (captured) data key.
"""

from __future__ import annotations

import asyncio
import json
from itertools import count
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import LargeBinary, inspect, select, text
from sqlmodel import SQLModel

from helpline import crypto
from helpline.lifecycle import deletion
from helpline.lifecycle import retention as lifecycle
from helpline.outbound import outbox
from helpline.services import Services
from helpline.store.models import (
    AuditEntry,
    Conversation,
    DataKey,
    DedupKey,
    ErasedKey,
    Message,
    OutboxItem,
    Texter,
)
from tests.conftest import FAKE_NUMBER, GRAPH, FakeClock, post_whatsapp, wa_text_payload

_ids = count(1)


def say(client: TestClient, body: str, number: str = FAKE_NUMBER) -> None:
    payload = wa_text_payload(body, message_id=f"wamid.LC{next(_ids)}", wa_id=number)
    assert post_whatsapp(client, payload).status_code == 200


def graph_ok() -> respx.Route:
    return respx.post(f"{GRAPH}/1000000001/messages").mock(
        return_value=httpx.Response(200, json={"messages": [{"id": f"wamid.OUT{next(_ids)}"}]})
    )


def texter_snapshot(services: Services) -> tuple[Texter, bytes]:
    with services.db.session() as session:
        texter = session.exec(select(Texter)).scalars().one()  # type: ignore[call-overload]
        key = services.vault.key(session, texter.data_key_id)
        session.expunge(texter)
    return texter, key


def scan_for(services: Services, texter: Texter, key: bytes) -> list[str]:
    """Every trace of `texter` left in any table: ids in any column, and any
    encrypted value that still opens with their data key."""
    found: list[str] = []
    needles = {texter.id, texter.data_key_id, texter.blind_index, texter.pseudonym}
    with services.db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if not inspect(conn).has_table(table.name):
                continue
            pk = list(table.primary_key.columns)
            for row in conn.execute(select(table)).mappings():
                for column in table.c:
                    value = row[column.name]
                    if table.name == "erased_keys":
                        # The tombstone: a random key id, removed once the
                        # backup key store has dropped that key's share.
                        continue
                    if isinstance(value, str) and value in needles:
                        found.append(f"{table.name}.{column.name}")
                    if isinstance(column.type, LargeBinary) and value and len(pk) == 1:
                        try:
                            crypto.open_sealed(key, value, table=table.name, column=column.name,
                                               row_id=str(row[pk[0].name]))
                        except crypto.CryptoError:
                            continue
                        found.append(f"{table.name}.{column.name} opens")
        # Wrapped keys: none of them may be the texter's key.
        for key_id, wrapped in conn.execute(text("SELECT id, wrapped FROM data_keys")):
            if wrapped and services.vault.ring.unwrap(wrapped, key_id) == key:
                found.append("data_keys.wrapped")
    return found


def sent_texts(route: respx.Route) -> list[str]:
    out = []
    for call in route.calls:
        body = json.loads(call.request.content)
        if body.get("type") == "text":
            out.append(body["text"]["body"])
        elif body.get("type") == "interactive":
            out.append(body["interactive"]["body"]["text"])
    return out


@respx.mock
def test_erase_command_removes_every_trace_and_still_says_goodbye(
    app: FastAPI, client: TestClient
) -> None:
    services: Services = app.state.services
    route = graph_ok()
    say(client, "Hallo, ik heb een vraag")
    say(client, "nog een bericht")
    texter, key = texter_snapshot(services)
    say(client, "WIS")
    say(client, "JA")

    assert scan_for(services, texter, key) == []
    with services.db.session() as session:
        assert session.exec(select(Texter)).first() is None  # type: ignore[call-overload]
        pending = session.exec(select(OutboxItem)).scalars().all()  # type: ignore[call-overload]
        # Only the detached goodbye is left: no texter, its own key.
        assert len(pending) == 1
        assert pending[0].texter_id is None
        assert pending[0].payload is not None
        assert pending[0].data_key_id != texter.data_key_id
        assert session.get(ErasedKey, texter.data_key_id) is not None
        audit = session.exec(select(AuditEntry)).scalars().all()  # type: ignore[call-overload]
        erasures = [a for a in audit if a.action.startswith("texter.erase")]
        assert [a.action for a in erasures] == ["texter.erase_self"]
        assert erasures[0].object_ref is None

    asyncio.run(outbox.run_once(services))
    goodbye = services.catalog.render("erased", "nl", {})
    assert sent_texts(route)[-1] == goodbye
    assert json.loads(route.calls[-1].request.content)["to"] == FAKE_NUMBER
    with services.db.session() as session:
        item = session.exec(select(OutboxItem)).scalars().one()  # type: ignore[call-overload]
        # Sent: the detached item keeps neither text, address nor key.
        assert (item.state, item.payload, item.data_key_id) == ("sent", None, None)
        assert session.exec(select(DataKey)).first() is None  # type: ignore[call-overload]


@respx.mock
def test_writing_again_after_erasure_starts_fresh_under_a_new_pseudonym(
    app: FastAPI, client: TestClient
) -> None:
    services: Services = app.state.services
    graph_ok()
    say(client, "Hallo")
    old, _ = texter_snapshot(services)
    say(client, "DELETE")
    say(client, "YES")
    say(client, "Hallo again")
    new, _ = texter_snapshot(services)
    assert new.id != old.id
    assert new.pseudonym != old.pseudonym
    assert new.data_key_id != old.data_key_id
    # Same number, same channel: the blind index is recomputed, nothing else links.
    assert new.blind_index == old.blind_index


@respx.mock
def test_admin_erasure_removes_the_texter_and_is_audited(
    app: FastAPI, client: TestClient
) -> None:
    services: Services = app.state.services
    graph_ok()
    say(client, "Hallo")
    texter, key = texter_snapshot(services)
    with services.db.session() as session:
        conversation_id = session.exec(select(Conversation.id)).scalars().one()  # type: ignore[call-overload]
    assert lifecycle.erase_conversation_texter(services, conversation_id, "admin-1")
    assert scan_for(services, texter, key) == []
    with services.db.session() as session:
        actions = session.exec(select(AuditEntry)).scalars().all()  # type: ignore[call-overload]
        assert [(a.action, a.actor_id, a.object_ref) for a in actions] == [
            ("texter.erase", "admin-1", None)
        ]
    with pytest.raises(lifecycle.NotFound):
        lifecycle.erase_conversation_texter(services, conversation_id, "admin-1")


# --- retention --------------------------------------------------------------


def _texters(services: Services) -> int:
    with services.db.session() as session:
        return len(session.exec(select(Texter.id)).all())  # type: ignore[call-overload]


@pytest.fixture
def retention_app(settings_factory: Any, clock: FakeClock) -> Any:
    def build(days: int) -> FastAPI:
        from helpline.main import create_app
        from helpline.store.db import make_engine
        from helpline.store.migrate import upgrade

        settings = settings_factory(retention_days=days)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
        return create_app(settings, clock=clock, run_worker=False)

    return build


@respx.mock
@pytest.mark.parametrize(("offset", "kept"), [(-1, True), (0, True), (1, False)])
def test_retention_keeps_a_texter_until_the_cutoff_and_erases_them_after(
    retention_app: Any, clock: FakeClock, offset: int, kept: bool
) -> None:
    graph_ok()
    app = retention_app(30)
    services: Services = app.state.services
    with TestClient(app) as client:
        say(client, "Hallo")
        texter, key = texter_snapshot(services)
        clock.advance(days=30, seconds=offset)
        result = lifecycle.purge(services)
    assert _texters(services) == (1 if kept else 0)
    assert result.texters == (0 if kept else 1)
    if not kept:
        assert result.messages >= 2  # the texter's message and the bot's welcome
        assert scan_for(services, texter, key) == []


@respx.mock
def test_retention_zero_erases_everyone_not_active_this_instant(
    retention_app: Any, clock: FakeClock
) -> None:
    graph_ok()
    app = retention_app(0)
    services: Services = app.state.services
    with TestClient(app) as client:
        say(client, "Hallo", number="31611111111")
        clock.advance(seconds=1)
        say(client, "Hallo", number="31622222222")
        assert lifecycle.purge(services).texters == 1
        assert _texters(services) == 1
        clock.advance(seconds=1)
        assert lifecycle.purge(services).texters == 1
    assert _texters(services) == 0


@respx.mock
def test_retention_days_variable_overrides_the_policy(
    retention_app: Any, clock: FakeClock
) -> None:
    graph_ok()
    app = retention_app(2)
    services: Services = app.state.services
    assert lifecycle.retention_days(services) == 2
    with TestClient(app) as client:
        say(client, "Hallo")
        clock.advance(days=2, seconds=1)
        assert lifecycle.purge(services).texters == 1


def test_policy_retention_applies_when_the_variable_is_unset(
    app: FastAPI, client: TestClient
) -> None:
    services: Services = app.state.services
    assert lifecycle.retention_days(services) == services.policy.retention_days


@respx.mock
def test_a_volunteer_still_writing_keeps_the_conversation_alive(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services: Services = app.state.services
    graph_ok()
    say(client, "Hallo")
    days = lifecycle.retention_days(services)
    clock.advance(days=days - 1)
    with services.db.session() as session:
        conversation = session.exec(select(Conversation)).scalars().one()  # type: ignore[call-overload]
        conversation.last_message_at = clock.now
    clock.advance(days=2)
    assert lifecycle.purge(services).texters == 0
    clock.advance(days=days)
    assert lifecycle.purge(services).texters == 1


@respx.mock
def test_dedup_keys_expire_after_eight_days_and_not_before(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services: Services = app.state.services
    graph_ok()
    say(client, "Hallo")
    clock.advance(days=8)
    assert lifecycle.purge(services).dedup_keys == 0
    clock.advance(seconds=1)
    assert lifecycle.purge(services).dedup_keys == 1
    with services.db.session() as session:
        assert session.exec(select(DedupKey)).first() is None  # type: ignore[call-overload]


@respx.mock
def test_worker_schedule_runs_retention_at_most_every_ten_minutes(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services: Services = app.state.services
    graph_ok()
    assert lifecycle.periodic(services) is not None
    say(client, "Hallo")
    clock.advance(days=lifecycle.retention_days(services) + 1)
    first = lifecycle.periodic(services)
    assert first is not None
    assert first.texters == 1
    say(client, "Hallo", number="31699999999")
    clock.advance(days=lifecycle.retention_days(services) + 1)
    assert lifecycle.periodic(services) is not None
    assert lifecycle.periodic(services) is None  # the same instant: skipped


@respx.mock
def test_purge_keeps_statistics_free_rows_and_audit_records(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services: Services = app.state.services
    graph_ok()
    say(client, "Hallo")
    with services.db.session() as session:
        session.add(AuditEntry(at=clock.now, actor_id="admin-1", action="policy.changed"))
    clock.advance(days=lifecycle.retention_days(services) + 1)
    assert lifecycle.purge(services).texters == 1
    with services.db.session() as session:
        assert len(session.exec(select(AuditEntry)).all()) == 1  # type: ignore[call-overload]
        assert session.exec(select(Message)).first() is None  # type: ignore[call-overload]


def test_progress_prints_counts_only_on_a_terminal() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = lifecycle.Progress("texters erased", total=3, stream=stream, every=0)
    progress.update(2)
    progress.finish()
    assert stream.getvalue() == "\rtexters erased: 2/3\rtexters erased: 2/3\n"
    quiet = io.StringIO()
    lifecycle.Progress("x", stream=quiet).update(1)
    assert quiet.getvalue() == ""


def test_detached_goodbye_that_cannot_be_sent_is_given_up_with_its_key(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    services: Services = app.state.services
    with services.db.session() as session:
        lifecycle.queue_detached(services, session, "whatsapp", FAKE_NUMBER, "bye", clock.now)
    clock.advance(days=3)
    assert lifecycle.purge(services).detached == 1
    with services.db.session() as session:
        assert session.exec(select(OutboxItem)).first() is None  # type: ignore[call-overload]
        assert session.exec(select(DataKey)).first() is None  # type: ignore[call-overload]


def test_every_table_with_a_texter_id_is_erased() -> None:
    names = {t.name for t in deletion.texter_tables()}
    for table in SQLModel.metadata.tables.values():
        if "texter_id" in table.c and table.name != "texters":
            assert table.name in names
    assert {"messages", "outbox", "referrals", "notes", "conversation_labels"} <= names
    # Children before parents.
    order = [t.name for t in deletion.texter_tables()]
    assert order.index("outbox") < order.index("messages") < order.index("conversations")


# --- the admin route --------------------------------------------------------


@respx.mock
def test_admin_route_erases_and_other_roles_cannot(app: FastAPI, client: TestClient) -> None:
    from tests.console.conv_helpers import make_agent

    services: Services = app.state.services
    graph_ok()
    say(client, "Hallo")
    texter, key = texter_snapshot(services)
    with services.db.session() as session:
        conversation_id = session.exec(select(Conversation.id)).scalars().one()  # type: ignore[call-overload]
    path = f"/api/admin/conversations/{conversation_id}/erase"
    assert client.post(path).status_code in (401, 403)  # anonymous (CSRF or sign-in)
    volunteer = make_agent(client, "volunteer")
    assert volunteer.post(path).status_code == 403
    admin = make_agent(client, "admin")
    response = admin.post(path)
    assert response.status_code == 200
    assert response.json() == {"status": "erased"}
    assert scan_for(services, texter, key) == []
    assert admin.post(path).status_code == 404
    assert admin.post("/api/admin/conversations/nonexistent/erase").status_code == 404


def test_purge_command_prints_counts_only(
    migrated: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    from helpline import cli
    from tests.conftest import key

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPLINE_DATABASE_URL", migrated.database_url)
    monkeypatch.setenv("HELPLINE_MASTER_KEY", key("master"))
    monkeypatch.setenv("HELPLINE_INDEX_KEY", key("index"))
    assert cli.main(["purge"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "texters erased: 0"
    assert "dedup keys expired: 0" in lines
    assert all(line.rsplit(": ", 1)[1].isdigit() for line in lines)
