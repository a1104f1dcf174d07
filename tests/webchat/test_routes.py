"""The web chat routes through the real app: cookie, intake path, policy,
transcript, deletion, and bad input (never a 500)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.config import Settings
from helpline.main import create_app
from helpline.store.models import Conversation, Message, Texter
from tests.conftest import FakeClock
from tests.console.conv_helpers import make_agent
from tests.webchat.helpers import HEADERS, say, send_all, services_of, shown, volunteer_answers


def chat_cookie(response: object) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])  # type: ignore[attr-defined]
    return cookie


def test_every_chat_route_is_404_when_the_web_chat_is_off(
    migrated: Settings, clock: FakeClock
) -> None:
    app = create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/chat").status_code == 404
        assert client.get("/chat/api/messages").status_code == 404
        assert client.get("/chat/api/events").status_code == 404
        assert client.get("/chat/api/challenge").status_code == 404
        assert say(client, "hoi").status_code == 404
        assert client.post("/chat/api/delete", headers=HEADERS).status_code == 404


def test_the_first_message_sets_a_256_bit_httponly_secure_strict_cookie(
    client: TestClient,
) -> None:
    response = say(client, "Hoi")
    assert response.status_code == 202
    morsel = chat_cookie(response)["helpline_chat"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", morsel.value)  # token_urlsafe(32)
    header = response.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/chat"):
        assert flag in header


def test_the_cookie_lives_as_long_as_the_retention(client: TestClient) -> None:
    header = say(client, "Hoi").headers["set-cookie"]
    assert f"Max-Age={30 * 86400}" in header


def test_only_the_cookies_keyed_hash_is_stored(app: FastAPI, client: TestClient) -> None:
    token = chat_cookie(say(client, "Hoi"))["helpline_chat"].value
    services = services_of(app)
    with services.db.session() as s:
        texter = s.exec(select(Texter)).one()
        key = services.vault.key(s, texter.data_key_id)
        address = services.vault.open(key, texter.reply_address, "texters", "reply_address",
                                      texter.id)
        assert texter.channel == "webchat"
    assert token not in address
    assert texter.blind_index != address


def test_a_message_reaches_the_console_queue_under_a_pseudonym(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "Ik heb een vraag over een test")
    agent = make_agent(TestClient(app), "volunteer")
    items = agent.get("/api/conversations").json()["items"]
    assert len(items) == 1
    assert items[0]["channel"] == "webchat"
    assert re.fullmatch(r"[A-Z][a-z-]+-\d+", items[0]["pseudonym"])  # Vergeet-me-niet-12


def test_the_welcome_and_a_volunteers_answer_appear_in_the_visitors_transcript(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "Hoi")
    send_all(app)
    clock.advance(seconds=5)
    volunteer_answers(app, "Hallo, ik ben er")
    messages = shown(client)
    assert messages[0] == ("in", "Hoi")
    assert messages[1][0] == "out"  # the welcome
    assert messages[-1] == ("out", "Hallo, ik ben er")


def test_a_reply_still_in_the_outbox_is_not_shown(app: FastAPI, client: TestClient) -> None:
    say(client, "Hoi")
    assert shown(client) == [("in", "Hoi")]


def test_the_language_chosen_on_the_page_is_the_texters_language(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "Hello", language="en")
    send_all(app)
    services = services_of(app)
    with services.db.session() as s:
        assert s.exec(select(Texter)).one().language == "en"
    welcome = shown(client)[1][1]
    assert welcome.startswith("Hi!")


def test_an_unknown_language_is_ignored(app: FastAPI, client: TestClient) -> None:
    say(client, "Hello", language="xx")
    with services_of(app).db.session() as s:
        assert s.exec(select(Texter)).one().language is None


def test_urgent_words_make_the_conversation_urgent(app: FastAPI, client: TestClient) -> None:
    say(client, "Hij heeft me geslagen")
    with services_of(app).db.session() as s:
        assert s.exec(select(Conversation)).one().priority == "urgent"


def test_after_hours_the_visitor_gets_the_closed_reply(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    clock.now = clock.now.replace(day=28, hour=12)  # a Saturday: closed
    say(client, "Hello", language="en")
    send_all(app)
    assert any("closed" in body.lower() or "open" in body.lower()
               for direction, body in shown(client) if direction == "out")


def test_the_wis_command_erases_after_its_confirmation(
    app: FastAPI, client: TestClient, clock: FakeClock
) -> None:
    say(client, "Hoi")
    clock.advance(seconds=1)
    say(client, "WIS")
    clock.advance(seconds=1)
    say(client, "JA")
    with services_of(app).db.session() as s:
        assert s.exec(select(Texter)).all() == []
        assert s.exec(select(Message)).all() == []


def test_delete_this_chat_erases_everything_and_clears_the_cookie(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "Hoi")
    send_all(app)
    response = client.post("/chat/api/delete", headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {"status": "deleted"}
    assert "Max-Age=0" in response.headers["set-cookie"]
    with services_of(app).db.session() as s:
        assert s.exec(select(Texter)).all() == []
        assert s.exec(select(Conversation)).all() == []
    agent = make_agent(TestClient(app), "volunteer")
    assert agent.get("/api/conversations").json()["items"] == []
    assert client.get("/chat/api/messages").json()["messages"] == []


def test_delete_without_a_chat_says_so(client: TestClient) -> None:
    response = client.post("/chat/api/delete", headers=HEADERS)
    assert response.json() == {"status": "nothing to delete"}


def test_delete_needs_the_page_header(client: TestClient) -> None:
    say(client, "Hoi")
    assert client.post("/chat/api/delete").status_code == 401


def test_a_stolen_conversation_id_without_the_cookie_reads_nothing(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "Geheim bericht")
    with services_of(app).db.session() as s:
        conversation_id = s.exec(select(Conversation)).one().id
    with TestClient(app, base_url="https://testserver") as stranger:
        for path in (f"/chat/api/messages?conversation={conversation_id}",
                     f"/chat/api/messages?id={conversation_id}"):
            assert stranger.get(path).json() == {"active": False, "language": None,
                                                 "messages": []}
        assert stranger.get("/chat/api/events").status_code == 401
        assert stranger.get(f"/api/conversations/{conversation_id}").status_code == 401
        stranger.cookies.set("helpline_chat", conversation_id, domain="testserver.local",
                             path="/chat")
        assert stranger.get("/chat/api/messages").json()["messages"] == []
        assert b"Geheim" not in stranger.get("/chat/api/messages").content


def test_another_visitors_cookie_reads_only_its_own_chat(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "Bericht van de eerste")
    with TestClient(app, base_url="https://testserver") as other:
        say(other, "Bericht van de tweede")
        assert shown(other) == [("in", "Bericht van de tweede")]
    assert shown(client) == [("in", "Bericht van de eerste")]


def test_the_cookie_is_not_sent_over_plain_http(app: FastAPI) -> None:
    with TestClient(app, base_url="http://testserver") as plain:
        say(plain, "Hoi")
        # Secure: the jar keeps it but sends it on https only, so a second
        # message over http opens a chat of its own.
        say(plain, "Nog eens")
    with services_of(app).db.session() as s:
        assert len(s.exec(select(Texter)).all()) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[]", 400),
        (b'{"text": 5}', 400),
        (b'{"text": "   "}', 400),
        (b"{}", 400),
        (b'{"text": "' + b"x" * 2001 + b'"}', 413),
        (b'{"text": "\\ud800 lone surrogate"}', 400),
        (b'{"text": "ok", "id": "../../etc"}', 202),
        (b'{"text": "ok", "language": "' + b"x" * 50 + b'"}', 400),
    ],
)
def test_bad_input_gets_a_clear_error_never_a_500(
    client: TestClient, body: bytes, status: int
) -> None:
    response = client.post("/chat/api/messages", content=body, headers=HEADERS)
    assert response.status_code == status
    if status >= 400:
        assert response.json()["error"]


def test_a_too_long_message_says_how_long_it_may_be(client: TestClient) -> None:
    response = say(client, "x" * 2001)
    assert response.status_code == 413
    assert "2000" in response.json()["error"]


def test_a_huge_body_is_refused_before_parsing(client: TestClient) -> None:
    response = client.post("/chat/api/messages", content=b"x" * 200_000, headers=HEADERS)
    assert response.status_code == 413


def test_a_post_without_the_page_header_or_from_another_site_is_refused(
    client: TestClient,
) -> None:
    assert client.post("/chat/api/messages", json={"text": "hoi"}).status_code == 401
    cross = client.post("/chat/api/messages", json={"text": "hoi"},
                        headers={**HEADERS, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 401


def test_a_malformed_cookie_is_a_new_visitor_not_an_error(
    app: FastAPI, client: TestClient
) -> None:
    client.cookies.set("helpline_chat", "<script>", domain="testserver.local", path="/chat")
    assert client.get("/chat/api/messages").status_code == 200
    assert say(client, "Hoi").status_code == 202


def test_a_retried_message_with_the_same_id_is_stored_once(
    app: FastAPI, client: TestClient
) -> None:
    say(client, "Hoi", id="c-abc-1")
    say(client, "Hoi", id="c-abc-1")
    with services_of(app).db.session() as s:
        assert len(s.exec(select(Message).where(Message.direction == "in")).all()) == 1


def test_the_event_stream_needs_a_chat(client: TestClient) -> None:
    response = client.get("/chat/api/events")
    assert response.status_code == 401
    assert response.json()["error"]
