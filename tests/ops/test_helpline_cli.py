"""`helpline helpline add|list`, `helpline user add --helpline`, `helpline user
grant`, then the console: an account with roles in two helplines has no role
until it picks one, and then works only in that one (issue 17 parts 4, 5)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpline import cli
from helpline.config import Settings
from helpline.console import sessions
from helpline.main import create_app
from helpline.store.models import User
from tests.conftest import FakeClock
from tests.console.conv_helpers import Agent
from tests.two_helplines import ZEELAND_WA, post_wa, wa_to


def run(monkeypatch: pytest.MonkeyPatch, settings: Settings, *argv: str,
        stdin: str = "") -> tuple[int, str]:
    monkeypatch.setattr(cli, "load_settings", lambda **_: settings)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


def test_adding_a_region_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch, migrated: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    policy = tmp_path / "zeeland.toml"
    policy.write_text('stats_threshold = 7\n', encoding="utf-8")
    code, out = run(monkeypatch, migrated, "helpline", "add", "--slug", "zeeland", "--name",
                    "Zeeland", "--whatsapp-phone-number-id", ZEELAND_WA, "--policy", str(policy))
    assert code == 0, out
    assert "slug=zeeland" in out
    code, out = run(monkeypatch, migrated, "helpline", "list")
    assert "slug=zeeland name=Zeeland whatsapp=2000000002" in out
    assert "threshold=7" in out
    # A second helpline may not take a number the first one has.
    code, _ = run(monkeypatch, migrated, "helpline", "add", "--slug", "walcheren", "--name",
                  "W", "--whatsapp-phone-number-id", ZEELAND_WA)
    assert code == 2
    code, out = run(monkeypatch, migrated, "user", "add", "--username", "mira", "--role",
                    "volunteer", "--password-stdin", stdin="correct horse battery staple\n")
    assert code == 0, out
    code, out = run(monkeypatch, migrated, "user", "grant", "--username", "mira",
                    "--helpline", "zeeland", "--role", "coordinator")
    assert code == 0, out

    app = create_app(migrated, clock=clock, run_worker=False, run_inbox=False)
    with TestClient(app, base_url="http://testserver") as client:
        assert post_wa(client, wa_to(ZEELAND_WA, "hoi", message_id="wamid.CLI")) == 200
        services = app.state.services
        with services.db.session() as session:
            from sqlmodel import select

            user = session.exec(select(User).where(User.username == "mira")).one()
            token = sessions.start_session(services, session, user, services.now())
        mira = Agent(client=client, token=token, csrf=sessions.csrf_token_for(services, token),
                     cookie=sessions.cookie_name(migrated), user_id=user.id, alias=user.alias)
        # Two helplines: no role until she picks one.
        me = mira.get("/api/auth/me").json()
        assert me["role"] == ""
        assert mira.get("/api/conversations").status_code == 403
        assert mira.get("/console", follow_redirects=False).headers["location"] == \
            "/console/helpline"
        choices = mira.get("/api/auth/helplines").json()
        assert choices["choosing"] is True
        assert {(c["slug"], c["role"]) for c in choices["items"]} == {
            ("default", "volunteer"), ("zeeland", "coordinator")}
        assert mira.post("/api/auth/helpline", {"helpline": "nowhere"}).status_code == 404
        answer = mira.post("/api/auth/helpline", {"helpline": "zeeland"})
        assert answer.status_code == 200, answer.text
        chosen = answer.json()
        assert chosen["role"] == "coordinator"
        assert mira.get("/api/auth/me").json()["role"] == "coordinator"
        assert mira.get("/api/conversations").status_code == 403  # coordinators read none
        assert mira.get("/api/stats").json()["threshold"] == 7  # Zeeland's own policy
        page = mira.get("/console/held").text
        assert "Zeeland" in page  # the header names the active helpline
        # Back to Tilburg as a volunteer: Zeeland's conversation is not in her queue.
        assert mira.post("/api/auth/helpline", {"helpline": "default"}).status_code == 200
        assert mira.get("/api/conversations").json()["items"] == []
