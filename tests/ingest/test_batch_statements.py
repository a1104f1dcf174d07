"""Processing a batch of deliveries costs a fixed number of statements, not a
few per message: on PostgreSQL each one is a round trip, and a batch of 32
returning texters once took 225 of them (helpline/ingest/batch_store.py). The
count is taken with SQLAlchemy's `before_cursor_execute` event on every
engine the inbox and intake use, through the real inbox processor.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

from helpline.store.models import MediaItem, Message, Texter
from tests.conftest import post_whatsapp, wa_text_payload
from tests.ingest.test_inbox import inbox_of, post_unprocessed
from tests.ingest.test_intake import count, decrypted_bodies, services_of
from tests.media.helpers import wa_media_payload


def delivery(n: int, text: str, wa_id: str) -> bytes:
    return json.dumps(wa_text_payload(text, message_id=f"wamid.S{n}", wa_id=wa_id)).encode()


@contextmanager
def statements(app: FastAPI) -> Iterator[Counter[str]]:
    """The statements sent to the database(s), by their first two words."""
    engines: dict[int, Engine] = {}
    for engine in (services_of(app).db.engine, inbox_of(app).db.engine):
        engines[id(engine)] = engine
    seen: Counter[str] = Counter()

    def count_one(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen[" ".join(statement.split()[:2]).upper()] += 1

    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", count_one)
    try:
        yield seen
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", count_one)


def first_messages(client: TestClient, texters: int) -> None:
    for n in range(texters):
        assert post_whatsapp(client, delivery(1000 + n, "hallo", f"316000{n:05d}")).status_code \
            == 200


def process_returning(app: FastAPI, client: TestClient, size: int, start: int) -> Counter[str]:
    for n in range(start, start + size):
        assert post_unprocessed(client, delivery(n, f"vraag {n}", f"316000{n % 16:05d}")) == 200
    with statements(app) as seen:
        assert inbox_of(app).process_batch(limit=size) == size
    return seen


def test_a_batch_of_returning_texters_takes_the_same_statements_at_any_size(
    app: FastAPI, client: TestClient
) -> None:
    first_messages(client, 16)
    four = process_returning(app, client, 4, 0)
    sixteen = process_returning(app, client, 16, 16)
    assert four == sixteen
    expected = {
        "UPDATE INBOX": 1,  # claim the batch's rows
        "INSERT INTO": 2,  # dedup keys, messages
        "SELECT TEXTERS.ID,": 1,  # texters, keys, open conversations
        "UPDATE TEXTERS": 1,  # activity times (on SQLite one executemany)
        "UPDATE CONVERSATIONS": 1,
        "DELETE FROM": 1,  # the processed inbox rows
    }
    if not services_of(app).db.is_sqlite:
        expected["SELECT PG_ADVISORY_XACT_LOCK(K)"] = 1
        # Claim and store commit without waiting for the WAL flush (inbox_pg.py
        # replayable): the delivery was durable when appended.
        expected["SET LOCAL"] = 2
    assert dict(sixteen) == expected
    assert count(app, Message, Message.direction == "in") == 16 + 4 + 16
    assert sorted(b for b in decrypted_bodies(app, "in") if b.startswith("vraag")) == sorted(
        f"vraag {n}" for n in [*range(4), *range(16, 32)])


def test_batch_with_an_erasure_a_repeat_texter_and_a_new_one_is_stored_as_one_by_one(
    app: FastAPI, client: TestClient
) -> None:
    """A texter confirms their erasure and writes again in the same batch,
    between other texters' messages: the erasure removes what came before it
    (the pending rows are written first), the next message starts afresh."""
    first_messages(client, 2)
    erasing = "31600000000"
    assert post_whatsapp(client, delivery(2000, "WIS", erasing)).status_code == 200
    batch = [
        delivery(2001, "JA", erasing),
        delivery(2002, "nog een vraag", "31600000001"),
        delivery(2003, "hallo weer", erasing),
        delivery(2004, "eerste keer", "31600000077"),
        delivery(2002, "nog een vraag", "31600000001"),  # a duplicate delivery
    ]
    for payload in batch:
        assert post_unprocessed(client, payload) == 200
    assert inbox_of(app).process_batch() == len(batch)
    bodies = decrypted_bodies(app, "in")
    assert "JA" not in bodies
    assert "WIS" not in bodies
    assert bodies.count("nog een vraag") == 1
    assert {"hallo weer", "eerste keer"} <= set(bodies)
    with services_of(app).db.read_session() as session:
        assert len(session.exec(select(Texter)).all()) == 3
    assert inbox_of(app).pending() == 0


def test_media_message_of_a_returning_texter_in_a_batch_gets_its_fetch_job(
    app: FastAPI, client: TestClient
) -> None:
    """The fetch job refers to the message row: that one is written first."""
    first_messages(client, 3)
    image = wa_media_payload("image", "1500000000001", mime_type="image/jpeg",
                             wa_id="31600000001", message_id="wamid.IMG1")
    for payload in (delivery(3000, "een", "31600000000"), json.dumps(image).encode(),
                    delivery(3002, "drie", "31600000002")):
        assert post_unprocessed(client, payload) == 200
    assert inbox_of(app).process_batch() == 3
    assert count(app, MediaItem) == 1
    assert count(app, Message, Message.direction == "in") == 3 + 3
