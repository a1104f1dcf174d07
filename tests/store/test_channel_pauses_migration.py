"""Migration 0010_channel_pauses on a populated database, SQLite and
PostgreSQL: every pause stored before it (keyed by channel alone) becomes the
default helpline's, with its time and reason; nothing else changes; and the
outbox at head still honours it (the default number stays quiet, a second
helpline's number on the same channel may send)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, inspect

from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from tests.conftest import FakeClock, make_settings
from tests.store.populated import populate, rebuild_before, revision_before, rows_of

MIGRATION = "0010_channel_pauses"
BEFORE = revision_before(MIGRATION)


def _without_helpline(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["channel"], r["until"], r["reason"]) for r in rows)


def test_existing_pauses_become_the_default_helplines(
    database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url)
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    populate(settings, clock)
    before = rows_of(database_url)
    assert before["channel_pauses"], "the test populated no pause"
    rebuild_before(database_url, before, BEFORE)
    check = create_engine(database_url)
    columns = {c["name"] for c in inspect(check).get_columns("channel_pauses")}
    check.dispose()
    assert "helpline_id" not in columns

    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()

    after = rows_of(database_url)
    assert {r["helpline_id"] for r in after["channel_pauses"]} == {"default"}
    assert _without_helpline(after["channel_pauses"]) == _without_helpline(
        before["channel_pauses"])
    for table, old_rows in before.items():
        assert len(after[table]) == len(old_rows), table
    check = create_engine(database_url)
    key = inspect(check).get_pk_constraint("channel_pauses")["constrained_columns"]
    check.dispose()
    assert key == ["helpline_id", "channel"]
