"""Statistics: conversations with media, by kind, in the identifier-free table,
counted once per conversation and kind and suppressed like every other cell."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.store.models import StatCount
from tests.console.helpers import sign_in_as
from tests.media.helpers import post_media, services_of, wa_media_payload


def media_counts(app: FastAPI) -> dict[str, int]:
    with services_of(app).db.session() as session:
        rows = session.exec(select(StatCount).where(
            StatCount.period == "week", StatCount.dimension == "media")).all()
        return {row.key: row.count for row in rows}


def test_conversations_with_media_are_counted_by_kind_once(
    client: TestClient, app: FastAPI
) -> None:
    for n in range(6):
        number = f"3160000010{n}"
        post_media(client, wa_media_payload("image", f"1{n}00", mime_type="image/jpeg",
                                            wa_id=number))
        post_media(client, wa_media_payload("image", f"2{n}00", mime_type="image/jpeg",
                                            wa_id=number))
    post_media(client, wa_media_payload("voice", "3000", mime_type="audio/ogg",
                                        wa_id="31600000100"))
    assert media_counts(app) == {"image": 6, "audio": 1}

    sign_in_as(client, app, "coordinator")
    body = client.get("/api/stats", params={"period": "week"}).json()
    rows = {(r["metric"], r["dimension"], r["key"]): r["value"] for r in body["rows"]}
    assert rows[("conversations", "media", "image")] == 6
    assert rows[("conversations", "media", "audio")] == "<5"
    page = client.get("/console/stats?period=week")  # the account's language: Dutch
    assert "met spraakbericht of geluid" in page.text
