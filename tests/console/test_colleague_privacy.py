"""Issue 21.1: a conversation a colleague holds is theirs. Other volunteers
see that it exists and who holds it, not a word of it, until it is released,
transferred, or handed over by a coordinator (recorded in the audit log).

The object matrix drives every route of the app that names a conversation,
taken from the app itself, against real conversations: held by a colleague,
and referred to another partner. A new route without a rule fails it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select

from helpline.store.models import AuditEntry
from tests.console.conv_helpers import Agent, make_agent, texter_writes
from tests.console.test_conversations import services_of

ALLOWED = "allowed"  # the route is the role's to use (its effects tested elsewhere)
# Per route: the answer for a colleague volunteer (the conversation is
# someone else's claim), a partner of another partner, a coordinator, an admin.
RULES: dict[tuple[str, str], dict[str, int | str]] = {
    ("GET", "/api/conversations/{conversation_id}"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("GET", "/console/conversations/{conversation_id}"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    # The list already shows that a colleague holds it: 409 says no more.
    ("POST", "/api/conversations/{conversation_id}/claim"):
        {"colleague": 409, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/release"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/transfer"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/messages"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/messages/{message_id}/retry"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/close"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/referrals"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/notes"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("PUT", "/api/conversations/{conversation_id}/labels"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("GET", "/api/conversations/{conversation_id}/media/{media_id}"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("POST", "/api/conversations/{conversation_id}/attachments"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    ("PUT", "/api/conversations/{conversation_id}/content-warning"):
        {"colleague": 404, "other_partner": 404, "coordinator": 403, "admin": 403},
    # Safety alerts are drafted by volunteers only (other roles: 403 before any lookup).
    ("POST", "/api/conversations/{conversation_id}/alerts"):
        {"colleague": 404, "other_partner": 403, "coordinator": 403, "admin": 403},
    ("POST", "/api/held/{conversation_id}/handover"):
        {"colleague": 403, "other_partner": 403, "coordinator": ALLOWED, "admin": 403},
    ("POST", "/api/admin/conversations/{conversation_id}/erase"):
        {"colleague": 403, "other_partner": 403, "coordinator": 403, "admin": ALLOWED},
}
BODIES = {
    "transfer": {"to": "Iris"},
    "messages": {"body": "hallo"},
    "referrals": {"partner": "ggd", "note": "n"},
    "notes": {"body": "notitie"},
    "labels": {"labels": ["health"]},
    "handover": {"to": None},
    "content-warning": {"on": True},
    "alerts": {"text": "Let op: AB-12-CD"},
}


def conversation_routes(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in (getattr(route, "methods", None) or set()) - {"HEAD"}:
            if "{conversation_id}" in route.path:
                found.add((method, route.path))
    return found


def test_every_conversation_route_has_a_rule(app: FastAPI) -> None:
    routes = conversation_routes(app)
    assert routes == set(RULES), (sorted(routes - set(RULES)), sorted(set(RULES) - routes))


def call(agent: Agent, method: str, path: str) -> int:
    body = next((b for word, b in BODIES.items() if path.endswith("/" + word)), {})
    if method == "GET":
        return agent.get(path).status_code
    if method == "PUT":
        return agent.put(path, body).status_code
    return agent.post(path, body).status_code


def concrete(path: str, conversation_id: str, message_id: str) -> str:
    return path.replace("{conversation_id}", conversation_id).replace(
        "{message_id}", message_id
    ).replace("{media_id}", "no-such-media")


def held_and_referred(client: TestClient) -> dict[str, object]:
    roos = make_agent(client, alias="Roos")
    agents = {
        "holder": roos,
        "colleague": make_agent(client, alias="Iris"),
        "ggd": make_agent(client, "partner", alias="GGD-Anna", partner="ggd"),
        "other_partner": make_agent(client, "partner", alias="PMW-Bo", partner="pmw"),
        "coordinator": make_agent(client, "coordinator", alias="Coco"),
        "admin": make_agent(client, "admin", alias="Ada"),
    }
    texter_writes(client, "ik wil met iemand praten", wa_id="31600000001")
    texter_writes(client, "voor de GGD", wa_id="31600000002")
    items = roos.get("/api/conversations?view=queue").json()["items"]
    held, referred = items[0]["id"], items[1]["id"]
    assert roos.post(f"/api/conversations/{held}/claim").status_code == 200
    reply = roos.post(f"/api/conversations/{held}/messages", {"body": "Hoi, ik ben Roos"})
    assert reply.status_code == 201
    assert roos.post(f"/api/conversations/{referred}/claim").status_code == 200
    assert roos.post(f"/api/conversations/{referred}/referrals",
                     {"partner": "ggd"}).status_code == 201
    texter_writes(client, "JA", wa_id="31600000002")
    assert agents["ggd"].get(f"/api/conversations/{referred}").status_code == 200
    return {"agents": agents, "held": held, "referred": referred,
            "message": reply.json()["id"]}


def test_the_matrix_of_roles_against_real_conversations(client: TestClient) -> None:
    world = held_and_referred(client)
    agents: dict[str, Agent] = world["agents"]  # type: ignore[assignment]
    held, referred, message = str(world["held"]), str(world["referred"]), str(world["message"])
    failures = []
    for (method, path), rule in sorted(RULES.items()):
        for role, expected in rule.items():
            if expected == ALLOWED:
                continue
            target = referred if role == "other_partner" else held
            got = call(agents[role], method, concrete(path, target, message))
            if got != expected:
                failures.append(f"{role} {method} {path}: {got}, expected {expected}")
    assert not failures, "\n".join(failures)
    # Nothing above changed the holder's conversation.
    detail = agents["holder"].get(f"/api/conversations/{held}").json()
    assert detail["claimed_by_me"] is True
    assert [m["body"] for m in detail["messages"] if m["direction"] == "in"] == [
        "ik wil met iemand praten"
    ]
    assert detail["notes"] == []
    assert detail["labels"] == []


def test_a_colleague_sees_that_it_exists_and_who_holds_it_and_nothing_more(
    client: TestClient,
) -> None:
    world = held_and_referred(client)
    agents: dict[str, Agent] = world["agents"]  # type: ignore[assignment]
    iris, roos = agents["colleague"], agents["holder"]
    for view in ("queue", "all"):
        rows = {i["id"]: i for i in iris.get(f"/api/conversations?view={view}").json()["items"]}
        row = rows[str(world["held"])]
        assert row["held_by_colleague"] is True
        assert row["claimed_by"] == "Roos"
        assert row["pseudonym"] is None
        assert row["language"] is None
        assert row["waiting_seconds"] is None
    own = roos.get("/api/conversations?view=queue").json()["items"]
    assert all(i["held_by_colleague"] is False for i in own)
    page = iris.get("/console")
    assert page.status_code == 200
    pseudonym = roos.get(f"/api/conversations/{world['held']}").json()["pseudonym"]
    assert pseudonym not in page.text
    assert f'/console/conversations/{world["held"]}"' not in page.text


def test_released_it_is_the_queue_again(client: TestClient) -> None:
    world = held_and_referred(client)
    agents: dict[str, Agent] = world["agents"]  # type: ignore[assignment]
    held = world["held"]
    assert agents["holder"].post(f"/api/conversations/{held}/release").status_code == 200
    assert agents["colleague"].get(f"/api/conversations/{held}").status_code == 200


def test_a_coordinator_hands_over_without_reading_and_it_is_audited(
    client: TestClient,
) -> None:
    world = held_and_referred(client)
    agents: dict[str, Agent] = world["agents"]  # type: ignore[assignment]
    coco, iris, roos = agents["coordinator"], agents["colleague"], agents["holder"]
    held = str(world["held"])
    listing = coco.get("/api/held").json()["items"]
    assert [(i["id"], i["claimed_by"]) for i in listing] == [(held, "Roos")]
    assert set(listing[0]) == {"id", "claimed_by", "claimed_at", "waiting_since", "priority",
                               "channel"}
    assert coco.get(f"/api/conversations/{held}").status_code == 403
    assert coco.post(f"/api/held/{held}/handover", {"to": "Nobody"}).status_code == 400
    moved = coco.post(f"/api/held/{held}/handover", {"to": "Iris"})
    assert moved.status_code == 200
    assert moved.json()["claimed_by"] == "Iris"
    assert iris.get(f"/api/conversations/{held}").json()["claimed_by_me"] is True
    assert roos.get(f"/api/conversations/{held}").status_code == 404
    back = coco.post(f"/api/held/{held}/handover", {"to": None})
    assert back.json()["claimed_by"] is None
    assert roos.get(f"/api/conversations/{held}").status_code == 200
    # Only peer-queue conversations: a partner's is not a coordinator's to move.
    assert coco.post(f"/api/held/{world['referred']}/handover", {}).status_code == 404
    services = services_of(client)
    with services.db.session() as session:
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.object_ref == held)
        ).all()
    assert actions.count("conversation.handover") == 2
