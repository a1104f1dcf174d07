"""A chat page per helpline (issue 17 with the web chat): `/chat` is the
default helpline's (Tilburg here), `/chat/zeeland` Zeeland's. What a visitor
writes on a page lands in that helpline's queue only; the page's cookie, its
visitor id and its texter belong to that helpline, so one browser chatting
with both regions is two unrelated texters, and deleting one chat leaves the
other. Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.ops.helplines import HelplineInvalid, HelplineSpec, add_helpline
from helpline.store.models import DEFAULT_HELPLINE_ID, Conversation, Texter
from tests.two_helplines import add_zeeland, agent_in
from tests.webchat.helpers import HEADERS, send_all, services_of

ZEELAND_POLICY = """
languages = ["nl", "en"]
default_language = "nl"

[webchat]
title = "Weer"
exit_url = "https://www.knmi.nl/"
"""


def say_at(client: TestClient, base: str, text: str) -> int:
    response = client.post(f"{base}/api/messages", json={"text": text}, headers=HEADERS)
    return response.status_code


def shown_at(client: TestClient, base: str) -> list[tuple[str, str]]:
    data = client.get(f"{base}/api/messages").json()
    return [(m["direction"], m["body"]) for m in data["messages"]]


def chats_on_both_pages(app: FastAPI, client: TestClient) -> str:
    """Zeeland added; the same browser writes on Tilburg's page and on
    Zeeland's. Returns Zeeland's id."""
    zeeland = add_zeeland(app, ZEELAND_POLICY)
    say_at(client, "/chat", "Hoi Tilburg")
    say_at(client, "/chat/zeeland", "Hoi Zeeland")
    return zeeland


def test_each_helpline_has_its_own_page_and_unknown_slugs_are_404(
    app: FastAPI, client: TestClient
) -> None:
    add_zeeland(app, ZEELAND_POLICY)
    page = client.get("/chat/zeeland")
    assert page.status_code == 200
    assert 'data-base="/chat/zeeland"' in page.text
    assert "https://www.knmi.nl/" in page.text  # Zeeland's own look
    assert 'data-base="/chat"' in client.get("/chat").text
    for path in ("/chat/utrecht", "/chat/utrecht/api/messages", "/chat/utrecht/api/events",
                 "/chat/utrecht/api/challenge"):
        assert client.get(path).status_code == 404, path
    assert client.post("/chat/utrecht/api/messages", json={"text": "hoi"},
                       headers=HEADERS).status_code == 404


def test_a_message_on_zeelands_page_lands_in_zeelands_queue_only(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = add_zeeland(app, ZEELAND_POLICY)
    assert say_at(client, "/chat/zeeland", "Vraag uit Vlissingen") == 202
    with services_of(app).db.read_session() as s:
        [conversation] = s.exec(select(Conversation)).all()
        assert conversation.helpline_id == zeeland
    tilburg_volunteer = agent_in(TestClient(app), "volunteer", DEFAULT_HELPLINE_ID, "Roos")
    zeeland_volunteer = agent_in(TestClient(app), "volunteer", zeeland, "Mira")
    assert tilburg_volunteer.get("/api/conversations?view=queue").json()["items"] == []
    [item] = zeeland_volunteer.get("/api/conversations?view=queue").json()["items"]
    assert item["channel"] == "webchat"


def test_one_browser_on_both_pages_is_two_unrelated_texters(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = add_zeeland(app, ZEELAND_POLICY)
    first = client.post("/chat/api/messages", json={"text": "Hoi Tilburg"}, headers=HEADERS)
    second = client.post("/chat/zeeland/api/messages", json={"text": "Hoi Zeeland"},
                         headers=HEADERS)
    cookies: SimpleCookie = SimpleCookie()
    cookies.load(first.headers["set-cookie"])
    cookies.load(second.headers["set-cookie"])
    assert {"helpline_chat", "helpline_chat_zeeland"} <= set(cookies)
    assert cookies["helpline_chat"].value != cookies["helpline_chat_zeeland"].value
    assert cookies["helpline_chat_zeeland"]["path"] == "/chat"
    with services_of(app).db.read_session() as s:
        texters = list(s.exec(select(Texter)).all())
    assert sorted(t.helpline_id for t in texters) == sorted([DEFAULT_HELPLINE_ID, zeeland])
    assert texters[0].blind_index != texters[1].blind_index
    # Each page shows its own conversation only.
    assert [b for d, b in shown_at(client, "/chat") if d == "in"] == ["Hoi Tilburg"]
    assert [b for d, b in shown_at(client, "/chat/zeeland") if d == "in"] == ["Hoi Zeeland"]


def test_a_zeeland_reply_reaches_only_the_zeeland_page(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = chats_on_both_pages(app, client)
    send_all(app)  # the welcomes
    mira = agent_in(TestClient(app), "volunteer", zeeland, "Mira")
    [item] = mira.get("/api/conversations?view=queue").json()["items"]
    assert mira.post(f"/api/conversations/{item['id']}/claim").status_code == 200
    reply = mira.post(f"/api/conversations/{item['id']}/messages",
                      {"body": "Hallo vanuit Middelburg"})
    assert reply.status_code in (200, 201, 202), reply.text
    send_all(app)
    assert ("out", "Hallo vanuit Middelburg") in shown_at(client, "/chat/zeeland")
    assert all(b != "Hallo vanuit Middelburg" for _, b in shown_at(client, "/chat"))


def test_deleting_the_zeeland_chat_leaves_the_tilburg_chat(
    app: FastAPI, client: TestClient
) -> None:
    zeeland = chats_on_both_pages(app, client)
    deleted = client.post("/chat/zeeland/api/delete", headers=HEADERS)
    assert deleted.json() == {"status": "deleted"}
    assert "helpline_chat_zeeland=;" in deleted.headers["set-cookie"]
    with services_of(app).db.read_session() as s:
        assert [t.helpline_id for t in s.exec(select(Texter)).all()] == [DEFAULT_HELPLINE_ID]
    assert zeeland != DEFAULT_HELPLINE_ID
    assert [b for d, b in shown_at(client, "/chat") if d == "in"] == ["Hoi Tilburg"]
    assert shown_at(client, "/chat/zeeland") == []


def test_the_default_helplines_slug_is_its_page_too(app: FastAPI, client: TestClient) -> None:
    slug = services_of(app).helpline(DEFAULT_HELPLINE_ID).slug
    assert say_at(client, f"/chat/{slug}", "Hoi") == 202
    # The same cookie and texter as /chat: one page under two addresses.
    assert [b for d, b in shown_at(client, "/chat") if d == "in"] == ["Hoi"]


def test_a_helpline_cannot_take_a_slug_the_chat_routes_need(app: FastAPI) -> None:
    for slug in ("api", "static"):
        with pytest.raises(HelplineInvalid):
            add_helpline(services_of(app), HelplineSpec(slug=slug, name="X"))
