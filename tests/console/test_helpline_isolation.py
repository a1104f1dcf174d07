"""Issue 17 part 3: the isolation matrix. For every route of the app and
every role, a user of helpline A (Tilburg, the default helpline) gets 403 or
404 for anything of helpline B (Zeeland) named in the path, and no answer
of any route carries one of B's ids or texts. `RULES` must name every
route the app has: a new route without a rule fails
`test_every_route_has_an_isolation_rule`, so it cannot escape the matrix.

Runs on SQLite, and on PostgreSQL with HELPLINE_TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.config import Settings
from helpline.console import events
from helpline.console.sessions import SessionUser
from helpline.live.bus import LiveEvent
from helpline.main import create_app
from helpline.store.models import Conversation, Message, SavedReply, Texter, User
from tests.conftest import FakeClock
from tests.console.test_role_matrix import app_routes
from tests.two_helplines import (
    ZEELAND_WA,
    add_zeeland,
    agent_in,
    post_wa,
    services_of,
    wa_to,
)

# What a route is, for the matrix:
SCOPED = "scoped"  # a session route: B's ids in the path get 403/404, no answer shows B
OUTSIDE = "outside"  # not a session route (webhooks, simulator, health, sign-in, static)
STREAM = "stream"  # the live stream: test_the_event_stream_never_carries_the_other_helpline
RULES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): SCOPED,
    ("GET", "/docs"): SCOPED,
    ("GET", "/healthz"): OUTSIDE,
    ("GET", "/readyz"): OUTSIDE,
    ("GET", "/webhooks/whatsapp"): OUTSIDE,
    ("POST", "/webhooks/whatsapp"): OUTSIDE,
    ("POST", "/webhooks/signal"): OUTSIDE,
    ("MOUNT", "/static"): OUTSIDE,
    ("POST", "/api/auth/login"): OUTSIDE,
    ("POST", "/api/auth/logout"): SCOPED,
    ("GET", "/api/auth/me"): SCOPED,
    ("POST", "/api/auth/password"): SCOPED,
    ("PUT", "/api/me/language"): SCOPED,
    ("GET", "/api/me/notifications"): SCOPED,
    ("PUT", "/api/me/notifications"): SCOPED,
    ("GET", "/api/auth/helplines"): SCOPED,
    ("POST", "/api/auth/helpline"): SCOPED,
    ("GET", "/console/helpline"): SCOPED,
    ("GET", "/api/admin/users"): SCOPED,
    ("POST", "/api/admin/users"): SCOPED,
    ("POST", "/api/admin/users/{user_id}/disable"): SCOPED,
    ("POST", "/api/admin/users/{user_id}/enable"): SCOPED,
    ("POST", "/api/admin/users/{user_id}/reset-totp"): SCOPED,
    ("POST", "/api/admin/users/{user_id}/role"): SCOPED,
    ("GET", "/api/admin/saved-replies"): SCOPED,
    ("POST", "/api/admin/saved-replies"): SCOPED,
    ("PUT", "/api/admin/saved-replies/{reply_id}"): SCOPED,
    ("DELETE", "/api/admin/saved-replies/{reply_id}"): SCOPED,
    ("GET", "/api/admin/audit"): SCOPED,
    ("POST", "/api/admin/conversations/{conversation_id}/erase"): SCOPED,
    ("GET", "/api/admin/helplines"): SCOPED,
    ("POST", "/api/admin/helplines"): SCOPED,
    ("GET", "/console/helplines"): SCOPED,
    ("GET", "/api/saved-replies"): SCOPED,
    ("GET", "/api/colleagues"): SCOPED,
    ("GET", "/api/conversations"): SCOPED,
    ("GET", "/api/conversations/{conversation_id}"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/claim"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/release"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/transfer"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/messages"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/messages/{message_id}/retry"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/close"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/referrals"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/notes"): SCOPED,
    ("PUT", "/api/conversations/{conversation_id}/labels"): SCOPED,
    ("PUT", "/api/conversations/{conversation_id}/content-warning"): SCOPED,
    ("GET", "/api/conversations/{conversation_id}/media/{media_id}"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/alerts"): SCOPED,
    ("POST", "/api/conversations/{conversation_id}/attachments"): SCOPED,
    ("GET", "/api/alerts"): SCOPED,
    ("POST", "/api/alerts/{alert_id}/approve"): SCOPED,
    ("POST", "/api/alerts/{alert_id}/discard"): SCOPED,
    ("GET", "/console/alerts"): SCOPED,
    ("GET", "/console/notifications"): SCOPED,
    ("POST", "/simulator/api/media"): OUTSIDE,
    ("GET", "/api/held"): SCOPED,
    ("POST", "/api/held/{conversation_id}/handover"): SCOPED,
    ("GET", "/api/events"): STREAM,
    ("GET", "/console/login"): OUTSIDE,
    ("GET", "/console/shift-end"): OUTSIDE,
    ("GET", "/console"): SCOPED,
    ("GET", "/console/conversations/{conversation_id}"): SCOPED,
    ("GET", "/console/accounts"): SCOPED,
    ("GET", "/console/held"): SCOPED,
    ("GET", "/api/stats"): SCOPED,
    ("GET", "/api/stats.csv"): SCOPED,
    ("GET", "/api/stats/transparency"): SCOPED,
    ("GET", "/console/stats"): SCOPED,
    ("GET", "/console/stats/transparency"): SCOPED,
    ("GET", "/api/stats/national"): SCOPED,
    ("GET", "/console/national"): SCOPED,
    ("GET", "/simulator"): OUTSIDE,
    ("GET", "/simulator/api/scripts"): OUTSIDE,
    ("POST", "/simulator/api/messages"): OUTSIDE,
    ("GET", "/simulator/api/messages"): OUTSIDE,
    ("GET", "/simulator/api/events"): OUTSIDE,
    # the web chat: a visitor's cookie, no console session; /chat is the
    # default helpline's page, /chat/{slug} another's (tests/webchat/
    # test_helplines.py: what each visitor reads and where it lands)
    ("GET", "/chat"): OUTSIDE,
    ("GET", "/chat/{slug}"): OUTSIDE,
    ("GET", "/chat/api/challenge"): OUTSIDE,
    ("GET", "/chat/{slug}/api/challenge"): OUTSIDE,
    ("GET", "/chat/api/events"): OUTSIDE,
    ("GET", "/chat/{slug}/api/events"): OUTSIDE,
    ("GET", "/chat/api/messages"): OUTSIDE,
    ("GET", "/chat/{slug}/api/messages"): OUTSIDE,
    ("POST", "/chat/api/messages"): OUTSIDE,
    ("POST", "/chat/{slug}/api/messages"): OUTSIDE,
    ("POST", "/chat/api/delete"): OUTSIDE,
    ("POST", "/chat/{slug}/api/delete"): OUTSIDE,
}
# Valid bodies, so a request reaches the access check instead of a 422.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/conversations/{conversation_id}/transfer"): {"to": "Zee-Vrijwilliger"},
    ("POST", "/api/conversations/{conversation_id}/messages"): {"body": "hallo"},
    ("POST", "/api/conversations/{conversation_id}/referrals"): {"partner": "ggd"},
    ("POST", "/api/conversations/{conversation_id}/notes"): {"body": "notitie"},
    ("PUT", "/api/conversations/{conversation_id}/labels"): {"labels": ["health"]},
    ("PUT", "/api/conversations/{conversation_id}/content-warning"): {"on": True},
    ("POST", "/api/held/{conversation_id}/handover"): {"to": None},
    ("POST", "/api/admin/users/{user_id}/role"): {"role": "volunteer"},
    ("PUT", "/api/admin/saved-replies/{reply_id}"): {
        "language": "nl", "title": "overgenomen", "body": "overgenomen"},
    ("POST", "/api/auth/helpline"): {"helpline": "zeeland"},
    ("POST", "/api/conversations/{conversation_id}/alerts"): {"text": "pas op"},
}
LAST = {("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}
ROLES = ["volunteer", "partner", "coordinator", "admin", "national"]


@pytest.fixture
def app(migrated: Settings, clock: FakeClock) -> FastAPI:
    settings = migrated.model_copy(update={"api_docs": True})
    return create_app(settings, clock=clock, run_worker=False, run_inbox=False)


def test_every_route_has_an_isolation_rule(app: FastAPI) -> None:
    routes = app_routes(app)
    assert sorted(routes - set(RULES)) == [], "routes without an isolation rule"
    assert sorted(set(RULES) - routes) == [], "isolation rules for routes that do not exist"


def zeeland_world(client: TestClient) -> dict[str, str]:
    """Zeeland's texter, conversation (claimed and answered by a Zeeland
    volunteer), saved reply and accounts; returns what must never show."""
    app: Any = client.app
    zeeland = add_zeeland(app)
    assert post_wa(client, wa_to(ZEELAND_WA, "zeeland-geheim-4242",
                                 message_id="wamid.ZEE1", wa_id="31611112222")) == 200
    services = services_of(app)
    with services.db.session() as session:
        conversation = session.exec(
            select(Conversation).where(Conversation.helpline_id == zeeland)).one()
        message = session.exec(
            select(Message).where(Message.conversation_id == conversation.id)).first()
        texter = session.get(Texter, conversation.texter_id)
        assert message is not None
        assert texter is not None
    volunteer = agent_in(client, "volunteer", zeeland, "Zee-Vrijwilliger")
    assert volunteer.post(f"/api/conversations/{conversation.id}/claim").status_code == 200
    assert volunteer.post(f"/api/conversations/{conversation.id}/messages",
                          {"body": "antwoord-uit-zeeland"}).status_code == 201
    alert = volunteer.post(f"/api/conversations/{conversation.id}/alerts",
                           {"text": "ZeeWaarschuwing-55 witte bus"})
    assert alert.status_code == 201, alert.text
    admin = agent_in(client, "admin", zeeland, "Zee-Beheer")
    reply = admin.post("/api/admin/saved-replies", {
        "language": "nl", "title": "ZeeTitel-77", "body": "ZeeTekst-77"})
    assert reply.status_code == 201
    coordinator = agent_in(client, "coordinator", zeeland, "Zee-Coordinator")
    return {
        "helpline": zeeland, "conversation_id": conversation.id, "message_id": message.id,
        "texter_id": texter.id, "pseudonym": texter.pseudonym,
        "user_id": volunteer.user_id, "reply_id": reply.json()["id"],
        "texts": "zeeland-geheim-4242", "answer": "antwoord-uit-zeeland",
        "reply_title": "ZeeTitel-77", "alias": "Zee-Vrijwilliger", "admin_alias": "Zee-Beheer",
        "coordinator": coordinator.user_id,
        "alert_id": alert.json()["id"], "alert_text": "ZeeWaarschuwing-55",
        # No photo in Zeeland's conversation: the conversation id already
        # belongs to Zeeland, so the route must refuse before the media id.
        "media_id": "no-such-media",
    }


def concrete(path: str, world: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: world[m.group(1)], path)


def shows_zeeland(body: bytes, world: dict[str, str]) -> list[str]:
    secrets = [v for k, v in world.items() if k not in ("helpline", "media_id")]
    return [s for s in secrets if s.encode() in body]


def scoped_routes() -> list[tuple[str, str]]:
    rows = [key for key, rule in RULES.items() if rule == SCOPED]
    return sorted(rows, key=lambda r: (r in LAST, r[1], r[0]))


@pytest.mark.parametrize("role", ROLES)
def test_a_user_of_one_helpline_reaches_nothing_of_another(
    app: FastAPI, client: TestClient, role: str
) -> None:
    world = zeeland_world(client)
    # Tilburg has a conversation of its own, so its lists are not empty.
    assert post_wa(client, wa_to("1000000001", "tilburg-bericht",
                                 message_id="wamid.TIL1", wa_id="31633334444")) == 200
    partner = "ggd" if role == "partner" else None
    me = agent_in(client, role, "default", f"Til-{role}", partner=partner)
    for method, path in scoped_routes():
        body = BODIES.get((method, path), {} if method in ("POST", "PUT") else None)
        response = client.request(method, concrete(path, world), json=body,
                                  headers=me._headers(method not in ("GET",)),
                                  follow_redirects=False)
        where = f"{role} {method} {path}: {response.status_code}"
        if "{" in path:
            assert response.status_code in (403, 404), where
        assert shows_zeeland(response.content, world) == [], where
    # And nothing of Zeeland's changed.
    services = services_of(app)
    with services.db.session() as session:
        conversation = session.get(Conversation, world["conversation_id"])
        reply = session.get(SavedReply, world["reply_id"])
        volunteer = session.get(User, world["user_id"])
    assert conversation is not None
    assert conversation.claimed_by_id == world["user_id"]
    assert conversation.status != "closed"
    assert reply is not None
    assert reply.title == "ZeeTitel-77"
    assert volunteer is not None
    assert not volunteer.disabled


def test_each_helplines_people_see_only_their_own_queue_and_accounts(
    client: TestClient,
) -> None:
    world = zeeland_world(client)
    assert post_wa(client, wa_to("1000000001", "tilburg-bericht",
                                 message_id="wamid.TIL2", wa_id="31633334444")) == 200
    tilburg = agent_in(client, "volunteer", "default", "Til-Roos")
    zeeland = agent_in(client, "volunteer", world["helpline"], "Zee-Mees")
    tilburg_ids = {c["id"] for c in tilburg.get("/api/conversations").json()["items"]}
    zeeland_ids = {c["id"] for c in zeeland.get("/api/conversations?view=all").json()["items"]}
    assert world["conversation_id"] not in tilburg_ids
    assert tilburg_ids
    assert world["conversation_id"] in zeeland_ids
    assert not tilburg_ids & zeeland_ids
    tilburg_admin = agent_in(client, "admin", "default", "Til-Beheer")
    names = {u["alias"] for u in tilburg_admin.get("/api/admin/users").json()["items"]}
    assert "Zee-Vrijwilliger" not in names
    assert "Til-Roos" in names


def test_the_event_stream_never_carries_the_other_helpline(client: TestClient) -> None:
    world = zeeland_world(client)
    services = services_of(client.app)  # type: ignore[arg-type]
    tilburg = SessionUser(user_id="t", username="t", role="volunteer", alias="T",
                          partner_id=None, ui_language="nl", session_id="s", csrf_token="c",
                          helpline_id="default")
    visibility = events.Filter(services, tilburg)
    theirs = LiveEvent(kind="message", conversation=world["conversation_id"],
                       message=world["message_id"], queue="peer", helpline=world["helpline"])
    # A peer-queue event would pass the fast path by its queue name alone:
    # the helpline stops it first, and the database check agrees.
    assert visibility.fast(theirs) is False
    assert events._allowed(services, tilburg, theirs) is False  # noqa: SLF001
    untagged = LiveEvent(kind="status", conversation=world["conversation_id"],
                         message=world["message_id"])
    assert visibility.fast(untagged) is None
    assert events._allowed(services, tilburg, untagged) is False  # noqa: SLF001
    zeeland = SessionUser(user_id=world["user_id"], username="z", role="volunteer",
                          alias="Z", partner_id=None, ui_language="nl", session_id="s",
                          csrf_token="c", helpline_id=world["helpline"])
    assert events._allowed(services, zeeland, untagged) is True  # noqa: SLF001


def test_a_stream_hears_its_own_helpline_only_over_http(client: TestClient) -> None:
    """Through the real stream: Tilburg's volunteer hears Tilburg's message,
    not Zeeland's that came first."""
    from tests.console.live_server import EventReader, ThreadServer

    app: Any = client.app
    world = zeeland_world(client)
    tilburg = agent_in(client, "volunteer", "default", "Til-Stream")
    with ThreadServer(app) as server:
        import httpx

        with httpx.Client(base_url=server.base_url,
                          cookies={tilburg.cookie: tilburg.token}) as http:
            reader = EventReader(http).start()
            reader.wait_for(lambda kind, _: kind == "ready")
            assert post_wa(client, wa_to(ZEELAND_WA, "zee-nog-eens",
                                         message_id="wamid.ZEE2", wa_id="31611112222")) == 200
            assert post_wa(client, wa_to("1000000001", "til-nu",
                                         message_id="wamid.TIL3", wa_id="31633334444")) == 200
            _kind, data = reader.wait_for(lambda k, d: k == "message")
            seen = [data, *[d for _k, d in reader.drain()]]
    assert all(d.get("conversation") != world["conversation_id"] for d in seen)
    assert "helpline" not in data  # the browser is not told helpline ids either


_ = asyncio  # the live-server helpers run their own loop
