"""Role x route matrix over EVERY route of the app.

The table below is the access policy, written down. A route missing from it
(or a stale entry) fails `test_the_table_lists_exactly_the_app_routes`, so a
new route cannot ship without someone deciding who may call it. Entries:

* a set of roles: those roles get through (any status but 401/403); other
  signed-in roles get 403 (or 404 on a route with an id in the path);
  anonymous gets 401;
* PUBLIC: anyone, anonymous included, is let through;
* WEBHOOK / SIMULATOR / WEBCHAT: not session routes (signature / texter
  simulator / the web chat visitor's own cookie); covered by their own tests
  (tests/webchat/).
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from helpline.config import Settings
from helpline.main import create_app
from tests.conftest import FakeClock
from tests.console.helpers import sign_in_as

PUBLIC = "public"
WEBHOOK = "webhook"
SIMULATOR = "simulator"
WEBCHAT = "webchat"
V, P, C, A, N = "volunteer", "partner", "coordinator", "admin", "national"
ANY = frozenset({V, P, C, A, N})
RESPONDER = frozenset({V, P})
ADMIN = frozenset({A})
STATS = frozenset({C, A})

Access = str | frozenset[str]
TABLE: dict[tuple[str, str], Access] = {
    # core
    ("GET", "/openapi.json"): ADMIN,  # only with HELPLINE_API_DOCS (see the app fixture)
    ("GET", "/docs"): ADMIN,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/webhooks/whatsapp"): WEBHOOK,
    ("POST", "/webhooks/whatsapp"): WEBHOOK,
    ("POST", "/webhooks/signal"): WEBHOOK,
    ("MOUNT", "/static"): PUBLIC,
    # sign-in and own account
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): ANY,
    ("GET", "/api/auth/me"): ANY,
    ("POST", "/api/auth/password"): ANY,
    ("PUT", "/api/me/language"): ANY,
    # choosing the helpline to work in (issue 17)
    ("GET", "/api/auth/helplines"): ANY,
    ("POST", "/api/auth/helpline"): ANY,
    ("GET", "/console/helpline"): ANY,
    # admin
    ("GET", "/api/admin/users"): ADMIN,
    ("POST", "/api/admin/users"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/disable"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/enable"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/reset-totp"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/role"): ADMIN,
    ("GET", "/api/admin/saved-replies"): ADMIN,
    ("POST", "/api/admin/saved-replies"): ADMIN,
    ("PUT", "/api/admin/saved-replies/{reply_id}"): ADMIN,
    ("DELETE", "/api/admin/saved-replies/{reply_id}"): ADMIN,
    ("GET", "/api/admin/audit"): ADMIN,
    ("POST", "/api/admin/conversations/{conversation_id}/erase"): ADMIN,
    # the installation's helplines (admins of the default helpline)
    ("GET", "/api/admin/helplines"): ADMIN,
    ("POST", "/api/admin/helplines"): ADMIN,
    ("GET", "/console/helplines"): ADMIN,
    # conversations (volunteers and partner workers; per-conversation checks inside)
    ("GET", "/api/saved-replies"): RESPONDER,
    ("GET", "/api/colleagues"): RESPONDER,
    ("GET", "/api/conversations"): RESPONDER,
    ("GET", "/api/conversations/{conversation_id}"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/claim"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/release"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/transfer"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/messages"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/messages/{message_id}/retry"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/close"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/referrals"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/notes"): RESPONDER,
    ("PUT", "/api/conversations/{conversation_id}/labels"): RESPONDER,
    ("GET", "/api/conversations/{conversation_id}/media/{media_id}"): RESPONDER,
    ("POST", "/api/conversations/{conversation_id}/attachments"): RESPONDER,
    ("PUT", "/api/conversations/{conversation_id}/content-warning"): RESPONDER,
    # peer safety: alerts drafted by volunteers, approved by a coordinator or a
    # second volunteer (four eyes inside); notification settings are a volunteer's own
    ("POST", "/api/conversations/{conversation_id}/alerts"): frozenset({V}),
    ("GET", "/api/alerts"): frozenset({V, C}),
    ("POST", "/api/alerts/{alert_id}/approve"): frozenset({V, C}),
    ("POST", "/api/alerts/{alert_id}/discard"): frozenset({V, C}),
    ("GET", "/api/me/notifications"): frozenset({V}),
    ("PUT", "/api/me/notifications"): frozenset({V}),
    ("GET", "/api/held"): frozenset({C}),
    ("POST", "/api/held/{conversation_id}/handover"): frozenset({C}),
    ("GET", "/api/events"): ANY,
    # HTML console
    ("GET", "/console/login"): PUBLIC,
    # the end-of-shift page after signing out: the policy's public support text
    ("GET", "/console/shift-end"): PUBLIC,
    # `/console` is where sign-in lands: the queue, or a redirect to the role's home
    ("GET", "/console"): ANY,
    ("GET", "/console/conversations/{conversation_id}"): RESPONDER,
    ("GET", "/console/accounts"): ADMIN,
    ("GET", "/console/held"): frozenset({C}),
    ("GET", "/console/alerts"): frozenset({V, C}),
    ("GET", "/console/notifications"): frozenset({V}),
    # statistics (coordinators and admins; never message text)
    ("GET", "/api/stats"): STATS,
    ("GET", "/api/stats.csv"): STATS,
    ("GET", "/api/stats/transparency"): STATS,
    ("GET", "/console/stats"): STATS,
    ("GET", "/console/stats/transparency"): STATS,
    # national figures: every helpline together, suppressed (issue 17)
    ("GET", "/api/stats/national"): frozenset({N}),
    ("GET", "/console/national"): frozenset({N}),
    # simulator (a texter's phone; off unless HELPLINE_SIMULATOR)
    ("GET", "/simulator"): SIMULATOR,
    ("GET", "/simulator/api/scripts"): SIMULATOR,
    ("POST", "/simulator/api/messages"): SIMULATOR,
    ("GET", "/simulator/api/messages"): SIMULATOR,
    ("POST", "/simulator/api/media"): SIMULATOR,
    ("GET", "/simulator/api/events"): SIMULATOR,
    # web chat (a visitor's page; off unless HELPLINE_WEBCHAT)
    ("GET", "/chat"): WEBCHAT,
    ("GET", "/chat/{slug}"): WEBCHAT,
    ("GET", "/chat/api/challenge"): WEBCHAT,
    ("GET", "/chat/{slug}/api/challenge"): WEBCHAT,
    ("POST", "/chat/api/messages"): WEBCHAT,
    ("POST", "/chat/{slug}/api/messages"): WEBCHAT,
    ("GET", "/chat/api/messages"): WEBCHAT,
    ("GET", "/chat/{slug}/api/messages"): WEBCHAT,
    ("POST", "/chat/api/delete"): WEBCHAT,
    ("POST", "/chat/{slug}/api/delete"): WEBCHAT,
    ("GET", "/chat/api/events"): WEBCHAT,
    ("GET", "/chat/{slug}/api/events"): WEBCHAT,
}
# Endless server-sent event streams: only refusals are checked here (an
# accepted request would never finish); their own tests cover the rest.
STREAMS = {("GET", "/api/events")}
# Public, but answers 401 to an empty body: wrong credentials, not a missing session.
CREDENTIAL_CHECKS = {("POST", "/api/auth/login")}
# HTML pages: an anonymous visit is sent to the sign-in page (303), not
# answered 401, so a plain visit logs no error in the browser.
PAGES = {("GET", "/console"), ("GET", "/console/conversations/{conversation_id}"),
         ("GET", "/console/accounts"), ("GET", "/console/stats"), ("GET", "/console/held"),
         ("GET", "/console/stats/transparency"), ("GET", "/console/helpline"),
         ("GET", "/console/helplines"), ("GET", "/console/national"), ("GET", "/console/alerts"),
         ("GET", "/console/notifications")}
# Run last: they end the session the rest of the matrix uses.
LAST = {("POST", "/api/auth/logout")}


@pytest.fixture
def app(migrated: Settings, clock: FakeClock) -> FastAPI:
    """Every optional route switched on, so the matrix decides about them too."""
    settings = migrated.model_copy(update={"api_docs": True})
    return create_app(settings, clock=clock, run_worker=False, run_inbox=False)


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.add(("MOUNT", route.path))
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            found.add((method, route.path))
    return found


def test_the_table_lists_exactly_the_app_routes(app: FastAPI) -> None:
    routes = app_routes(app)
    missing = sorted(routes - set(TABLE))
    stale = sorted(set(TABLE) - routes)
    assert not missing, f"routes without an entry in the role matrix: {missing}"
    assert not stale, f"role matrix entries for routes that do not exist: {stale}"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


def session_routes() -> list[tuple[str, str, Access]]:
    rows = [(m, p, a) for (m, p), a in TABLE.items()
            if a not in (WEBHOOK, SIMULATOR, WEBCHAT) and m != "MOUNT"]
    return sorted(rows, key=lambda r: ((r[0], r[1]) in LAST, r[1], r[0]))


@pytest.mark.parametrize("role", ["anonymous", V, P, C, A, N])
def test_every_route_admits_exactly_the_roles_in_the_table(
    app: FastAPI, client: TestClient, role: str
) -> None:
    if role != "anonymous":
        sign_in_as(client, app, role)
    else:
        client.headers["Origin"] = "http://testserver"
    for method, path, access in session_routes():
        allowed = access == PUBLIC or (role != "anonymous" and role in access)
        if allowed and (method, path) in STREAMS:
            continue
        kwargs = {"json": {}} if method not in ("GET", "DELETE") else {}
        response = client.request(method, concrete(path), follow_redirects=False,
                                  **kwargs)  # type: ignore[arg-type]
        where = f"{role} {method} {path}: {response.status_code}"
        if allowed and (method, path) in CREDENTIAL_CHECKS:
            assert response.status_code == 401, where
            assert response.json() == {"error": "sign-in failed"}, where
        elif allowed:
            assert response.status_code not in (401, 403), where
        elif role == "anonymous" and (method, path) in PAGES:
            assert response.status_code == 303, where
            assert response.headers["location"] == "/console/login", where
        elif role == "anonymous":
            assert response.status_code == 401, where
        elif "{" in path:
            assert response.status_code in (403, 404), where
        else:
            assert response.status_code == 403, where
        assert "default-src 'none'" in response.headers["content-security-policy"], where


def test_static_files_need_no_session(client: TestClient) -> None:
    response = client.get("/static/console.css")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
